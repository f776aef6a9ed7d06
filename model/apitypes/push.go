package apitypes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// LifecycleEvent is a pushed lifecycle event (DESIGN §3). The descriptive fields after
// Metadata are optional extensions: they name an environment that Argo CD does not know.
type LifecycleEvent struct {
	EnvironmentID   string         `json:"environment_id"`
	Event           string         `json:"event"`
	Timestamp       *time.Time     `json:"timestamp,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
	EnvironmentName string         `json:"environment_name,omitempty"`
	Type            string         `json:"type,omitempty"`
	Repository      string         `json:"repository,omitempty"`
	Branch          string         `json:"branch,omitempty"`
	CommitSHA       string         `json:"commit_sha,omitempty"`
}

// DeploymentMarker is a pushed activity marker (001): a CI pipeline saying it deployed.
type DeploymentMarker struct {
	Kind        string     `json:"kind"`
	Environment string     `json:"environment"`
	Host        string     `json:"host,omitempty"`
	Application string     `json:"application"`
	Activity    string     `json:"activity"`
	Status      string     `json:"status"`
	Timestamp   *time.Time `json:"timestamp,omitempty"`
	// Backfill marks a past deployment (envtrack import): stored and delivered as
	// history, it moves no live counter.
	Backfill bool `json:"backfill,omitempty"`
}

// Accepted is the answer to a recorded push.
type Accepted struct {
	ID     string   `json:"id,omitempty"` // the (first) stored event's id
	IDs    []string `json:"ids"`
	Status string   `json:"status"` // accepted, or unchanged (a repeat of what is known)
}

// BatchAccepted is the answer to a batch push (a JSON array or NDJSON body).
type BatchAccepted struct {
	// Status is "accepted" when at least one event was stored, else "unchanged".
	Status string `json:"status"`
	// IDs are the ids of every stored event, in the order of the batch.
	IDs []string `json:"ids"`
	// Accepted and Unchanged count the batch's events that stored something and those
	// that repeated what is known.
	Accepted  int `json:"accepted"`
	Unchanged int `json:"unchanged"`
	// Events has one entry per event of the batch, in order.
	Events []ItemResult `json:"events"`
}

// ItemResult is what became of one event of a batch.
type ItemResult struct {
	Status string   `json:"status"` // accepted or unchanged
	IDs    []string `json:"ids"`    // the stored events (a push may store more than one)
}

// BatchError is the answer to a batch refused because of one of its events: nothing was
// stored. Index is the event's 0-based position in the batch; Line its line in an
// NDJSON body.
type BatchError struct {
	Error string `json:"error"`
	Index int    `json:"index"`
	Line  int    `json:"line,omitempty"`
}

// Push is a validated lifecycle push: the environment it names and what the tracker
// applies to it.
type Push struct {
	EnvironmentID string
	Event         event.Name
	Time          time.Time
	Metadata      map[string]any
	// Optional descriptive fields; empty means "keep what is known".
	Name, Type, Repository, Branch, CommitSHA string
}

// InputError is a pushed event refused for what it says. Malformed: not JSON, or not
// UTF-8 (the API answers 400); else well-formed but invalid: unknown fields, wrong
// types, missing or bad values (422).
type InputError struct {
	Malformed bool
	Msg       string
}

func (e *InputError) Error() string { return e.Msg }

func unprocessable(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

var (
	wordRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// MaxFuture tolerates clock skew between CI runners (or Argo CD) and envtrack: a
	// later time is refused (pushes) or is no evidence (Argo CD's times).
	MaxFuture = 5 * time.Minute
)

// failedStatuses are the marker statuses that set the deployments point's failed field.
var failedStatuses = map[string]bool{event.MarkerStatuses[0]: true, event.MarkerStatuses[1]: true, event.MarkerStatuses[2]: true}

// DecodeEvent parses and validates one pushed event (a POST /api/events body, or one
// event of a batch): malformed JSON is an *InputError with Malformed set; everything
// well-formed but invalid (unknown fields, wrong types, missing or bad values) is an
// *InputError without. Exactly one of the results is set: a lifecycle push or a
// deployment marker, as the journal will hold it.
func DecodeEvent(body []byte, now time.Time) (*Push, *event.Event, error) {
	if m, ok := scanMarker(body); ok {
		e, err := m.validate(now)
		return nil, e, err
	}
	if !json.Valid(body) {
		return nil, nil, &InputError{Malformed: true, Msg: "malformed JSON body"}
	}
	if !utf8.Valid(body) {
		return nil, nil, &InputError{Malformed: true, Msg: "the body is not valid UTF-8"}
	}
	marker, object := topLevelKey(body, event.MetaKind)
	if !object {
		return nil, nil, unprocessable("the body must be a JSON object")
	}
	if marker {
		var m DeploymentMarker
		if err := strictDecode(body, &m); err != nil {
			return nil, nil, err
		}
		e, err := m.validate(now)
		return nil, e, err
	}
	var l LifecycleEvent
	if err := strictDecode(body, &l); err != nil {
		return nil, nil, err
	}
	p, err := l.validate(now)
	return p, nil, err
}

func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return unprocessable("field %q: want %s, got %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return unprocessable("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case strings.Contains(err.Error(), "parsing time"):
			return unprocessable("timestamp: want RFC 3339 like 2025-01-07T10:03:45Z")
		}
		return unprocessable("%s", err.Error())
	}
	if dec.More() {
		return unprocessable("one JSON object per request")
	}
	return nil
}

func checkTime(ts *time.Time, now time.Time) (time.Time, error) {
	if ts == nil {
		return now.UTC(), nil
	}
	if ts.After(now.Add(MaxFuture)) {
		return time.Time{}, unprocessable("timestamp %s is in the future", ts.UTC().Format(time.RFC3339))
	}
	if ts.Year() < 2000 {
		return time.Time{}, unprocessable("timestamp %s is too old", ts.UTC().Format(time.RFC3339))
	}
	return ts.UTC(), nil
}

func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return unprocessable("missing field %q", field)
	case len(v) > max:
		return unprocessable("field %q: longer than %d bytes", field, max)
	}
	return checkString(field, v)
}

func (l LifecycleEvent) validate(now time.Time) (*Push, error) {
	if l.EnvironmentID == "" {
		return nil, unprocessable(`missing field "environment_id"`)
	}
	if !event.ValidEnvironmentID(l.EnvironmentID) {
		return nil, unprocessable("invalid environment_id %q: must match %s", truncate(l.EnvironmentID, 140), event.EnvironmentIDPattern)
	}
	if l.Event == "" {
		return nil, unprocessable(`missing field "event"`)
	}
	name := event.Name(l.Event)
	if !name.Valid() {
		return nil, unprocessable("unknown event %q: want one of %s", truncate(l.Event, 40), eventNames())
	}
	t, err := checkTime(l.Timestamp, now)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ k, v string }{{"environment_name", l.EnvironmentName}, {"repository", l.Repository},
		{"branch", l.Branch}, {"commit_sha", l.CommitSHA}} {
		if err := checkText(f.k, f.v, 256, false); err != nil {
			return nil, err
		}
	}
	if l.Type != "" && !event.ValidEnvironmentID(l.Type) {
		return nil, unprocessable("invalid type %q", truncate(l.Type, 140))
	}
	// repository is an InfluxDB tag: a short name, bounded like an id.
	if l.Repository != "" && !event.ValidEnvironmentID(l.Repository) {
		return nil, unprocessable("invalid repository %q: want the repository's short name, like backend-api", truncate(l.Repository, 140))
	}
	meta, err := normalizeMeta(l.Metadata)
	if err != nil {
		return nil, err
	}
	if err := checkMeta(meta); err != nil {
		return nil, err
	}
	if name == event.ProvisioningFailed {
		if r, ok := meta[event.MetaReason]; ok {
			if s, ok := r.(string); !ok || !wordRe.MatchString(s) {
				return nil, unprocessable(`metadata.reason: want a lower-case word such as "timeout"`)
			}
		}
	}
	return &Push{
		EnvironmentID: l.EnvironmentID, Event: name, Time: t, Metadata: meta, Name: l.EnvironmentName, Type: l.Type,
		Repository: l.Repository, Branch: l.Branch, CommitSHA: l.CommitSHA,
	}, nil
}

// normalizeMeta turns json.Number into float64 and bounds the metadata's size.
func normalizeMeta(m map[string]any) (map[string]any, error) {
	if len(m) > 64 {
		return nil, unprocessable("metadata: at most 64 keys")
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == "" || len(k) > 64 {
			return nil, unprocessable("metadata: keys are 1 to 64 bytes")
		}
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, unprocessable("metadata.%s: %s", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("not a number: %s", x)
		}
		return f, nil
	case map[string]any:
		for k, vv := range x {
			nv, err := normalizeValue(vv)
			if err != nil {
				return nil, err
			}
			x[k] = nv
		}
	case []any:
		for i, vv := range x {
			nv, err := normalizeValue(vv)
			if err != nil {
				return nil, err
			}
			x[i] = nv
		}
	}
	return v, nil
}

func (m DeploymentMarker) validate(now time.Time) (*event.Event, error) {
	if m.Kind != string(event.KindDeployment) {
		return nil, unprocessable("unknown kind %q: want %q", truncate(m.Kind, 40), event.KindDeployment)
	}
	if m.Environment == "" {
		return nil, unprocessable(`missing field "environment"`)
	}
	if !event.ValidEnvironmentID(m.Environment) {
		return nil, unprocessable("invalid environment %q: must match %s", truncate(m.Environment, 140), event.EnvironmentIDPattern)
	}
	if m.Host != "" && !event.ValidEnvironmentID(m.Host) {
		return nil, unprocessable("invalid host %q", truncate(m.Host, 140))
	}
	if err := checkText("application", m.Application, 128, true); err != nil {
		return nil, err
	}
	if err := checkText("activity", m.Activity, 1024, true); err != nil {
		return nil, err
	}
	if m.Status == "" {
		return nil, unprocessable(`missing field "status"`)
	}
	if !wordRe.MatchString(m.Status) {
		return nil, unprocessable(`invalid status %q: want a lower-case word such as "success" or "failed"`, truncate(m.Status, 40))
	}
	t, err := checkTime(m.Timestamp, now)
	if err != nil {
		return nil, err
	}
	meta := event.Marker{Host: m.Host, Application: m.Application, Activity: m.Activity,
		Status: m.Status, Failed: failedStatuses[m.Status]}.Metadata()
	if m.Backfill {
		meta[event.MetaBackfill] = true
	}
	return &event.Event{EnvironmentID: m.Environment, EnvironmentName: m.Environment, Name: event.Deployed,
		Time: t.Truncate(time.Second), Metadata: meta, Source: "api"}, nil
}

func eventNames() string {
	var s []string
	for _, n := range event.Names {
		s = append(s, string(n))
	}
	return strings.Join(s, ", ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
