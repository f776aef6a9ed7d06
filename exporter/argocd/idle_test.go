package argocd

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestWatchIdleCostFollowsChange (issue 23): once the watch is live, an evaluation of
// its view examines what changed since the last one and the environments time can
// change, never every Application: with 300 settled Applications an evaluation
// examines none (a sweep of the view examines 600), with one provisioning, that one. A
// change, a deletion and a deadline are still decided there, as a whole view would.
// The evaluations are stepped on the scenario's clock; the cost is counted
// (tracker.Visited), not timed.
func TestWatchIdleCostFollowsChange(t *testing.T) {
	const settledApps = 300
	h := newHarness(t, harnessOpts{watch: true, timeout: 10 * time.Minute})
	now := h.clock.Now()
	apps := make([]fakeargocd.Application, 0, settledApps+1)
	for i := 0; i < settledApps; i++ {
		a := fakeargocd.NewApp(fmt.Sprintf("pr-%03d", i), now.Add(-time.Hour))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", now.Add(-59*time.Minute))
		fakeargocd.SyncSucceeded(&a, "1a2b3c4d5e6f", now.Add(-58*time.Minute))
		fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, now.Add(-57*time.Minute))
		apps = append(apps, a)
	}
	h.argo.SetApps(apps)
	h.start()
	h.clock.Set(now.Add(15 * time.Second))
	h.watchTick() // live: the session's first evaluation looked at the whole view

	visited := h.side.Visited()
	for i := 2; i <= 6; i++ {
		h.clock.Set(now.Add(time.Duration(i) * 15 * time.Second))
		h.watchTick()
	}
	require.Zero(t, h.side.Visited()-visited, "states examined by five evaluations with nothing in flux")

	// One Application provisioning: each evaluation looks at it, and only at it.
	prov := fakeargocd.NewApp("prov", now.Add(-time.Minute))
	fakeargocd.StartSync(&prov, "1a2b3c4d5e6f", now.Add(-50*time.Second))
	h.argo.SetApps(append(apps, prov))
	h.clock.Set(now.Add(7 * 15 * time.Second))
	h.watchTick()
	visited = h.side.Visited()
	for i := 8; i <= 11; i++ {
		h.clock.Set(now.Add(time.Duration(i) * 15 * time.Second))
		h.watchTick()
	}
	require.Equal(t, int64(4), h.side.Visited()-visited, "states examined by four evaluations: prov's")

	// A change and a deletion are evaluated, and only they.
	h.argo.Update("pr-007", func(a *fakeargocd.Application) {
		fakeargocd.SetHealth(a, fakeargocd.HealthDegraded, now.Add(3*time.Minute))
	})
	require.True(t, h.argo.Delete("pr-008"))
	visited = h.side.Visited()
	h.clock.Set(now.Add(12 * 15 * time.Second))
	h.watchTick()
	h.clock.Set(now.Add(13 * 15 * time.Second))
	h.watchTick()
	require.LessOrEqual(t, h.side.Visited()-visited, int64(2+3+3), "prov twice, pr-007, pr-008 counting its absences")
	s, _ := h.side.Get("pr-007")
	require.Equal(t, "degraded", string(s.Phase))
	s, _ = h.side.Get("pr-008")
	require.Equal(t, "terminated", string(s.Phase), "absent from two evaluations")

	// prov's deadline passes: confirmed by its own answer, then decided.
	h.clock.Set(now.Add(11 * time.Minute))
	h.watchTick()
	h.clock.Set(now.Add(11*time.Minute + 15*time.Second))
	h.watchTick()
	s, _ = h.side.Get("prov")
	require.Equal(t, "failed", string(s.Phase))
	var names []event.Name
	for _, e := range h.journal() {
		if e.EnvironmentID == "prov" {
			names = append(names, e.Name)
		}
	}
	require.Equal(t, []event.Name{event.ProvisioningStarted, event.ProvisioningFailed}, names)
}
