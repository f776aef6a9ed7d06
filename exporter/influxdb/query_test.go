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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

type fixture struct {
	db       *testinfra.InfluxDB
	sink     *Sink
	flux     *Flux
	influxql *InfluxQL
}

// readers are the fixture's read paths, by query language.
func (f *fixture) readers() map[string]Reader {
	return map[string]Reader{config.QueryLanguageInfluxQL: f.influxql, config.QueryLanguageFlux: f.flux}
}

// newFixture starts InfluxDB (Flux on, for the Flux reader), a sink writing to it and
// both readers reading from it, on the given measurement (default when "").
func newFixture(t testing.TB, measurement string) *fixture {
	t.Helper()
	db := testinfra.StartInfluxDB(t, testinfra.WithFlux())
	return newFixtureOn(t, db, db.Bucket, measurement)
}

func newFixtureOn(t testing.TB, db *testinfra.InfluxDB, bucket, measurement string) *fixture {
	t.Helper()
	cfg := section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret(db.Token), Bucket: bucket, Measurement: measurement})
	s, err := New(cfg, log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	fx, err := NewFlux(cfg, log.NewNopLogger(), nil)
	require.NoError(t, err)
	t.Cleanup(fx.Close)
	iq, err := NewInfluxQL(cfg, log.NewNopLogger(), nil)
	require.NoError(t, err)
	t.Cleanup(iq.Close)
	return &fixture{db: db, sink: s, flux: fx, influxql: iq}
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

	for lang, r := range f.readers() {
		got, err := r.EnvironmentEvents(context.Background(), "abc123")
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, life...), got, lang)
		for _, e := range got {
			require.Equal(t, time.UTC, e.Time.Location(), lang)
		}

		none, err := r.EnvironmentEvents(context.Background(), "nobody")
		require.NoError(t, err, lang)
		require.Nil(t, none, lang)
	}
}

// The ids the API refuses are refused here too, before any query is built, by both
// readers: the injections of either language never reach InfluxDB (it is not even up).
func TestReadersRejectInvalidIDs(t *testing.T) {
	cfg := section(config.InfluxDBConfig{URL: "http://127.0.0.1:1", Bucket: "db/rp"})
	fx, err := NewFlux(cfg, nil, nil)
	require.NoError(t, err)
	iq, err := NewInfluxQL(cfg, nil, nil)
	require.NoError(t, err)
	for _, r := range []Reader{fx, iq} {
		for _, id := range []string{`a"b`, `x\y`, `${x}`, `a|>b`, "", `abc") |> drop(columns: ["x"]) //`, "a\nb",
			`x' OR '1'='1`, `x'; DROP DATABASE "envtrack"; --`, `a/b`, "nul\x00"} {
			_, err := r.EnvironmentEvents(context.Background(), id)
			require.ErrorIs(t, err, ErrInvalidID, "%q", id)
			_, err = r.EnvironmentMarkers(context.Background(), id)
			require.ErrorIs(t, err, ErrInvalidID, "%q", id)
		}
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

	for lang, r := range f.readers() {
		all, err := r.Range(ctx, t0, t0.Add(time.Hour), "")
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, a0, b0, c0, a1, b1, c1), all, lang)

		// [from, to): from is in, to is out.
		half, err := r.Range(ctx, t0.Add(30*time.Second), t0.Add(2*time.Minute), "")
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, b0, c0, a1), half, lang)

		ends, err := r.Range(ctx, t0, t0.Add(time.Hour), "", event.Ready, event.ProvisioningFailed)
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, a1, b1, c1), ends, lang)

		staging, err := r.Range(ctx, t0, t0.Add(time.Hour), "staging", event.Ready, event.ProvisioningFailed)
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, b1), staging, lang)

		for _, typ := range []string{`st"aging ${x}`, `staging' OR 'a'='a`, `x\' OR "type" =~ /.*/ OR 'a'='`} {
			unknown, err := r.Range(ctx, t0, t0.Add(time.Hour), typ)
			require.NoError(t, err, lang)
			require.Nil(t, unknown, "%s: %q", lang, typ)
		}

		empty, err := r.Range(ctx, t0.Add(time.Hour), t0, "")
		require.NoError(t, err, lang)
		require.Nil(t, empty, lang)

		// Zero and far-future bounds are clamped to what InfluxDB stores.
		wide, err := r.Range(ctx, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "")
		require.NoError(t, err, lang)
		require.Len(t, wide, 6, lang)
	}
}

// Names with Flux and InfluxQL metacharacters are safe in a measurement and a bucket
// (database): FluxString and QuoteInfluxQL quote them, and the sink's points come back.
func TestMetacharactersInNames(t *testing.T) {
	db := testinfra.StartInfluxDB(t, testinfra.WithFlux())
	for _, tc := range []struct{ bucket, measurement string }{
		{db.Bucket, `m"x`},
		{db.Bucket, `m\x ${x} |> yield()`},
		{db.Bucket, `m'x"; DROP DATABASE "envtrack"`},
		{`we"ird ${db} |> yield()/autogen`, `m"x`}, // 1.8 refuses \ and / in names
		{`it's; SHOW DATABASES/autogen`, `m\'x`},
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
			for lang, r := range f.readers() {
				got, err := r.EnvironmentEvents(context.Background(), "abc")
				require.NoError(t, err, lang)
				require.Equal(t, stored(t, e), got, lang)
			}
		})
	}
}

// Every kind of string survives the real Flux parser: a literal built by FluxString
// evaluates to the string it was built from.
func TestStringThroughRealFlux(t *testing.T) {
	f := newFixture(t, "")
	f.deliver(t, []event.Event{ev("abc", event.Created, t0, "", nil)})
	for _, s := range []string{`a"b`, `x\y`, `trailing\`, `${x}`, `$${x}`, `a|>b`, "nl\nc\rt\t",
		"nul\x01\x7f", "ünï 日本", `") |> drop() //`} {
		q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == %s and r._field == "event_id")
  |> map(fn: (r) => ({_time: r._time, _value: %s}))`, FluxString(f.db.Bucket), FluxString(config.DefaultInfluxDBConfig.Measurement), FluxString(s))
		res, err := f.flux.query.Query(context.Background(), q)
		require.NoError(t, err)
		require.True(t, res.Next(), "%q: %v", s, res.Err())
		// InfluxDB's annotated CSV answer drops every "\r" (Go's csv.Writer does with
		// UseCRLF); the literal itself was right, as the other strings show.
		require.Equal(t, strings.ReplaceAll(s, "\r", ""), res.Record().Value())
		require.False(t, res.Next())
		require.NoError(t, res.Err())
	}
}

// Reads while InfluxDB is down are ErrUnavailable (503), counted as unreachable, and
// work again once it is back.
func TestUnavailable(t *testing.T) {
	f := newFixture(t, "")
	e := ev("abc", event.Created, t0, "", nil)
	f.deliver(t, []event.Event{e})

	f.db.Stop()
	for lang, r := range f.readers() {
		_, err := r.EnvironmentEvents(context.Background(), "abc")
		require.ErrorIs(t, err, query.ErrUnavailable, lang)
		require.False(t, errors.Is(err, query.ErrRefused), lang)
		require.Contains(t, err.Error(), "connection refused", lang)
		_, err = r.Range(context.Background(), t0, t0.Add(time.Hour), "")
		require.ErrorIs(t, err, query.ErrUnavailable, lang)
		_, err = r.Markers(context.Background(), t0, t0.Add(time.Hour))
		require.ErrorIs(t, err, query.ErrUnavailable, lang)
		require.ErrorIs(t, r.Probe(context.Background()), query.ErrUnavailable, lang)
	}

	f.db.Start()
	for lang, r := range f.readers() {
		got, err := r.EnvironmentEvents(context.Background(), "abc")
		require.NoError(t, err, lang)
		require.Equal(t, stored(t, e), got, lang)
		require.NoError(t, r.Probe(context.Background()), lang)
	}
}

// A read InfluxDB refuses (a bad token, an unknown database, Flux turned off) is
// ErrRefused (502), never ErrUnavailable, and says what InfluxDB said and how to fix
// it, without the secret; it counts as refused.
func TestRefusals(t *testing.T) {
	authDB := testinfra.StartInfluxDB(t, testinfra.WithAuth("envtrack", "right-password"))
	shipped := testinfra.StartInfluxDB(t) // Flux off, as 1.8 ships
	withFlux := testinfra.StartInfluxDB(t, testinfra.WithFlux())
	for _, tc := range []struct {
		name   string
		db     *testinfra.InfluxDB
		cfg    config.InfluxDBConfig
		status int
		want   []string
	}{
		{"flux off", shipped, config.InfluxDBConfig{QueryLanguage: "flux"}, 403,
			[]string{"InfluxDB answers 403 to Flux (Flux query service disabled.", "set influxdb.query_language: influxql, or enable flux-enabled in InfluxDB"}},
		{"influxql bad password", authDB, config.InfluxDBConfig{QueryLanguage: "influxql", Token: "envtrack:wrong-password"}, 401,
			[]string{"InfluxDB answers 401 to InfluxQL (authorization failed)", "check influxdb.token"}},
		{"influxql no database", shipped, config.InfluxDBConfig{QueryLanguage: "influxql", Bucket: "nosuchdb/autogen"}, 200,
			[]string{"InfluxDB refuses the InfluxQL query (database not found: nosuchdb)", "influx v1 dbrp create --db nosuchdb --rp autogen"}},
		{"influxql no retention policy", shipped, config.InfluxDBConfig{QueryLanguage: "influxql", Database: "envtrack", RetentionPolicy: "nosuchrp"}, 200,
			[]string{"retention policy not found: nosuchrp", "set influxdb.retention_policy"}},
		{"flux no database", withFlux, config.InfluxDBConfig{QueryLanguage: "flux", Bucket: "nosuchdb/autogen"}, 500,
			[]string{"InfluxDB answers 500 to Flux", `Flux reads bucket "nosuchdb/autogen"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL = tc.db.URL
			if cfg.Bucket == "" {
				cfg.Bucket = tc.db.Bucket
			}
			cfg = section(cfg)
			reg := prometheus.NewRegistry()
			r, err := NewReader(cfg, log.NewNopLogger(), reg)
			require.NoError(t, err)
			defer r.Close()
			for _, read := range []func() error{
				func() error { _, err := r.EnvironmentEvents(context.Background(), "abc"); return err },
				func() error {
					_, err := r.Range(context.Background(), t0, t0.Add(time.Hour), "", event.Ready)
					return err
				},
				func() error { _, err := r.Markers(context.Background(), t0, t0.Add(time.Hour)); return err },
				func() error { return r.Probe(context.Background()) },
			} {
				err := read()
				require.ErrorIs(t, err, query.ErrRefused)
				require.False(t, errors.Is(err, query.ErrUnavailable), "%v", err)
				var re *ReadError
				require.ErrorAs(t, err, &re)
				require.Equal(t, tc.status, re.StatusCode, "%v", err)
				for _, w := range tc.want {
					require.Contains(t, err.Error(), w)
				}
				require.NotContains(t, err.Error(), "wrong-password")
			}
			require.Equal(t, 4.0, testutil.ToFloat64(metricVec(t, reg).WithLabelValues(cfg.QueryLanguage, "refused")))
		})
	}
}

// metricVec is the read failures counter registered in reg.
func metricVec(t *testing.T, reg *prometheus.Registry) *prometheus.CounterVec {
	t.Helper()
	return metric.InfluxDBReadFailures.NewCounterVec(reg)
}

// NewReader reads the language config.Load validated.
func TestNewReader(t *testing.T) {
	for lang, want := range map[string]string{"influxql": "*influxdb.InfluxQL", "flux": "*influxdb.Flux"} {
		c := section(config.InfluxDBConfig{URL: "http://127.0.0.1:1", Bucket: "db/rp"})
		c.QueryLanguage = lang
		r, err := NewReader(c, nil, nil)
		require.NoError(t, err)
		require.Equal(t, want, fmt.Sprintf("%T", r))
		r.Close()
	}
	c := section(config.InfluxDBConfig{URL: "http://127.0.0.1:1", Bucket: "db/rp"})
	c.QueryLanguage = "sql"
	_, err := NewReader(c, nil, nil)
	require.EqualError(t, err, `influxdb: unknown query language "sql"`)
}
