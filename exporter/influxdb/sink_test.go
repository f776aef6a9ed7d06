package influxdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

var _ sink.Sink = (*Sink)(nil)

// section is the influxdb section config.Load gives for a file that sets c's nonzero
// fields only: the others keep their defaults.
func section(c config.InfluxDBConfig) config.InfluxDBConfig {
	d := config.DefaultInfluxDBConfig
	d.URL, d.Token, d.Org, d.Bucket = c.URL, c.Token, c.Org, c.Bucket
	if c.Measurement != "" {
		d.Measurement = c.Measurement
	}
	if c.DeploymentsMeasurement != "" {
		d.DeploymentsMeasurement = c.DeploymentsMeasurement
	}
	if c.Timeout != 0 {
		d.Timeout = c.Timeout
	}
	if c.QueryLanguage != "" {
		d.QueryLanguage = c.QueryLanguage
	}
	d.Database, d.RetentionPolicy = c.Database, c.RetentionPolicy
	if d.QueryLanguage == config.QueryLanguageInfluxQL {
		d.Database, d.RetentionPolicy = d.DBRP() // as config.Load fills them in
	}
	return d
}

func newSink(t testing.TB, db *testinfra.InfluxDB, mod ...func(*config.InfluxDBConfig)) *Sink {
	t.Helper()
	cfg := section(config.InfluxDBConfig{URL: db.URL, Token: config.Secret(db.Token), Bucket: db.Bucket})
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg, log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func lifecycle(env string, name event.Name, at time.Time, seq uint64, meta map[string]any) event.Event {
	return event.Event{
		Seq: seq, ID: event.MakeID("j1", seq),
		EnvironmentID: env, EnvironmentName: env + "-name", Name: name, Time: at,
		Type: "preview", Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d",
		Metadata: meta, Source: "argocd",
	}
}

func sinkMarker(env, host, app, activity, status string, failed bool, at time.Time, seq uint64) event.Event {
	meta := map[string]any{"kind": event.KindDeployment, "application": app, "activity": activity,
		"status": status, "failed": failed}
	if host != "" {
		meta["host"] = host
	}
	return event.Event{Seq: seq, ID: event.MakeID("j1", seq), EnvironmentID: env, EnvironmentName: env,
		Name: event.Deployed, Time: at, Metadata: meta, Source: "api"}
}

// scenario is one environment's life plus a CI marker: every kind of point.
func scenario() []event.Event {
	return []event.Event{
		lifecycle("abc123", event.Created, t0, 1, nil),
		lifecycle("abc123", event.ProvisioningStarted, t0.Add(15*time.Second), 2,
			map[string]any{"queue_duration_seconds": 15}), // an int, as set in Go
		lifecycle("abc123", event.Ready, t0.Add(4*time.Minute), 3, map[string]any{
			"provisioning_duration_seconds": 225.5, "detected_at": "2025-01-07T10:04:10Z", "late": false}),
		lifecycle("abc123", event.Deployed, t0.Add(10*time.Minute+123456789), 4,
			map[string]any{"revision": "9f8e7d6c", "status": "success", "previous_revision": "1a2b3c4d"}),
		lifecycle("zzz", event.ProvisioningFailed, t0.Add(30*time.Minute), 5,
			map[string]any{"reason": event.ReasonTimeout, "failure_class": "platform", "failure_matcher": "unmatched"}),
		sinkMarker("test", "host1", "app1", "deployment-app1-1.2.34", "success", false, t0.Add(time.Hour), 6),
		sinkMarker("test", "", "app2", "deployment-app2-0.1", "failed", true, t0.Add(2*time.Hour), 7),
	}
}

// byTime sorts rows (from several series) by their time.
func byTime(rows []map[string]any) []map[string]any {
	sort.SliceStable(rows, func(a, b int) bool { return rows[a]["time"].(time.Time).Before(rows[b]["time"].(time.Time)) })
	return rows
}

func TestDeliverWritesTheSchema(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	require.Equal(t, "influxdb", s.Name())

	retry, err := s.Deliver(context.Background(), scenario())
	require.NoError(t, err)
	require.False(t, retry)

	got := byTime(db.Select(t, `SELECT * FROM "environment_lifecycle" GROUP BY *`))
	common := func(env string, ev event.Name, at time.Time, id string) map[string]any {
		return map[string]any{"time": at, "environment_id": env, "event": string(ev), "type": "preview",
			"repository": "backend-api", "environment_name": env + "-name", "branch": "main",
			"commit_sha": "1a2b3c4d", "event_id": id,
			// SELECT * shows every field the measurement has; a point without one shows nil.
			"provisioning_duration_seconds": nil, "queue_duration_seconds": nil, "reason": nil, "failure_class": nil}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	want := []map[string]any{
		with(common("abc123", event.Created, t0, "j1-1"), "metadata", "{}"),
		with(common("abc123", event.ProvisioningStarted, t0.Add(15*time.Second), "j1-2"),
			"queue_duration_seconds", 15.0, "metadata", `{"queue_duration_seconds":15}`),
		with(common("abc123", event.Ready, t0.Add(4*time.Minute), "j1-3"),
			"provisioning_duration_seconds", 225.5,
			"metadata", `{"detected_at":"2025-01-07T10:04:10Z","late":false,"provisioning_duration_seconds":225.5}`),
		with(common("abc123", event.Deployed, t0.Add(10*time.Minute+123456789), "j1-4"),
			"metadata", `{"previous_revision":"1a2b3c4d","revision":"9f8e7d6c","status":"success"}`),
		with(common("zzz", event.ProvisioningFailed, t0.Add(30*time.Minute), "j1-5"),
			"reason", "timeout", "failure_class", "platform",
			"metadata", `{"failure_class":"platform","failure_matcher":"unmatched","reason":"timeout"}`),
	}
	require.Equal(t, want, got)

	deps := byTime(db.Select(t, `SELECT * FROM "deployments" GROUP BY *`))
	require.Equal(t, []map[string]any{
		{"time": t0.Add(10*time.Minute + 123456789), "host": "", "environment": "abc123", "application": "backend-api",
			"activity": "deploy 9f8e7d6c", "status": "success", "failed": false, "event_id": "j1-4"},
		{"time": t0.Add(time.Hour), "host": "host1", "environment": "test", "application": "app1",
			"activity": "deployment-app1-1.2.34", "status": "success", "failed": false, "event_id": "j1-6"},
		{"time": t0.Add(2 * time.Hour), "host": "", "environment": "test", "application": "app2",
			"activity": "deployment-app2-0.1", "status": "failed", "failed": true, "event_id": "j1-7"},
	}, deps)

	// The empty tags were omitted, not written as "": only host1 has a host series.
	hosts := db.Query(t, `SHOW TAG VALUES FROM "deployments" WITH KEY = "host"`)
	require.Equal(t, [][]any{{"host", "host1"}}, hosts)
}

func TestDeliverIsIdempotent(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	evs := scenario()
	for range 3 {
		retry, err := s.Deliver(context.Background(), evs)
		require.NoError(t, err)
		require.False(t, retry)
		require.Equal(t, 5, db.Count(t, "environment_lifecycle"))
		require.Equal(t, 3, db.Count(t, "deployments"))
	}
	// Replaying a suffix (the runner re-delivers from its cursor) changes nothing either.
	_, err := s.Deliver(context.Background(), evs[3:])
	require.NoError(t, err)
	require.Equal(t, 5, db.Count(t, "environment_lifecycle"))
	require.Equal(t, 3, db.Count(t, "deployments"))
}

func TestDeliverRetriesWhileInfluxDBIsDown(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	evs := scenario()

	db.Stop()
	retry, err := s.Deliver(context.Background(), evs)
	require.Error(t, err)
	require.True(t, retry, "connection refused is transient: %v", err)
	var we *WriteError
	require.ErrorAs(t, err, &we)
	require.Equal(t, 0, we.StatusCode)
	require.Contains(t, err.Error(), "connection refused")
	t.Log(err)

	db.Start()
	retry, err = s.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.False(t, retry)
	require.Equal(t, 5, db.Count(t, "environment_lifecycle"))
}

func TestDeliverFieldTypeConflictIsPermanent(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	// Someone else wrote the duration as a string first (v1 endpoint, not the sink). In
	// 1.x field types are per shard: the conflict needs a point in the same shard group
	// (7 days for an infinite retention policy); one in 1970 would not clash.
	db.Write(t, fmt.Sprintf(`environment_lifecycle,environment_id=other,event=ready provisioning_duration_seconds="slow" %d`,
		t0.Add(-time.Hour).UnixNano()))

	ready := lifecycle("abc123", event.Ready, t0, 1, map[string]any{"provisioning_duration_seconds": 225.0})
	created := lifecycle("abc123", event.Created, t0.Add(-time.Minute), 2, nil)
	retry, err := s.Deliver(context.Background(), []event.Event{created, ready})
	require.Error(t, err)
	require.False(t, retry, "a field type conflict never goes away by retrying")
	var we *WriteError
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusBadRequest, we.StatusCode)
	require.Contains(t, err.Error(), "field type conflict")
	require.Contains(t, err.Error(), "provisioning_duration_seconds")
	require.Contains(t, err.Error(), "partial write")
	t.Log(err)

	// A partial write: the good point of the batch did go in.
	require.Equal(t, 1, len(db.Query(t, `SELECT event_id FROM "environment_lifecycle" WHERE "event" = 'created'`)))
}

func TestDeliverWithAuth(t *testing.T) {
	db := testinfra.StartInfluxDB(t, testinfra.WithAuth("envtrack", "right-password"))

	good := newSink(t, db)
	_, err := good.Deliver(context.Background(), scenario())
	require.NoError(t, err)

	bad := newSink(t, db, func(c *config.InfluxDBConfig) { c.Token = "envtrack:wrong-password" })
	retry, err := bad.Deliver(context.Background(), scenario())
	require.Error(t, err)
	require.True(t, retry, "a bad token is fixed by configuration: retried, never set aside")
	var we *WriteError
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusUnauthorized, we.StatusCode)
	require.NotContains(t, err.Error(), "wrong-password")
	t.Log(err)

	none := newSink(t, db, func(c *config.InfluxDBConfig) { c.Token = "" })
	retry, err = none.Deliver(context.Background(), scenario())
	require.Error(t, err)
	require.True(t, retry, "a token problem is the sink's, not the events': retried, never set aside")
}

func TestDeliverUnknownDatabaseIsRetried(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db, func(c *config.InfluxDBConfig) { c.Bucket = "nosuchdb/autogen" })
	retry, err := s.Deliver(context.Background(), scenario())
	require.Error(t, err)
	require.True(t, retry, "an unknown bucket is a configuration problem: retried, never set aside")
	var we *WriteError
	require.ErrorAs(t, err, &we)
	require.Equal(t, http.StatusNotFound, we.StatusCode)
	require.Contains(t, err.Error(), "database not found")
	t.Log(err)
}

// A proxy in front of the real InfluxDB (a load balancer, an ingress) answers 503 or
// 429 while InfluxDB is behind it; both are transient.
func TestDeliverRetriesProxyErrors(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	target, err := url.Parse(db.URL)
	require.NoError(t, err)
	var fault atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(fault.Load()); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := newSink(t, db, func(c *config.InfluxDBConfig) { c.URL = srv.URL })

	for _, code := range []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusTooManyRequests} {
		fault.Store(int32(code))
		retry, err := s.Deliver(context.Background(), scenario())
		require.Error(t, err)
		require.True(t, retry, "%d: %v", code, err)
		var we *WriteError
		require.ErrorAs(t, err, &we)
		require.Equal(t, code, we.StatusCode)
	}
	fault.Store(0)
	retry, err := s.Deliver(context.Background(), scenario())
	require.NoError(t, err)
	require.False(t, retry)
}

func TestDeliverRejectsUnwritableEvents(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	bad := map[string]event.Event{
		"zero time":      lifecycle("abc", event.Created, time.Time{}, 1, nil),
		"year 1500":      lifecycle("abc", event.Created, time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), 1, nil),
		"year 1969":      lifecycle("abc", event.Created, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), 1, nil),
		"year 2262":      lifecycle("abc", event.Created, time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), 1, nil),
		"metadata (NaN)": lifecycle("abc", event.Created, t0, 1, map[string]any{"x": math.NaN()}),
	}
	for name, e := range bad {
		t.Run(name, func(t *testing.T) {
			retry, err := s.Deliver(context.Background(), []event.Event{lifecycle("ok", event.Created, t0, 9, nil), e})
			require.Error(t, err)
			require.False(t, retry)
			require.Contains(t, err.Error(), "j1-1")
		})
	}
	require.Equal(t, 0, db.Count(t, "environment_lifecycle"), "nothing of a rejected batch is written")
}

// Strings with line-protocol and Flux metacharacters, and a measurement named m"x, go in
// and come back unchanged.
func TestDeliverSpecialCharacters(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db, func(c *config.InfluxDBConfig) { c.Measurement = `m"x` })
	e := lifecycle("abc", event.Created, t0, 1, map[string]any{"note": "a\"b\\c ${x} |> \n\t", "reason": `tr\`})
	e.EnvironmentName = `name with "quotes", spaces=and \backslash\`
	e.Branch = "feature/ü-ß ${x} |> trailing\\"
	e.Type = "type with space,comma=eq"
	e.Repository = `repo"quote`
	_, err := s.Deliver(context.Background(), []event.Event{e})
	require.NoError(t, err)

	rows := db.Select(t, `SELECT * FROM `+testinfra.QuoteIdent(`m"x`)+` GROUP BY *`)
	require.Len(t, rows, 1)
	row := rows[0]
	require.Equal(t, e.EnvironmentName, row["environment_name"])
	require.Equal(t, e.Branch, row["branch"])
	require.Equal(t, e.Type, row["type"])
	require.Equal(t, e.Repository, row["repository"])
	require.Equal(t, `tr\`, row["reason"])
	require.JSONEq(t, `{"note":"a\"b\\c ${x} |> \n\t","reason":"tr\\"}`, row["metadata"].(string))
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{0: true, 400: false, 401: true, 403: true, 404: true,
		408: true, 413: false, 422: false, 429: true, 500: true, 502: true, 503: true, 504: true} {
		require.Equal(t, want, Retryable(code), "%d", code)
	}
}

func TestDeliverHonoursContext(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := s.Deliver(ctx, scenario())
	require.Error(t, err)
	require.True(t, retry)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// TestDeliverBoundsTheTypeTag: the type tag goes through SetTypeTag's function (the
// daemon's label bound), so pushed types mint no tag values beyond it.
func TestDeliverBoundsTheTypeTag(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	s := newSink(t, db)
	s.SetTypeTag(func(typ string) string {
		if typ == "preview" {
			return typ
		}
		return "other"
	})
	var evs []event.Event
	for i := 0; i < 20; i++ {
		e := lifecycle(fmt.Sprintf("env-%d", i), event.Created, t0.Add(time.Duration(i)*time.Second), uint64(i+1), nil)
		if i > 0 {
			e.Type = fmt.Sprintf("typo-%d", i)
		}
		evs = append(evs, e)
	}
	_, err := s.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.Equal(t, [][]any{{"type", "other"}, {"type", "preview"}},
		db.Query(t, `SHOW TAG VALUES FROM "environment_lifecycle" WITH KEY = "type"`))
}

// TestCompressOnlyBeyondLoopback: writes to an InfluxDB on a loopback address go
// uncompressed (gzip there is CPU on both sides for nothing), to any other host gzipped.
func TestCompressOnlyBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"http://127.0.0.1:8086", false},
		{"http://127.1.2.3:8086", false},
		{"http://localhost:8086", false},
		{"http://[::1]:8086", false},
		{"https://influxdb.example:8086", true},
		{"http://10.0.0.7:8086", true},
		{"http://[2001:db8::1]:8086", true},
		{"http://localhost.example:8086", true},
	} {
		require.Equal(t, tc.want, compress(tc.url), tc.url)
	}

	db := testinfra.StartInfluxDB(t)
	target, err := url.Parse(db.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var encodings, accepted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.URL.Path == "/query" {
			accepted = append(accepted, r.Header.Get("Accept-Encoding"))
		} else {
			encodings = append(encodings, r.Header.Get("Content-Encoding"))
		}
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := newSink(t, db, func(c *config.InfluxDBConfig) { c.URL = srv.URL })
	evs := scenario()
	retry, err := s.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.False(t, retry)
	require.Equal(t, []string{""}, encodings, "a write to a loopback InfluxDB is not compressed")

	// Reads from it ask for no gzip either (what they read back, the round-trip and
	// agreement tests check, all of them against a loopback InfluxDB).
	cfg := config.DefaultInfluxDBConfig
	cfg.URL, cfg.Bucket = srv.URL, db.Bucket
	q, err := NewInfluxQL(cfg, nil, nil)
	require.NoError(t, err)
	defer q.Close()
	got, err := q.EnvironmentEvents(context.Background(), evs[0].EnvironmentID)
	require.NoError(t, err)
	require.NotEmpty(t, got)
	require.Equal(t, []string{""}, accepted, "a read from a loopback InfluxDB asks for no gzip")
}
