package argocd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestFutureFinishedAtReadOnce: an operation whose finishedAt lies past the 5-minute
// clamp is refused as evidence, so it could never mark its history as read; before,
// every poll fetched GET /api/v1/applications/{name} again for it. Its history is read
// once (while provisioning, and for a redeploy after ready), and a later operation with
// a real time is read again.
func TestFutureFinishedAtReadOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := h.clock.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	y2099 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	a := fakeargocd.NewApp("skewed-1", at(10*time.Second))
	fakeargocd.StartSync(&a, "r1r1r1r1", at(15*time.Second))
	fakeargocd.SyncSucceeded(&a, "r1r1r1r1", y2099)
	fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(70*time.Second))
	h.argo.SetApps([]fakeargocd.Application{a})
	h.start()

	polls := func(from time.Duration) int64 {
		t.Helper()
		before := h.argo.GetRequests()
		for i := range 4 {
			h.clock.Set(at(from + time.Duration(i)*15*time.Second))
			require.NoError(t, h.poll())
		}
		return h.argo.GetRequests() - before
	}
	require.Equal(t, int64(1), polls(2*time.Minute), "provisioning: one history read for the operation, not one per poll")
	evs := h.journal()
	require.Len(t, evs, 2, scenario.Describe(evs))
	require.Equal(t, event.Ready, evs[1].Name)
	require.False(t, evs[1].Time.After(at(3*time.Minute)), "ready is not dated in 2099: %s", evs[1].Time)

	// A redeploy after ready whose finishedAt is in the future: read once too.
	require.True(t, h.argo.Update("skewed-1", func(a *fakeargocd.Application) {
		fakeargocd.StartSync(a, "r2r2r2r2", at(4*time.Minute))
		fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, at(70*time.Second))
		fakeargocd.SyncSucceeded(a, "r2r2r2r2", y2099.Add(time.Hour))
	}))
	require.Equal(t, int64(1), polls(5*time.Minute), "redeploy: one history read")

	// A later operation with a real finishedAt is read (and recorded) as usual.
	require.True(t, h.argo.Update("skewed-1", func(a *fakeargocd.Application) {
		fakeargocd.StartSync(a, "r3r3r3r3", at(7*time.Minute))
		fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, at(70*time.Second))
		fakeargocd.SyncSucceeded(a, "r3r3r3r3", at(7*time.Minute+20*time.Second))
	}))
	require.Equal(t, int64(1), polls(8*time.Minute), "a real operation: one history read")
	evs = h.journal()
	last := evs[len(evs)-1]
	require.Equal(t, event.Deployed, last.Name, scenario.Describe(evs))
	require.Equal(t, "r3r3r3r3", last.Metadata["revision"])
	require.Equal(t, at(7*time.Minute+20*time.Second), last.Time)
}
