package influxdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

type fixture struct {
	db      *testinfra.InfluxDB
	sink    *Sink
	backend *Backend
}

// newFixture starts InfluxDB, a sink writing to it and a backend reading from it, both
// on the given measurement (default when "").
func newFixture(t testing.TB, measurement string) *fixture {
	t.Helper()
	db := testinfra.StartInfluxDB(t)
	return newFixtureOn(t, db, db.Bucket, measurement)
}

func newFixtureOn(t testing.TB, db *testinfra.InfluxDB, bucket, measurement string) *fixture {
	t.Helper()
	s, err := New(section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret(db.Token), Bucket: bucket, Measurement: measurement}), log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	b, err := NewBackend(section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret(db.Token), Bucket: bucket, Measurement: measurement}), log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return &fixture{db: db, sink: s, backend: b}
}

func (f *fixture) deliver(t testing.TB, evs []event.Event) {
	t.Helper()
	retry, err := f.sink.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.False(t, retry)
}

var seq uint64

func ev(env string, name event.Name, at time.Time, typ string, meta map[string]any) event.Event {
	seq++
	return event.Event{
		Seq: seq, ID: event.MakeID("j1", seq), EnvironmentID: env, EnvironmentName: env + "-name",
		Name: name, Time: at, Type: typ, Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d",
		Metadata: meta, RecordedAt: at.Add(time.Second), Source: "argocd",
	}
}

func marker(env string, at time.Time) event.Event {
	seq++
	return event.Event{Seq: seq, ID: event.MakeID("j1", seq), EnvironmentID: env, Name: event.Deployed, Time: at,
		Metadata: map[string]any{"kind": event.KindDeployment, "application": "app", "activity": "x",
			"status": "success", "failed": false}}
}

// stored is what a backend can give back of e: no RecordedAt or Source (not in the
// schema), times in UTC, metadata as JSON decodes it (numbers are float64).
func stored(t testing.TB, evs ...event.Event) []event.Event {
	t.Helper()
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		e.RecordedAt, e.Source = time.Time{}, ""
		e.Time = e.Time.UTC()
		if len(e.Metadata) > 0 {
			b, err := json.Marshal(e.Metadata)
			require.NoError(t, err)
			e.Metadata = nil
			require.NoError(t, json.Unmarshal(b, &e.Metadata))
		} else {
			e.Metadata = nil
		}
		out[i] = e
	}
	return out
}

func TestEnvironmentEventsRoundTrip(t *testing.T) {
	f := newFixture(t, "")
	local := time.FixedZone("CET", 3600)
	life := []event.Event{
		ev("abc123", event.Created, t0.In(local), "preview", nil),
		// Same time as created: two rows, not one pivoted row.
		ev("abc123", event.ProvisioningStarted, t0, "preview", map[string]any{"queue_duration_seconds": 0}),
		ev("abc123", event.Ready, t0.Add(3*time.Minute+45*time.Second+123456789), "preview", map[string]any{
			"provisioning_duration_seconds": 225.123456789, "detected_at": "2025-01-07T10:04:00Z",
			"checks": map[string]any{"sync": true, "url": "https://x.example/?a=1&b=\"2\""}, "late": false}),
		ev("abc123", event.Deployed, t0.Add(time.Hour), "", map[string]any{"revision": "9f8e7d6c", "status": "success"}),
		ev("abc123", event.Degraded, t0.Add(2*time.Hour), "preview", map[string]any{"reason": "url_unreachable", "n": 3}),
		ev("abc123", event.TerminationStarted, t0.Add(3*time.Hour), "preview", nil),
		ev("abc123", event.Terminated, t0.Add(3*time.Hour+time.Minute), "preview",
			map[string]any{"termination_duration_seconds": 60, "total_lifetime_hours": 3.0166666666666666}),
	}
	life[3].Repository = "" // no repository tag on this one
	other := []event.Event{
		ev("abc1234", event.Created, t0, "preview", nil), // a prefix of another id is another id
		ev("ABC123", event.Created, t0, "preview", nil),
		marker("abc123", t0.Add(30*time.Minute)), // a marker is no lifecycle event
	}
	// Delivered out of order, in two batches.
	f.deliver(t, append([]event.Event{life[4], life[0], other[0]}, life[5:]...))
	f.deliver(t, append(append([]event.Event{}, life[1:4]...), other[1:]...))

	got, err := f.backend.EnvironmentEvents(context.Background(), "abc123")
	require.NoError(t, err)
	require.Equal(t, stored(t, life...), got)
	for _, e := range got {
		require.Equal(t, time.UTC, e.Time.Location())
	}

	none, err := f.backend.EnvironmentEvents(context.Background(), "nobody")
	require.NoError(t, err)
	require.Nil(t, none)
}

func TestEnvironmentEventsRejectsInvalidIDs(t *testing.T) {
	b, err := NewBackend(section(config.InfluxDBConfig{URL: "http://127.0.0.1:1", Bucket: "db/rp"}), nil)
	require.NoError(t, err)
	for _, id := range []string{`a"b`, `x\y`, `${x}`, `a|>b`, "", `abc") |> drop(columns: ["x"]) //`, "a\nb"} {
		_, err := b.EnvironmentEvents(context.Background(), id)
		require.ErrorIs(t, err, ErrInvalidID, "%q", id)
	}
}

func TestRange(t *testing.T) {
	f := newFixture(t, "")
	a0 := ev("a", event.ProvisioningStarted, t0, "preview", nil)
	a1 := ev("a", event.Ready, t0.Add(time.Minute), "preview", map[string]any{"provisioning_duration_seconds": 60})
	b0 := ev("b", event.ProvisioningStarted, t0.Add(30*time.Second), "staging", nil)
	b1 := ev("b", event.ProvisioningFailed, t0.Add(2*time.Minute), "staging", map[string]any{"reason": "timeout"})
	c0 := ev("c", event.ProvisioningStarted, t0.Add(45*time.Second), "", nil) // no type
	c1 := ev("c", event.Ready, t0.Add(3*time.Minute), "", nil)
	m := marker("a", t0.Add(time.Minute))
	f.deliver(t, []event.Event{c1, b1, a1, m, c0, b0, a0})
	ctx := context.Background()

	all, err := f.backend.Range(ctx, t0, t0.Add(time.Hour), "")
	require.NoError(t, err)
	require.Equal(t, stored(t, a0, b0, c0, a1, b1, c1), all)

	// [from, to): from is in, to is out.
	half, err := f.backend.Range(ctx, t0.Add(30*time.Second), t0.Add(2*time.Minute), "")
	require.NoError(t, err)
	require.Equal(t, stored(t, b0, c0, a1), half)

	ends, err := f.backend.Range(ctx, t0, t0.Add(time.Hour), "", event.Ready, event.ProvisioningFailed)
	require.NoError(t, err)
	require.Equal(t, stored(t, a1, b1, c1), ends)

	staging, err := f.backend.Range(ctx, t0, t0.Add(time.Hour), "staging", event.Ready, event.ProvisioningFailed)
	require.NoError(t, err)
	require.Equal(t, stored(t, b1), staging)

	unknown, err := f.backend.Range(ctx, t0, t0.Add(time.Hour), `st"aging ${x}`)
	require.NoError(t, err)
	require.Nil(t, unknown)

	empty, err := f.backend.Range(ctx, t0.Add(time.Hour), t0, "")
	require.NoError(t, err)
	require.Nil(t, empty)

	// Zero and far-future bounds are clamped to what InfluxDB stores.
	wide, err := f.backend.Range(ctx, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "")
	require.NoError(t, err)
	require.Len(t, wide, 6)
}

// Names with Flux metacharacters are safe in a measurement and a bucket: String quotes
// them, and the sink's points come back.
func TestMetacharactersInNames(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	for _, tc := range []struct{ bucket, measurement string }{
		{db.Bucket, `m"x`},
		{db.Bucket, `m\x ${x} |> yield()`},
		{`we"ird ${db} |> yield()/autogen`, `m"x`}, // 1.8 refuses \ and / in names
	} {
		t.Run(tc.bucket+" "+tc.measurement, func(t *testing.T) {
			if tc.bucket != db.Bucket {
				database := tc.bucket[:len(tc.bucket)-len("/autogen")]
				db.Exec(t, "CREATE DATABASE "+testinfra.QuoteIdent(database))
			}
			f := newFixtureOn(t, db, tc.bucket, tc.measurement)
			e := ev("abc", event.Created, t0, "preview", map[string]any{"note": `a"b\c ${x} |> drop()`})
			e.EnvironmentName = `"${x}" \ |> yield()`
			f.deliver(t, []event.Event{e})
			got, err := f.backend.EnvironmentEvents(context.Background(), "abc")
			require.NoError(t, err)
			require.Equal(t, stored(t, e), got)
		})
	}
}

// Every kind of string survives the real Flux parser: a literal built by String
// evaluates to the string it was built from.
func TestStringThroughRealFlux(t *testing.T) {
	f := newFixture(t, "")
	f.deliver(t, []event.Event{ev("abc", event.Created, t0, "", nil)})
	for _, s := range []string{`a"b`, `x\y`, `trailing\`, `${x}`, `$${x}`, `a|>b`, "nl\nc\rt\t",
		"nul\x01\x7f", "ünï 日本", `") |> drop() //`} {
		q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == %s and r._field == "event_id")
  |> map(fn: (r) => ({_time: r._time, _value: %s}))`, String(f.db.Bucket), String(config.DefaultInfluxDBConfig.Measurement), String(s))
		res, err := f.backend.query.Query(context.Background(), q)
		require.NoError(t, err)
		require.True(t, res.Next(), "%q: %v", s, res.Err())
		// InfluxDB's annotated CSV answer drops every "\r" (Go's csv.Writer does with
		// UseCRLF); the literal itself was right, as the other strings show.
		require.Equal(t, strings.ReplaceAll(s, "\r", ""), res.Record().Value())
		require.False(t, res.Next())
		require.NoError(t, res.Err())
	}
}

func TestUnavailable(t *testing.T) {
	f := newFixture(t, "")
	e := ev("abc", event.Created, t0, "", nil)
	f.deliver(t, []event.Event{e})

	f.db.Stop()
	_, err := f.backend.EnvironmentEvents(context.Background(), "abc")
	require.ErrorIs(t, err, query.ErrUnavailable)
	require.Contains(t, err.Error(), "connection refused")
	_, err = f.backend.Range(context.Background(), t0, t0.Add(time.Hour), "")
	require.ErrorIs(t, err, query.ErrUnavailable)

	f.db.Start()
	got, err := f.backend.EnvironmentEvents(context.Background(), "abc")
	require.NoError(t, err)
	require.Equal(t, stored(t, e), got)
}

// A query InfluxDB refuses for good (a bad token) is an error, but not "unavailable".
// (InfluxDB 1.8 answers 500 to every Flux error, an unknown database included: those
// count as unavailable.)
func TestQueryErrorIsNotUnavailable(t *testing.T) {
	db := testinfra.StartInfluxDB(t, testinfra.WithAuth("envtrack", "right-password"))
	b, err := NewBackend(section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret("envtrack:wrong-password"), Bucket: db.Bucket}), log.NewNopLogger())
	require.NoError(t, err)
	defer b.Close()
	_, err = b.EnvironmentEvents(context.Background(), "abc")
	require.Error(t, err)
	require.False(t, errors.Is(err, query.ErrUnavailable), "%v", err)
	require.NotContains(t, err.Error(), "wrong-password")
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, 401, qe.StatusCode)

	b, err = NewBackend(section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret(db.Token), Bucket: "nosuchdb/autogen"}), log.NewNopLogger())
	require.NoError(t, err)
	defer b.Close()
	_, err = b.EnvironmentEvents(context.Background(), "abc")
	require.ErrorIs(t, err, query.ErrUnavailable)
	require.ErrorAs(t, err, &qe)
	require.Equal(t, 500, qe.StatusCode)
	require.Contains(t, err.Error(), "no database")
}
