package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
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
}

// Accepted is the answer to a recorded push.
type Accepted struct {
	ID     string   `json:"id,omitempty"` // the (first) stored event's id
	IDs    []string `json:"ids"`
	Status string   `json:"status"` // accepted, or unchanged (a repeat of what is known)
}

var (
	wordRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// maxFuture tolerates clock skew between CI runners and envtrack.
	maxFuture = 5 * time.Minute
)

// FailedStatuses are the marker statuses that set the deployments point's failed field.
var FailedStatuses = map[string]bool{event.MarkerStatuses[0]: true, event.MarkerStatuses[1]: true, event.MarkerStatuses[2]: true}

type inputError struct {
	status int
	msg    string
}

func (e *inputError) Error() string { return e.msg }

func unprocessable(format string, args ...any) error {
	return &inputError{http.StatusUnprocessableEntity, fmt.Sprintf(format, args...)}
}

// PostEvents is POST /api/events: one event (a JSON object), or a batch of up to
// maxBatch (a JSON array, or NDJSON) validated as a whole and committed in one
// transaction (batch.go).
func PostEvents(rec Recorder, maxBody int64, maxBatch int, now func() time.Time, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !jsonMediaType(ct) && !IsNDJSON(ct) {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send application/json", truncate(ct, 100)))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		if IsNDJSON(r.Header.Get("Content-Type")) {
			postBatch(w, rec, splitNDJSON(body), maxBatch, now(), logger)
			return
		}
		if isJSONArray(body) {
			elems, err := splitArray(body)
			if err != nil {
				writeError(w, http.StatusBadRequest, "malformed JSON array body")
				return
			}
			postBatch(w, rec, elems, maxBatch, now(), logger)
			return
		}
		key, err := IdempotencyKey(r)
		if err == nil {
			var ev *decodedLifecycle
			var marker *event.Event
			if ev, marker, err = DecodeEvent(body, now()); err == nil {
				err = record(w, rec, ev, marker, key)
			}
		}
		var ie *inputError
		var rej *tracker.RejectedError
		switch {
		case err == nil:
		case errors.As(err, &ie):
			writeError(w, ie.status, ie.msg)
		case errors.As(err, &rej):
			writeError(w, http.StatusUnprocessableEntity, rej.Reason)
		default:
			level.Error(logger).Log("msg", "recording a pushed event failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not record the event: "+err.Error())
		}
	})
}

// record stores one decoded push and answers 202 with the stored ids, or 200
// "unchanged" for a repeat (of what is known, of a marker, or of an Idempotency-Key).
// It returns the recorder's error unanswered.
func record(w http.ResponseWriter, rec Recorder, ev *decodedLifecycle, marker *event.Event, key string) error {
	var stored []event.Event
	if marker != nil {
		if key != "" {
			marker.Metadata[tracker.MetaIdempotencyKey] = key
		}
		e, err := rec.Mark(*marker)
		if err != nil {
			return err
		}
		if e.ID != "" {
			stored = []event.Event{e}
		}
	} else {
		ev.push.IdempotencyKey = key
		var err error
		if stored, err = rec.Push(ev.EnvironmentID, ev.push); err != nil {
			return err
		}
	}
	acc := Accepted{IDs: []string{}, Status: "accepted"}
	for _, e := range stored {
		acc.IDs = append(acc.IDs, e.ID)
	}
	if len(acc.IDs) == 0 {
		acc.Status = "unchanged"
		WriteJSON(w, http.StatusOK, acc)
		return nil
	}
	acc.ID = acc.IDs[0]
	WriteJSON(w, http.StatusAccepted, acc)
	return nil
}

type decodedLifecycle struct {
	EnvironmentID string
	push          tracker.Push
}

// DecodeEvent parses and validates a POST /api/events body: malformed JSON is an error
// for 400; everything well-formed but invalid (unknown fields, wrong types, missing or
// bad values) is a 422 inputError. Exactly one of the results is set.
func DecodeEvent(body []byte, now time.Time) (*decodedLifecycle, *event.Event, error) {
	if !json.Valid(body) {
		return nil, nil, &inputError{http.StatusBadRequest, "malformed JSON body"}
	}
	if !utf8.Valid(body) {
		return nil, nil, &inputError{http.StatusBadRequest, "the body is not valid UTF-8"}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, nil, unprocessable("the body must be a JSON object")
	}
	if _, ok := probe[event.MetaKind]; ok {
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
	d, err := l.validate(now)
	return d, nil, err
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
	if ts.After(now.Add(maxFuture)) {
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

func (l LifecycleEvent) validate(now time.Time) (*decodedLifecycle, error) {
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
	return &decodedLifecycle{EnvironmentID: l.EnvironmentID, push: tracker.Push{
		Event: name, Time: t, Metadata: meta, Name: l.EnvironmentName, Type: l.Type,
		Repository: l.Repository, Branch: l.Branch, CommitSHA: l.CommitSHA,
	}}, nil
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
		Status: m.Status, Failed: FailedStatuses[m.Status]}.Metadata()
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
