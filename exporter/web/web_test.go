package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// fakeEnvs, fakeBackend and fakeMarkers hold fixed data for the pages.
type fakeEnvs []tracker.State

func (f fakeEnvs) States() []tracker.State { return f }
func (f fakeEnvs) Get(id string) (tracker.State, bool) {
	for _, s := range f {
		if s.ID == id {
			return s, true
		}
	}
	return tracker.State{}, false
}

type fakeBackend []event.Event

func (f fakeBackend) EnvironmentEvents(_ context.Context, id string) ([]event.Event, error) {
	var out []event.Event
	for _, e := range f {
		if e.EnvironmentID == id && e.IsLifecycle() {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f fakeBackend) Range(_ context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	var out []event.Event
	for _, e := range f {
		if e.IsLifecycle() && !e.Time.Before(from) && e.Time.Before(to) && (typ == "" || e.Type == typ) && (len(names) == 0 || slices.Contains(names, e.Name)) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f fakeBackend) Markers(_ context.Context, from, to time.Time) ([]event.Event, error) {
	var out []event.Event
	for _, e := range f {
		if e.IsMarker() && !e.Time.Before(from) && e.Time.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f fakeBackend) EnvironmentMarkers(_ context.Context, id string) ([]event.Event, error) {
	var out []event.Event
	for _, e := range f {
		if e.IsMarker() && e.EnvironmentID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

var t0 = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

func newTestPages(evs []event.Event, states []tracker.State, now time.Time) (*Pages, http.Handler) {
	cfg := config.DefaultConfig()
	return newTestPagesWith(&cfg, evs, states, now)
}

func newTestPagesWith(cfg *config.Config, evs []event.Event, states []tracker.State, now time.Time) (*Pages, http.Handler) {
	svc := query.NewService(fakeBackend(evs), config.TargetsConfig{
		ProvisioningP50: config.DurationTarget{Target: model.Duration(2 * time.Minute), Alert: model.Duration(3 * time.Minute)},
		ProvisioningP95: config.DurationTarget{Target: model.Duration(5 * time.Minute), Alert: model.Duration(10 * time.Minute)},
		SuccessRate:     config.RateTarget{Target: 98, Alert: 95}}, func() time.Time { return now })
	p := New(Options{Environments: fakeEnvs(states), Query: func() *query.Service { return svc },
		Config: func() *config.Config { return cfg }, Ready: func() bool { return true },
		Sinks: func() []SinkStatus { return nil }, Journal: func() JournalStats { return JournalStats{} },
		Now: func() time.Time { return now }})
	mux := http.NewServeMux()
	p.Register(mux)
	return p, mux
}

// TestPagesEscape: names, repositories, branches, commits, reasons, metadata and
// marker activities with markup render as text on every page.
func TestPagesEscape(t *testing.T) {
	const (
		name   = `<script>alert("name")</script>`
		repo   = `<b>repo</b>`
		branch = `<i>branch</i>`
		commit = `<u>c0ffee</u>`
		reason = `<img src=x onerror=alert(1)>`
		msg    = `<em>sync failed</em>`
		act    = `<marquee>deploy</marquee>`
	)
	base := event.Event{EnvironmentID: "pr-1", EnvironmentName: name, Type: "preview", Repository: repo, Branch: branch, CommitSHA: commit}
	ev := func(n event.Name, at time.Duration, meta map[string]any) event.Event {
		e := base
		e.Name, e.Time, e.Metadata = n, t0.Add(at), meta
		return e
	}
	evs := []event.Event{
		ev(event.ProvisioningStarted, 0, map[string]any{"repository": repo}),
		ev(event.ProvisioningFailed, 90*time.Second, map[string]any{"reason": reason, "message": msg, "provisioning_duration_seconds": 90.0}),
		{EnvironmentID: "pr-1", Name: event.Deployed, Time: t0.Add(2 * time.Minute),
			Metadata: map[string]any{"kind": event.KindDeployment, "activity": act, "failed": false}},
	}
	states := []tracker.State{{ID: "pr-1", Name: name, Type: "preview", Repository: repo, Branch: branch, CommitSHA: commit,
		Phase: tracker.PhaseFailed, FailureReason: reason, ProvisioningStartedAt: t0, FailedAt: t0.Add(90 * time.Second)}}
	_, h := newTestPages(evs, states, t0.Add(time.Hour))
	for _, target := range []string{"/environments/pr-1", "/?window=24h", "/insights?window=24h"} {
		code, body := get(t, h, target)
		require.Equal(t, http.StatusOK, code, target)
		for _, raw := range []string{"<script", "<b>", "<i>", "<u>", "<img", "<em>", "<marquee"} {
			require.NotContains(t, body, raw, "%s renders markup as text", target)
		}
	}
	_, body := get(t, h, "/environments/pr-1")
	for _, want := range []string{"&lt;script&gt;", "&lt;b&gt;repo&lt;/b&gt;", "&lt;i&gt;branch&lt;/i&gt;", "&lt;u&gt;c0ffee&lt;/u&gt;",
		"&lt;img src=x onerror=alert(1)&gt;", "&lt;em&gt;sync failed&lt;/em&gt;", "&lt;marquee&gt;deploy&lt;/marquee&gt;"} {
		require.Contains(t, body, want)
	}
	_, body = get(t, h, "/?window=24h")
	require.Contains(t, body, `data-reason="&lt;img src=x onerror=alert(1)&gt;"`)
	_, body = get(t, h, "/insights?window=24h")
	require.Contains(t, body, `<td class="reason">&lt;img src=x onerror=alert(1)&gt;</td>`)
}

// TestLandingRedactsURLs: the landing page's configuration summary shows each
// configured URL through the one redaction (config/redact), so a password in it
// never reaches the page.
func TestLandingRedactsURLs(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.ArgoCD = &config.ArgoCDConfig{Server: "https://argo-user:argo-pass-1@argocd.example.com"}
	cfg.InfluxDB = &config.InfluxDBConfig{URL: "http://writer:influx-pass-2@influx.example.com:8086/?token=influx-tok-4", Bucket: "environments"}
	cfg.Grafana = &config.GrafanaConfig{URL: "https://admin:grafana-pass-3@grafana.example.com"}
	_, h := newTestPagesWith(&cfg, nil, nil, t0)
	code, body := get(t, h, "/")
	require.Equal(t, http.StatusOK, code)
	for _, secret := range []string{"argo-pass-1", "influx-pass-2", "grafana-pass-3", "influx-tok-4"} {
		require.NotContains(t, body, secret)
	}
	for _, shown := range []string{"https://argo-user:&lt;secret&gt;@argocd.example.com",
		"http://writer:&lt;secret&gt;@influx.example.com:8086/?token=&lt;secret&gt;", "https://admin:&lt;secret&gt;@grafana.example.com"} {
		require.Contains(t, body, shown)
	}
}

// TestEnvPageRedactsURL: the environment page shows the URL as redact.URL does.
func TestEnvPageRedactsURL(t *testing.T) {
	states := []tracker.State{{ID: "pr-1", Type: "preview", Phase: tracker.PhaseReady,
		URL: "https://alice:pw-secret@pr-1.example.com/?access_token=tok-secret&lang=en"}}
	evs := []event.Event{{EnvironmentID: "pr-1", Name: event.ProvisioningStarted, Time: t0, Type: "preview"}}
	_, h := newTestPages(evs, states, t0.Add(time.Hour))
	code, body := get(t, h, "/environments/pr-1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "https://alice:&lt;secret&gt;@pr-1.example.com/?access_token=&lt;secret&gt;&amp;lang=en")
	require.NotContains(t, body, "pw-secret")
	require.NotContains(t, body, "tok-secret")
}

// TestSpans: each lifecycle path becomes its phases; a deployed event starts none, a
// second degraded continues the span, and the last span runs until now.
func TestSpans(t *testing.T) {
	now := t0.Add(time.Hour)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	type ev struct {
		n event.Name
		m int
	}
	type span struct {
		phase    string
		from, to int
		open     bool
	}
	for _, tc := range []struct {
		name string
		evs  []ev
		want []span
	}{
		{"ready", []ev{{event.ProvisioningStarted, 0}, {event.Ready, 3}}, []span{{"provisioning", 0, 3, false}, {"ready", 3, 60, true}}},
		{"queued", []ev{{event.Created, 0}, {event.ProvisioningStarted, 2}, {event.Ready, 5}}, []span{{"queued", 0, 2, false}, {"provisioning", 2, 5, false}, {"ready", 5, 60, true}}},
		{"deployed and flapping", []ev{{event.ProvisioningStarted, 0}, {event.Ready, 3}, {event.Deployed, 10}, {event.Degraded, 20}, {event.Degraded, 21}, {event.Recovered, 25}},
			[]span{{"provisioning", 0, 3, false}, {"ready", 3, 20, false}, {"degraded", 20, 25, false}, {"ready", 25, 60, true}}},
		{"late", []ev{{event.ProvisioningStarted, 0}, {event.ProvisioningFailed, 30}, {event.Ready, 40}}, []span{{"provisioning", 0, 30, false}, {"failed", 30, 40, false}, {"ready", 40, 60, true}}},
		{"terminated", []ev{{event.ProvisioningStarted, 0}, {event.Ready, 3}, {event.TerminationStarted, 30}, {event.Terminated, 31}},
			[]span{{"provisioning", 0, 3, false}, {"ready", 3, 30, false}, {"terminating", 30, 31, false}}},
		{"recovered without degraded", []ev{{event.ProvisioningStarted, 0}, {event.Ready, 3}, {event.Recovered, 9}}, []span{{"provisioning", 0, 3, false}, {"ready", 3, 60, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tl []apitypes.TimelineEntry
			for _, e := range tc.evs {
				tl = append(tl, apitypes.TimelineEntry{Event: e.n, Timestamp: at(e.m)})
			}
			var got []span
			for _, s := range Spans(tl, now) {
				got = append(got, span{s.Phase, int(s.Start.Sub(t0) / time.Minute), int(s.End.Sub(t0) / time.Minute), s.Open})
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestChecks: the readiness checks' times come from the first (not late) ready.
func TestChecks(t *testing.T) {
	tl := []apitypes.TimelineEntry{{Event: event.Ready, Timestamp: t0, Metadata: map[string]any{
		"readiness_summary": "All checks passed: sync 2025-03-04T08:58:00Z, health 2025-03-04T08:59:00Z, url 2025-03-04T09:00:00Z"}}}
	got := Checks(tl)
	require.Len(t, got, 3)
	require.Equal(t, "sync", got[0].Name)
	require.Equal(t, t0.Add(-2*time.Minute), got[0].At)
	require.Equal(t, "url", got[2].Name)
	require.Equal(t, t0, got[2].At)
	require.Empty(t, Checks([]apitypes.TimelineEntry{{Event: event.Ready, Metadata: map[string]any{"readiness_summary": "url answered"}}}))
}

// TestPageWeight: with 10,000 environments (100,000 events, about 10,000 attempts) in the window every page stays under 300 KB.
func TestPageWeight(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	evs, states := scenario.Synthetic(now, 30*24*time.Hour, 10000)
	var inWindow []event.Event // what the landing page's backend fetches: the window's events
	for _, e := range evs {
		if !e.Time.After(now) {
			inWindow = append(inWindow, e)
		}
	}
	_, h := newTestPages(inWindow, states, now)
	for _, target := range []string{"/?window=30d", "/insights?window=30d", "/environments/" + states[0].ID} {
		code, body := get(t, h, target)
		require.Equal(t, http.StatusOK, code)
		require.Less(t, len(body), 300<<10, "%s weighs %d bytes", target, len(body))
		t.Logf("%s: %d bytes", target, len(body))
		require.False(t, strings.Contains(body, "<script"))
	}
}

type fakeGaps []event.Gap

func (f fakeGaps) Gaps(from, to time.Time) ([]event.Gap, error) {
	var out []event.Gap
	for _, g := range f {
		if g.Overlaps(from, to) {
			out = append(out, g)
		}
	}
	return out, nil
}

// TestEnvPageShowsGaps (issue 19, item 2): a window in which Argo CD could not be seen
// during the environment's life is drawn across its bar and listed as "not observed
// from … to …"; a window outside its life is not.
func TestEnvPageShowsGaps(t *testing.T) {
	states := []tracker.State{{ID: "pr-1", Type: "preview", Phase: tracker.PhaseReady}}
	evs := []event.Event{
		{EnvironmentID: "pr-1", Name: event.ProvisioningStarted, Time: t0, Type: "preview"},
		{EnvironmentID: "pr-1", Name: event.Ready, Time: t0.Add(3 * time.Minute), Type: "preview"},
	}
	p, _ := newTestPages(evs, states, t0.Add(time.Hour))
	svc := p.o.Query().WithGaps(fakeGaps{
		{From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour), Source: event.GapArgoCD, Reason: event.GapRefused},
		{From: t0.Add(time.Minute), To: t0.Add(time.Minute + 20*time.Second), Source: event.GapArgoCD, Reason: event.GapStalled},
	})
	p.o.Query = func() *query.Service { return svc }
	mux := http.NewServeMux()
	p.Register(mux)
	code, body := get(t, mux, "/environments/pr-1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "not observed from 2025-03-04T09:01:00Z to 2025-03-04T09:01:20Z")
	require.Equal(t, 1, strings.Count(body, `<rect class="gap"`), "drawn once, across the bar")
	require.Equal(t, 1, strings.Count(body, `<tr class="gap"`))
	require.Contains(t, body, "stalled")
	require.NotContains(t, body, "2025-03-04T07:00:00Z", "a window before the life is not on its page")
}

// TestLandingListsStuckTerminations (issue 19, item 5): an environment terminating
// longer than readiness.termination_timeout is listed on the landing page, one that
// terminates within it is not.
func TestLandingListsStuckTerminations(t *testing.T) {
	states := []tracker.State{
		{ID: "pr-stuck", Type: "preview", Phase: tracker.PhaseTerminating, TerminationStartedAt: t0, TerminationStuckAt: t0.Add(time.Hour)},
		{ID: "pr-leaving", Type: "preview", Phase: tracker.PhaseTerminating, TerminationStartedAt: t0.Add(90 * time.Minute)},
	}
	_, h := newTestPages(nil, states, t0.Add(2*time.Hour))
	code, body := get(t, h, "/")
	require.Equal(t, http.StatusOK, code)
	_, stuck, ok := strings.Cut(body, `<h2 id="stuck">`)
	require.True(t, ok, "no stuck terminations section")
	stuck, _, _ = strings.Cut(stuck, "</table>")
	require.Contains(t, stuck, "pr-stuck")
	require.Contains(t, stuck, "2025-03-04T10:00:00Z")
	require.NotContains(t, stuck, "pr-leaving")

	_, h = newTestPages(nil, states[1:], t0.Add(2*time.Hour))
	_, body = get(t, h, "/")
	require.NotContains(t, body, `id="stuck"`, "nothing stuck: no section")
}

// TestEnvPageBoundsMarkers: the environment page of an environment with 13,000 CI
// markers lists the last envDeploymentsListed, says how many it leaves out, and draws at
// most one line per envMarkerColumn, each line saying how many deployments it stands for. Before, that page weighed 3.4 MB.
func TestEnvPageBoundsMarkers(t *testing.T) {
	const n = 13000
	evs := []event.Event{{EnvironmentID: "pr-1", Name: event.ProvisioningStarted, Time: t0}}
	for i := range n {
		mk := event.Marker{Host: "host1", Application: "app1", Activity: fmt.Sprintf("deployment-app1-1.0.%d", i), Status: "success"}
		evs = append(evs, event.Event{EnvironmentID: "pr-1", Name: event.Deployed, Time: t0.Add(time.Duration(i+1) * time.Minute), Metadata: mk.Metadata()})
	}
	states := []tracker.State{{ID: "pr-1", Phase: tracker.PhaseProvisioning, ProvisioningStartedAt: t0}}
	_, h := newTestPages(evs, states, t0.Add((n+1)*time.Minute))
	code, body := get(t, h, "/environments/pr-1")
	require.Equal(t, http.StatusOK, code)
	t.Logf("%d bytes", len(body))
	require.Less(t, len(body), 200<<10)
	require.Equal(t, envDeploymentsListed, strings.Count(body, `<tr class="deployment">`))
	require.Contains(t, body, fmt.Sprintf("The last %d; %d earlier ones are drawn above, not listed.", envDeploymentsListed, n-envDeploymentsListed))
	require.Contains(t, body, "deployment-app1-1.0.12999", "the most recent are listed")
	lines := strings.Count(body, `<line class="deploy`)
	require.LessOrEqual(t, float64(lines), (tlRight-tlLeft)/envMarkerColumn+1)
	require.Positive(t, lines)
	require.Contains(t, body, "deployments, the last deployment-app1-1.0.12999 at")

	// A few markers: each drawn and listed, as before.
	_, h = newTestPages(evs[:4], states, t0.Add(time.Hour))
	_, body = get(t, h, "/environments/pr-1")
	require.Equal(t, 3, strings.Count(body, `<line class="deploy`))
	require.Equal(t, 3, strings.Count(body, `<tr class="deployment">`))
	require.NotContains(t, body, "earlier-deployments")
}
