package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Beyond denseDeploys deployments in the window, deployments leave the plot for a binned
// lane under it, so the attempts stay visible; below it, one bar each on the plot.
func TestDeploymentsLane(t *testing.T) {
	now := t0.Add(7 * 24 * time.Hour)
	build := func(deploys int) []event.Event {
		evs := []event.Event{
			{EnvironmentID: "a", Name: event.Ready, Type: "preview", Time: now.Add(-time.Hour), Metadata: map[string]any{event.MetaProvisioningDuration: 90.0}},
		}
		for i := range deploys {
			at := now.Add(-time.Duration(i+1) * 7 * 24 * time.Hour / time.Duration(deploys+1))
			evs = append(evs, event.Event{EnvironmentID: fmt.Sprintf("e%d", i%40), Name: event.Deployed, Type: "preview", Time: at, Metadata: map[string]any{event.MetaRevision: "abc"}})
		}
		return evs
	}
	_, h := newTestPages(build(1499), nil, now) // the demo's week
	code, body := get(t, h, "/?window=7d")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<g id="deploy-lane" data-n="1499" data-bins="110">`)
	require.NotContains(t, body, `<path class="deploys"`, "no bar over the attempts")
	require.Equal(t, 110, strings.Count(body, `<rect class="lane"`))
	require.Contains(t, body, "1499 of them, too dense to draw over the attempts")
	require.Contains(t, body, `viewBox="0 0 960 344"`, "the chart grows by the lane")

	_, h = newTestPages(build(denseDeploys), nil, now)
	_, body = get(t, h, "/?window=7d")
	require.NotContains(t, body, `id="deploy-lane"`)
	require.Contains(t, body, fmt.Sprintf(`<path class="deploys" data-n="%d" data-bars="%d"`, denseDeploys, denseDeploys))
}

// The insights page shows each type's budget and burn, and user failures apart; the
// environment page names a failure's class and the matcher that decided it.
func TestSLOPages(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	evs := []event.Event{
		{EnvironmentID: "ok", Name: event.Ready, Type: "preview", Time: now.Add(-3 * time.Hour), Metadata: map[string]any{event.MetaProvisioningDuration: 60.0}},
		{EnvironmentID: "u", Name: event.ProvisioningFailed, Type: "preview", Time: now.Add(-2 * time.Hour),
			Metadata: map[string]any{event.MetaReason: event.ReasonSyncFailed, event.MetaFailureClass: event.ClassUser, event.MetaFailureMatcher: "argocd-manifest-generation"}},
		{EnvironmentID: "p", Name: event.ProvisioningFailed, Type: "preview", Time: now.Add(-30 * time.Minute),
			Metadata: map[string]any{event.MetaReason: event.ReasonTimeout, event.MetaFailureClass: event.ClassPlatform, event.MetaFailureMatcher: "unmatched"}},
	}
	states := []tracker.State{{ID: "u", Type: "preview", Phase: tracker.PhaseFailed, FailureReason: event.ReasonSyncFailed,
		FailureClass: event.ClassUser, FailureMatcher: "argocd-manifest-generation", ProvisioningStartedAt: now.Add(-3 * time.Hour), FailedAt: now.Add(-2 * time.Hour)}}
	cfg := config.DefaultConfig()
	p, _ := newTestPagesWith(&cfg, evs, states, now)
	svc := query.NewService(fakeBackend(evs), config.DefaultTargetsConfig, func() time.Time { return now }).WithSLOs(config.DefaultSLOs)
	p.o.Query = func() *query.Service { return svc }
	mux := http.NewServeMux()
	p.Register(mux)

	code, body := get(t, mux, "/insights?window=24h")
	require.Equal(t, http.StatusOK, code)
	// Success: 1 ready + 1 user failure good, 1 platform failure bad: 66.67 %, a 2 %
	// budget overspent; the last hour holds the platform's failure alone: burn 50.
	require.Contains(t, body, `<tr class="slo" data-type="preview" data-sli="success" data-budget="spent">`)
	require.Contains(t, body, `<td class="num">66.67%</td><td class="num budget">-1566.67%</td>`)
	require.Contains(t, body, `<td class="num burn">50</td><td class="num">1</td><td class="num">1</td>`)
	require.Contains(t, body, `<tr class="slo" data-type="preview" data-sli="latency" data-budget="ok">`)
	require.Contains(t, body, `<td class="num user">1</td><td class="num platform">1</td>`)

	code, body = get(t, mux, "/?window=24h") // the landing page: each type's budgets
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<table id="slo-summary">`)
	require.Contains(t, body, `<td class="num bad">-1566.67%</td><td class="num">50</td><td class="num">1</td><td class="num">1</td></tr>`)

	code, body = get(t, mux, "/environments/u")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `id="failure-class" data-class="user"><strong>user</strong> (what was asked cannot work: a success of the platform)`)
	require.Contains(t, body, `<code id="failure-matcher">argocd-manifest-generation</code>`)
	code, body = get(t, mux, "/environments/p") // from the event alone
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-class="platform"`)
	require.Contains(t, body, `<code id="failure-matcher">unmatched</code>`)
}
