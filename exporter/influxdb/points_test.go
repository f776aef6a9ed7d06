package influxdb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// The points as write.Points, what the sink built before it wrote line protocol itself
// (line.go): the reference its lines are held to, written by the client's own encoder.

// appendPoints appends e's points: a marker becomes a deployments point; a lifecycle
// event a lifecycle point, plus a deployments point when it is "deployed"; a window not
// observed (a gap) none: the schema of DESIGN §5 has no place for it, and the timelines
// read gaps from the store whatever answers their events.
func (s *Sink) appendPoints(points []*write.Point, e *event.Event) ([]*write.Point, error) {
	if e.IsGap() {
		return points, nil
	}
	// InfluxDB stores int64 nanoseconds (1677..2262); the query side reads from 1970 on.
	if e.Time.Before(time.Unix(0, 0)) || e.Time.Year() > 2261 {
		return points, fmt.Errorf("influxdb: event %s (%s of %q): time %s is outside 1970..2261",
			e.ID, e.Name, e.EnvironmentID, e.Time.Format(time.RFC3339Nano))
	}
	if e.IsMarker() {
		return append(points, s.markerPoint(e)), nil
	}
	p, err := s.lifecyclePoint(e)
	if err != nil {
		return points, err
	}
	points = append(points, p)
	if e.Name == event.Deployed {
		points = append(points, s.deployedPoint(e))
	}
	return points, nil
}

// lifecyclePoint is a lifecycle event's point. Its time is the event's, so a replay
// overwrites the identical point.
func (s *Sink) lifecyclePoint(e *event.Event) (*write.Point, error) {
	meta := "{}"
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("influxdb: event %s (%s of %q): metadata: %w", e.ID, e.Name, e.EnvironmentID, err)
		}
		meta = string(b)
	}
	p := write.NewPointWithMeasurement(s.cfg.Measurement)
	addTag(p, TagEnvironmentID, e.EnvironmentID)
	addTag(p, TagEvent, string(e.Name))
	typ := e.Type
	if s.typeTag != nil {
		typ = s.typeTag(typ)
	}
	addTag(p, TagType, typ)
	addTag(p, TagRepository, e.Repository)
	// Always written, even empty, so that every point has the same field types.
	p.AddField(FieldEnvName, e.EnvironmentName)
	p.AddField(FieldBranch, e.Branch)
	p.AddField(FieldCommitSHA, e.CommitSHA)
	p.AddField(FieldEventID, e.ID)
	for _, k := range event.DurationKeys {
		if f, ok := e.MetaFloat(k); ok {
			p.AddField(k, f)
		}
	}
	if r := e.Meta(event.MetaReason); r != nil {
		p.AddField(FieldReason, e.MetaString(event.MetaReason))
	}
	if e.Name == event.ProvisioningFailed {
		p.AddField(FieldFailureClass, e.FailureClass())
	}
	p.AddField(FieldMetadata, meta)
	p.SetTime(e.Time)
	return p, nil
}

// markerPoint is a deployment marker's point (001): environment is the marker's
// environment, host, application, activity, status and failed come from its metadata.
func (s *Sink) markerPoint(e *event.Event) *write.Point {
	p := write.NewPointWithMeasurement(s.cfg.DeploymentsMeasurement)
	m := e.Marker()
	addTag(p, TagHost, m.Host)
	addTag(p, TagEnvironment, e.EnvironmentID)
	addTag(p, TagApplication, m.Application)
	p.AddField(FieldActivity, m.Activity)
	p.AddField(FieldStatus, m.Status)
	p.AddField(FieldFailed, m.Failed)
	p.AddField(FieldEventID, e.ID)
	p.SetTime(e.Time)
	return p
}

// deployedPoint is the deployments point of a lifecycle "deployed" event, so that the
// 001 overlay also shows what Argo CD deployed.
func (s *Sink) deployedPoint(e *event.Event) *write.Point {
	activity := "deploy"
	if rev := e.MetaString(event.MetaRevision); rev != "" {
		activity += " " + rev
	}
	status := e.MetaString(event.MetaStatus)
	if status == "" {
		status = "success"
	}
	p := write.NewPointWithMeasurement(s.cfg.DeploymentsMeasurement)
	addTag(p, TagEnvironment, e.EnvironmentID)
	addTag(p, TagApplication, e.Repository)
	p.AddField(FieldActivity, activity)
	p.AddField(FieldStatus, status)
	p.AddField(FieldFailed, false)
	p.AddField(FieldEventID, e.ID)
	p.SetTime(e.Time)
	return p
}

// addTag adds a tag unless its value is empty (line protocol has no empty tag values).
func addTag(p *write.Point, k, v string) {
	if v != "" {
		p.AddTag(k, v)
	}
}

// recorder is an HTTP endpoint that answers every write 204 and keeps the last body:
// the bytes a client sent, to compare two ways of writing the same points.
type recorder struct {
	mu   sync.Mutex
	body []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.body = b
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.body)
}

// recordingSink is a Sink whose writes go to a recorder.
func recordingSink(t testing.TB) (*Sink, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	s, err := New(section(config.InfluxDBConfig{URL: srv.URL, Bucket: "envtrack/autogen"}), log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, rec
}

// sameRequest checks that Deliver sends for evs the very body the client's WritePoint
// sends for the reference points of the same events.
func sameRequest(t testing.TB, s *Sink, rec *recorder, evs []event.Event) {
	var pts []*write.Point
	for i := range evs {
		var err error
		if pts, err = s.appendPoints(pts, &evs[i]); err != nil {
			_, derr := s.Deliver(context.Background(), evs)
			require.Error(t, derr, "the reference refuses %v: %v", evs[i], err)
			return
		}
	}
	if len(pts) == 0 {
		return
	}
	require.NoError(t, s.write.WritePoint(context.Background(), pts...))
	want := rec.last()
	_, err := s.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.Equal(t, want, rec.last())
}

// TestLineMatchesTheClient: every kind of point, with line-protocol metacharacters in
// every string and a type tag bound by SetTypeTag, is written byte for byte as the
// client's encoder writes it.
func TestLineMatchesTheClient(t *testing.T) {
	s, rec := recordingSink(t)
	s.cfg.Measurement, s.cfg.DeploymentsMeasurement = "m\"x, y=z\\", "dep\tloy ments"
	s.SetTypeTag(func(typ string) string {
		if typ == "bounded" {
			return "other"
		}
		return typ
	})
	odd := lifecycle("abc", event.Created, t0, 1, map[string]any{"note": "a\"b\\c ${x} |> \n\t", "reason": `tr\`})
	odd.EnvironmentName = "name with \"quotes\", spaces=and \\backslash\\\f\r"
	odd.Branch = "feature/ü-ß ${x} |> trailing\\"
	odd.Type = "type with space,comma=eq\\"
	odd.Repository = `repo"quote`
	bounded := lifecycle("def", event.ProvisioningFailed, t0.Add(time.Second), 2, map[string]any{"reason": 42.5})
	bounded.Type, bounded.Repository, bounded.CommitSHA = "bounded", "", ""
	oddMarker := sinkMarker("env,=x", "h o\\st", "app=1,\n", "act\"ivity\\", "st atus", true, t0.Add(time.Hour), 9)
	deployed := lifecycle("abc", event.Deployed, t0.Add(2*time.Hour+1), 10, nil)
	deployed.Repository = ""
	evs := append(scenario(), odd, bounded, oddMarker, deployed)
	for i := range evs {
		sameRequest(t, s, rec, evs[i:i+1])
	}
	sameRequest(t, s, rec, evs)
}

// FuzzLine: whatever the strings, Deliver writes what the client's encoder writes.
func FuzzLine(f *testing.F) {
	f.Add("env-a", "ci-1", "app-1", "deploy-1", "success", false, "preview", "backend-api", "main", int64(0))
	f.Add("e,=\\ x", "h\t\n", "", "a\"\\b", "", true, "t y=p,e", `r"e\p`, "ü\f\r", int64(-1))
	s, rec := recordingSink(f)
	f.Fuzz(func(t *testing.T, env, host, app, activity, status string, failed bool, typ, repo, branch string, ns int64) {
		at := t0.Add(time.Duration(ns))
		m := sinkMarker(env, host, app, activity, status, failed, at, 1)
		l := lifecycle(env, event.Ready, at, 2, map[string]any{"provisioning_duration_seconds": float64(ns) / 1e9, "reason": activity})
		l.Type, l.Repository, l.Branch, l.EnvironmentName, l.CommitSHA = typ, repo, branch, host, status
		d := lifecycle(env, event.Deployed, at, 3, map[string]any{"revision": app, "status": status})
		d.Repository = repo
		sameRequest(t, s, rec, []event.Event{m, l, d})
	})
}
