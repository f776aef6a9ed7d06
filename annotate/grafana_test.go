package annotate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/model/event"
)

var (
	_ sink.Sink       = (*Sink)(nil)
	_ sink.Resumer    = (*Sink)(nil)
	_ sink.Reconciler = (*Sink)(nil)
)

var t0 = time.Date(2025, 1, 7, 10, 3, 45, 0, time.UTC)

const ms0 = int64(1736244225000) // t0 in ms

type harness struct {
	srv   *fakegrafana.Server
	sink  *Sink
	reg   *prometheus.Registry
	logs  *bytes.Buffer
	clock *testclock.Clock // the sink's: reconciliation is due only when a test moves it
}

// newHarness starts a fake Grafana and a sink on it; mutate adjusts the configuration.
func newHarness(t *testing.T, srv *fakegrafana.Server, mutate func(*config.GrafanaConfig)) *harness {
	t.Helper()
	if srv == nil {
		srv = fakegrafana.NewServer(t)
	}
	cfg := section(srv.URL(), config.Secret(srv.Token()))
	cfg.Timeout = model.Duration(5 * time.Second)
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	buf := &bytes.Buffer{}
	logger := level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(buf)), level.AllowDebug())
	s, err := New(cfg, logger, reg)
	require.NoError(t, err)
	clock := testclock.New(t0)
	s.now = clock.Now
	return &harness{srv: srv, sink: s, reg: reg, logs: buf, clock: clock}
}

func (h *harness) deliver(t *testing.T, evs ...event.Event) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.sink.Deliver(ctx, evs)
}

func (h *harness) mustDeliver(t *testing.T, evs ...event.Event) {
	t.Helper()
	retry, err := h.deliver(t, evs...)
	require.NoError(t, err)
	require.False(t, retry)
}

// countByEventID counts the stored annotations of each event id.
func (h *harness) countByEventID() map[string]int {
	n := map[string]int{}
	for _, a := range h.srv.Annotations() {
		for _, tag := range a.Tags {
			if id, ok := strings.CutPrefix(tag, "envtrack-id:"); ok {
				n[id]++
			}
		}
	}
	return n
}

// lifecycle returns an event of env-001 with its source (backend-api@main 1a2b3c4d).
func lifecycle(id string, name event.Name, meta map[string]any) event.Event {
	return event.Event{
		ID: id, EnvironmentID: "env-001", EnvironmentName: "env-001", Name: name, Time: t0,
		Type: "preview", Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d5e6f7a8b",
		Metadata: meta,
	}
}

func events(n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = lifecycle(fmt.Sprintf("0011223344556677-%d", i+1), event.Created, nil)
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
	}
	return evs
}

func TestAnnotations(t *testing.T) {
	std := func(ev, id string, extra ...string) []string {
		tags := []string{"envtrack", "event:" + ev, "env:env-001", "type:preview", "repo:backend-api", "envtrack-id:" + id}
		return append(append(tags, extra...), "team:platform")
	}
	marker := event.Event{ID: "j-14", EnvironmentID: "staging", Name: event.Deployed, Time: t0,
		Metadata: map[string]any{"kind": event.KindDeployment, "host": "web-1", "application": "checkout",
			"activity": "deploy", "status": "success", "failed": false}}
	noType := lifecycle("j-4", event.Ready, map[string]any{"late": true, "provisioning_duration_seconds": 2700.0})
	noType.Type = ""
	colon := lifecycle("j-15", event.Created, nil)
	colon.EnvironmentID, colon.Repository, colon.Branch, colon.CommitSHA = "team:env-9", "", "", ""
	deployed := lifecycle("j-7", event.Deployed, map[string]any{"revision": "2b3c4d5e6f7a8b9c", "status": "success"})
	deployed.CommitSHA = "2b3c4d5e6f7a8b9c"
	fromJSON := roundTrip(t, lifecycle("j-16", event.Terminated, map[string]any{"termination_duration_seconds": 90.4}))
	gap := roundTrip(t, event.Gap{From: t0.Add(-45 * time.Second), To: t0, Source: event.GapArgoCD, Reason: event.GapStalled}.Event())
	gap.ID = "j-17"

	for _, tc := range []struct {
		name          string
		ev            event.Event
		tags          []string
		text          string
		time, timeEnd int64
	}{
		{"created", lifecycle("j-1", event.Created, map[string]any{"source": "annotation"}),
			std("created", "j-1"), "env-001 created (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"provisioning_started", lifecycle("j-2", event.ProvisioningStarted, map[string]any{"queue_duration_seconds": 30.0}),
			std("provisioning_started", "j-2"), "env-001 provisioning started, queued 30s (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"ready is a region", lifecycle("j-3", event.Ready, map[string]any{"provisioning_duration_seconds": 225.0}),
			std("ready", "j-3"), "env-001 ready after 3m45s (backend-api@main 1a2b3c4d)", ms0 - 225000, ms0},
		{"late ready without type", noType,
			[]string{"envtrack", "event:ready", "env:env-001", "repo:backend-api", "envtrack-id:j-4", "team:platform"},
			"env-001 ready late after 45m (backend-api@main 1a2b3c4d)", ms0 - 2700000, ms0},
		{"baseline ready without duration", lifecycle("j-5", event.Ready, map[string]any{"baseline": true}),
			std("ready", "j-5"), "env-001 ready (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"provisioning_failed", lifecycle("j-6", event.ProvisioningFailed, map[string]any{"reason": "sync_failed", "provisioning_duration_seconds": 9}),
			std("provisioning_failed", "j-6"), "env-001 provisioning failed (platform): sync_failed after 9s (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"provisioning_failed of the user's", lifecycle("j-6", event.ProvisioningFailed, map[string]any{"reason": "sync_failed", "failure_class": "user"}),
			std("provisioning_failed", "j-6"), "env-001 provisioning failed (user): sync_failed (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"deployed", deployed,
			std("deployed", "j-7"), "env-001 deployed 2b3c4d5e (backend-api@main 2b3c4d5e)", ms0, ms0},
		{"degraded health", lifecycle("j-8", event.Degraded, map[string]any{"cause": "health", "health_status": "Degraded"}),
			std("degraded", "j-8"), "env-001 degraded: health Degraded (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"degraded url", lifecycle("j-9", event.Degraded, map[string]any{"cause": "url", "url_error": "dial tcp: connection refused\nretrying"}),
			std("degraded", "j-9"), "env-001 degraded: url: dial tcp: connection refused retrying (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"recovered", lifecycle("j-10", event.Recovered, nil),
			std("recovered", "j-10"), "env-001 recovered (backend-api@main 1a2b3c4d)", ms0, ms0},
		{"termination_started", lifecycle("j-11", event.TerminationStarted, map[string]any{"evidence": "deletionTimestamp"}),
			std("termination_started", "j-11"), "env-001 termination started", ms0, ms0},
		{"terminated is a region", lifecycle("j-12", event.Terminated, map[string]any{"termination_duration_seconds": 90.0, "total_lifetime_hours": 2.5}),
			std("terminated", "j-12"), "env-001 terminated after 1m30s", ms0 - 90000, ms0},
		{"terminated unobserved start", lifecycle("j-13", event.Terminated, map[string]any{"termination_started_observed": false}),
			std("terminated", "j-13"), "env-001 terminated", ms0, ms0},
		{"deployment marker", marker,
			[]string{"envtrack", "deployment", "env:staging", "app:checkout", "status:success", "envtrack-id:j-14", "team:platform"},
			"deploy success on web-1", ms0, ms0},
		{"colon in an id", colon,
			[]string{"envtrack", "event:created", "env:team_env-9", "type:preview", "envtrack-id:j-15", "team:platform"},
			"team:env-9 created", ms0, ms0},
		{"metadata from json", fromJSON,
			std("terminated", "j-16"), "env-001 terminated after 1m30s", ms0 - 90400, ms0},
		{"a window not observed is a region", gap,
			[]string{"envtrack", "gap", "source:argocd", "reason:stalled", "envtrack-id:j-17", "team:platform"},
			"Argo CD not observed for 45s: stalled", ms0 - 45000, ms0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *config.GrafanaConfig) { c.Tags = []string{"team:platform"} })
			h.mustDeliver(t, tc.ev)
			anns := h.srv.Annotations()
			require.Len(t, anns, 1)
			a := anns[0]
			require.Equal(t, tc.tags, a.Tags)
			require.Equal(t, tc.text, a.Text)
			require.Equal(t, tc.time, a.Time, "time")
			require.Equal(t, tc.timeEnd, a.TimeEnd, "timeEnd")
			require.Equal(t, int64(0), a.DashboardID)
			require.Nil(t, a.DashboardUID, "organization-wide")
		})
	}
}

// roundTrip passes ev through JSON, as the journal stores it.
func roundTrip(t *testing.T, ev event.Event) event.Event {
	t.Helper()
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	var out event.Event
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestSteadyStateOneRequestPerEvent(t *testing.T) {
	h := newHarness(t, nil, nil)
	evs := events(4)
	h.mustDeliver(t, evs[:2]...)
	require.Equal(t, 3, h.srv.Requests(), "after start: a look-up until one event is missing, then a creation per event")
	h.mustDeliver(t, evs[2:]...)
	require.Equal(t, 5, h.srv.Requests(), "then one creation per event")
	h.mustDeliver(t, evs...)
	require.Equal(t, 5, h.srv.Requests(), "events posted by this process are not posted again")
	for _, r := range h.srv.Log()[3:] {
		require.Equal(t, http.MethodPost, r.Method)
	}
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1, "0011223344556677-3": 1, "0011223344556677-4": 1},
		h.countByEventID())
}

func TestTransientFailuresDeliverExactlyOnce(t *testing.T) {
	h := newHarness(t, nil, func(c *config.GrafanaConfig) { c.Timeout = model.Duration(time.Second) })
	evs := events(3)

	// A 500 on the second creation: the first annotation is in, the batch is retried.
	h.srv.SetFault(fakegrafana.ServerError("Failed to save annotation").For(http.MethodPost).SkipFirst(1).Limit(1))
	retry, err := h.deliver(t, evs...)
	require.True(t, retry)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 500, apiErr.StatusCode)
	require.Equal(t, "Failed to save annotation", apiErr.Message)
	require.Contains(t, err.Error(), "event 0011223344556677-2 (created env-001)")

	// Grafana hangs: the request times out.
	h.srv.SetFault(fakegrafana.Hang().For(http.MethodPost).Limit(1))
	retry, err = h.deliver(t, evs...)
	require.True(t, retry)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "no answer within 1s")

	// A proxy in front of Grafana is down.
	h.srv.SetFault(fakegrafana.ProxyError(http.StatusBadGateway).Limit(1))
	retry, err = h.deliver(t, evs...)
	require.True(t, retry)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 502, apiErr.StatusCode)
	require.Contains(t, apiErr.Message, "502 Bad Gateway")

	// 429 from a rate limiter.
	h.srv.SetFault(fakegrafana.Respond(http.StatusTooManyRequests, "text/plain", "slow down").Limit(1))
	retry, err = h.deliver(t, evs...)
	require.True(t, retry)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "slow down", apiErr.Message)

	// Grafana recovered.
	h.mustDeliver(t, evs...)
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1, "0011223344556677-3": 1}, h.countByEventID())

	require.NoError(t, testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP envtrack_grafana_requests_total Grafana annotation API requests (creations and look-ups) by HTTP status code ("error": no answer: connection failure, timeout, dropped connection).
# TYPE envtrack_grafana_requests_total counter
envtrack_grafana_requests_total{code="200"} 6
envtrack_grafana_requests_total{code="429"} 1
envtrack_grafana_requests_total{code="500"} 1
envtrack_grafana_requests_total{code="502"} 1
envtrack_grafana_requests_total{code="error"} 1
`), "envtrack_grafana_requests_total"))
}

// TestPostedThenLostIsNotDuplicated: Grafana saved the annotation but the answer never
// arrived (the connection dropped, the request timed out, a proxy answered 502): after
// the retry there is exactly one annotation per event.
func TestPostedThenLostIsNotDuplicated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fakegrafana.Fault
	}{
		{"connection dropped", fakegrafana.StoreThen(fakegrafana.Drop())},
		{"timeout", fakegrafana.StoreThen(fakegrafana.Hang())},
		{"500 after saving", fakegrafana.StoreThen(fakegrafana.ServerError("Failed to save annotation"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil, func(c *config.GrafanaConfig) { c.Timeout = model.Duration(time.Second) })
			evs := events(3)
			h.mustDeliver(t, evs[0]) // steady state: no look-ups any more

			h.srv.SetFault(tc.fault.Limit(1))
			retry, err := h.deliver(t, evs...) // 1 known, 2 saved then lost
			require.True(t, retry)
			require.Error(t, err)
			require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1}, h.countByEventID())

			h.mustDeliver(t, evs...)
			require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1, "0011223344556677-3": 1}, h.countByEventID())
			require.Equal(t, 1.0, testutil.ToFloat64(h.sink.m.alreadyPosted))
		})
	}
}

// TestRestartLooksUp: a new process (a new sink) does not know what the last one
// posted before it crashed; the look-up does.
func TestRestartLooksUp(t *testing.T) {
	srv := fakegrafana.NewServer(t)
	evs := events(2)
	first := newHarness(t, srv, nil)
	first.mustDeliver(t, evs[0])

	second := newHarness(t, srv, nil) // the cursor did not move: the same events again
	second.mustDeliver(t, evs...)
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1}, second.countByEventID())

	// A look-up goes by the event id tag and type=annotation, one result at most.
	var lookups []string
	for _, r := range srv.Log() {
		if r.Method == http.MethodGet {
			lookups = append(lookups, r.Query)
		}
	}
	require.Equal(t, []string{
		"limit=1&tags=envtrack-id%3A0011223344556677-1&type=annotation",
		"limit=1&tags=envtrack-id%3A0011223344556677-1&type=annotation",
		"limit=1&tags=envtrack-id%3A0011223344556677-2&type=annotation",
	}, lookups)
}

func TestAuthFailuresRetryAndLogOncePerBurst(t *testing.T) {
	h := newHarness(t, nil, nil)
	evs := events(2)
	h.srv.SetFault(fakegrafana.Unauthorized())
	for range 3 {
		retry, err := h.deliver(t, evs...)
		require.True(t, retry, "a refused token must not set events aside")
		var authErr *AuthError
		require.ErrorAs(t, err, &authErr)
		require.Equal(t, 401, authErr.StatusCode)
		require.Equal(t, "Invalid API key", authErr.Message)
		require.NotContains(t, err.Error(), h.srv.Token())
	}
	logs := h.logs.String()
	require.Equal(t, 1, strings.Count(logs, "level=error"), logs)
	require.Equal(t, 2, strings.Count(logs, "level=debug"), logs)
	require.Contains(t, logs, `msg="Grafana refuses the token; annotations wait in the journal until it is fixed"`)
	require.Contains(t, logs, "status=401")

	h.srv.ClearFault()
	h.mustDeliver(t, evs...)
	require.Contains(t, h.logs.String(), `level=info component=grafana msg="Grafana accepts the token again" failures=3`)

	h.srv.SetFault(fakegrafana.Unauthorized())
	_, err := h.deliver(t, events(3)[2])
	require.Error(t, err)
	require.Equal(t, 2, strings.Count(h.logs.String(), "level=error"), "a new burst logs again")
	require.NotContains(t, h.logs.String(), h.srv.Token())

	require.NoError(t, testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP envtrack_grafana_auth_failures_total Grafana answers 401 or 403: the token is wrong, expired or revoked, or the service account lacks annotations:create. Annotations wait in the journal until it is fixed.
# TYPE envtrack_grafana_auth_failures_total counter
envtrack_grafana_auth_failures_total 4
`), "envtrack_grafana_auth_failures_total"))
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1}, h.countByEventID())
}

func TestWrongToken(t *testing.T) {
	h := newHarness(t, nil, func(c *config.GrafanaConfig) { c.Token = "glsa_not-the-right-one_00000000" })
	retry, err := h.deliver(t, events(1)...)
	require.True(t, retry)
	var authErr *AuthError
	require.ErrorAs(t, err, &authErr)
	require.Equal(t, 401, authErr.StatusCode)
	require.Contains(t, err.Error(), "check grafana.token")
	require.NotContains(t, err.Error(), "glsa_not-the-right-one")
	require.NotContains(t, h.logs.String(), "glsa_not-the-right-one")
}

func TestReadOnlyToken(t *testing.T) {
	srv := fakegrafana.NewServer(t, fakegrafana.WithReadOnlyToken("glsa_viewer_00000000"))
	h := newHarness(t, srv, func(c *config.GrafanaConfig) { c.Token = "glsa_viewer_00000000" })
	retry, err := h.deliver(t, events(1)...)
	require.True(t, retry)
	var authErr *AuthError
	require.ErrorAs(t, err, &authErr)
	require.Equal(t, 403, authErr.StatusCode)
	require.Contains(t, authErr.Message, "Permissions needed: annotations:create")
	require.Contains(t, err.Error(), "Editor role")
	require.Empty(t, srv.Annotations())
}

// TestTokenWithColon: the sdk would take such a key for user:password; the transport
// sends it as a bearer token.
func TestTokenWithColon(t *testing.T) {
	srv := fakegrafana.NewServer(t, fakegrafana.WithToken("legacy:key"))
	h := newHarness(t, srv, nil)
	h.mustDeliver(t, events(1)...)
	require.Len(t, srv.Annotations(), 1)
}

func TestPermanentRejection(t *testing.T) {
	h := newHarness(t, nil, nil)
	// A deployment marker with nothing to say: the text is empty, Grafana refuses it.
	empty := event.Event{ID: "j-1", EnvironmentID: "staging", Name: event.Deployed, Time: t0,
		Metadata: map[string]any{"kind": event.KindDeployment}}
	retry, err := h.deliver(t, empty)
	require.False(t, retry)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 400, apiErr.StatusCode)
	require.Equal(t, "Failed to save annotation", apiErr.Message)
	require.Equal(t, `grafana: create annotation: 400 Bad Request: Failed to save annotation`, apiErr.Error())

	// Tags over Grafana's tags_length.
	long := lifecycle("j-2", event.Created, nil)
	long.EnvironmentID = strings.Repeat("e", 500)
	retry, err = h.deliver(t, long)
	require.False(t, retry)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "Tags length exceeds the maximum allowed.", apiErr.Message)

	// The runner then delivers the next events: they go through.
	h.mustDeliver(t, events(1)...)
	require.Len(t, h.srv.Annotations(), 1)
}

func TestAnswerWithoutID(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.srv.SetFault(fakegrafana.StoreThen(fakegrafana.Respond(200, "application/json", `{"message":"Annotation added"}`)).Limit(1))
	retry, err := h.deliver(t, events(1)...)
	require.True(t, retry)
	require.ErrorContains(t, err, "answered 200 without an annotation id (Annotation added)")

	h.mustDeliver(t, events(1)...)
	require.Equal(t, map[string]int{"0011223344556677-1": 1}, h.countByEventID(), "the look-up found it")

	// An SSO proxy's login page.
	h.srv.SetFault(fakegrafana.Respond(200, "text/html", "<html><body>Sign in</body></html>").Limit(1))
	retry, err = h.deliver(t, events(2)[1])
	require.True(t, retry)
	require.ErrorContains(t, err, "200")
}

func TestDashboardUID(t *testing.T) {
	srv := fakegrafana.NewServer(t, fakegrafana.WithDashboard("envtrack-env", 7))
	h := newHarness(t, srv, func(c *config.GrafanaConfig) { c.DashboardUID = "envtrack-env" })
	ev := lifecycle("j-1", event.Ready, map[string]any{"provisioning_duration_seconds": 225.0})
	h.mustDeliver(t, ev)

	anns := srv.Annotations()
	require.Len(t, anns, 1)
	require.Equal(t, int64(7), anns[0].DashboardID)
	require.Equal(t, "envtrack-env", *anns[0].DashboardUID)
	require.Equal(t, ms0-225000, anns[0].Time)
	require.Equal(t, ms0, anns[0].TimeEnd)
	require.Equal(t, "env-001 ready after 3m45s (backend-api@main 1a2b3c4d)", anns[0].Text)

	var body fakegrafana.PostBody
	for _, r := range srv.Log() {
		if r.Method == http.MethodPost {
			require.NoError(t, json.Unmarshal([]byte(r.Body), &body))
		}
	}
	require.Equal(t, "envtrack-env", body.DashboardUID)

	// Its own POST classifies answers like the sdk path.
	srv.SetFault(fakegrafana.StoreThen(fakegrafana.Drop()).Limit(1))
	retry, err := h.deliver(t, events(1)...)
	require.True(t, retry)
	require.Error(t, err)
	h.mustDeliver(t, events(1)...)
	require.Equal(t, map[string]int{"j-1": 1, "0011223344556677-1": 1}, h.countByEventID())
}

func TestSubPath(t *testing.T) {
	fake := fakegrafana.New()
	ts := httptest.NewServer(http.StripPrefix("/grafana", fake))
	t.Cleanup(ts.Close)
	for _, u := range []string{ts.URL + "/grafana", ts.URL + "/grafana/"} {
		s, err := New(section(u, config.Secret(fake.Token())), nil, nil)
		require.NoError(t, err)
		retry, err := s.Deliver(context.Background(), events(1))
		require.NoError(t, err, u)
		require.False(t, retry)
	}
	require.Len(t, fake.Annotations(), 1, "the second sink found the first one's annotation")
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var (
		mu    sync.Mutex
		auths []string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Redirect(w, r, "https://sso.example.com/login", http.StatusFound)
	}))
	t.Cleanup(ts.Close)
	s, err := New(section(ts.URL, "glsa_x_00000000"), nil, nil)
	require.NoError(t, err)
	retry, err := s.Deliver(context.Background(), events(1))
	require.True(t, retry)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 302, apiErr.StatusCode)
	require.Contains(t, err.Error(), "to https://sso.example.com/login")
	require.Contains(t, err.Error(), "is grafana.url Grafana's own address")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"Bearer glsa_x_00000000"}, auths, "one request, not followed")
}

func TestCanceled(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.srv.SetFault(fakegrafana.Hang())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = h.srv.WaitArrivals(context.Background(), 1)
		cancel()
	}()
	retry, err := h.sink.Deliver(ctx, events(1))
	require.True(t, retry)
	require.ErrorIs(t, err, context.Canceled)
	require.NotContains(t, err.Error(), "no answer within")
}

func TestConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	u := ts.URL
	ts.Close()
	s, err := New(section(u, "t"), nil, nil)
	require.NoError(t, err)
	retry, err := s.Deliver(context.Background(), events(1))
	require.True(t, retry)
	require.ErrorContains(t, err, "grafana: find annotation:")
}

// TestNew: New takes its section as config.Load validated it: the url, the token, the
// tags and the timeout are checked there once (config/testdata/invalid-grafana-*.yml),
// and the tags trimmed.
func TestNew(t *testing.T) {
	cfg := section("https://example.com/grafana/", "t")
	cfg.Tags = []string{"team:platform"}
	s, err := New(cfg, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "grafana", s.Name())
	require.Equal(t, time.Duration(config.DefaultGrafanaConfig.Timeout), s.timeout)
	require.Equal(t, "https://example.com/grafana/api/annotations", s.apiURL)
	require.Equal(t, []string{"team:platform"}, s.cfg.Tags)
}

// section is the grafana section config.Load gives for a file that sets url and token.
func section(url string, token config.Secret) config.GrafanaConfig {
	c := config.DefaultGrafanaConfig
	c.URL, c.Token = url, token
	return c
}

func TestMetricsSurviveReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := fakegrafana.NewServer(t)
	for range 2 {
		s, err := New(section(srv.URL(), config.Secret(srv.Token())), nil, reg)
		require.NoError(t, err)
		_, err = s.Deliver(context.Background(), events(1))
		require.NoError(t, err)
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_grafana_requests_total Grafana annotation API requests (creations and look-ups) by HTTP status code ("error": no answer: connection failure, timeout, dropped connection).
# TYPE envtrack_grafana_requests_total counter
envtrack_grafana_requests_total{code="200"} 3
`), "envtrack_grafana_requests_total"))
}

func TestIDSetForgetsOldest(t *testing.T) {
	s := newIDSet(2)
	s.add("a")
	s.add("b")
	s.add("a") // already there: no change
	require.True(t, s.has("a"))
	s.add("c")
	require.False(t, s.has("a"))
	require.True(t, s.has("b"))
	require.True(t, s.has("c"))
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{302: true, 400: false, 404: true, 408: true, 413: false, 422: false,
		429: true, 500: true, 502: true, 503: true, 504: true} {
		require.Equal(t, want, retryable(&APIError{StatusCode: status}), "%d", status)
	}
	require.True(t, retryable(&AuthError{StatusCode: 401}))
	require.True(t, retryable(errors.New("connection reset")))
}

// A restarted process may be handed more than one batch it had already posted (cursors
// are saved lazily): it keeps looking events up until one is missing, so nothing is
// posted twice, and creates without look-ups from there.
func TestRestartRedeliversSeveralBatches(t *testing.T) {
	first := newHarness(t, nil, nil)
	evs := events(5)
	first.mustDeliver(t, evs[:4]...)

	restarted := newHarness(t, first.srv, nil)
	before := first.srv.Requests()
	restarted.mustDeliver(t, evs[:2]...)
	restarted.mustDeliver(t, evs[2:]...)
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1, "0011223344556677-3": 1,
		"0011223344556677-4": 1, "0011223344556677-5": 1}, first.countByEventID())
	require.Equal(t, 6, first.srv.Requests()-before, "five look-ups, one creation")
}
