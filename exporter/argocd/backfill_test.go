package argocd

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestBackfillHistoryOnFirstSight (issue 9): an Application found running on first
// sight with 3 history entries yields 3 backfilled deployed events at their
// deployedAt; a restart does not repeat them; a deployment made while envtrack was
// down is recorded once, live.
func TestBackfillHistoryOnFirstSight(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := h.clock.Now()
	created := now.Add(-3 * time.Hour)
	a := fakeargocd.NewApp("legacy-1", created, fakeargocd.WithType("staging"))
	deploys := []struct {
		rev           string
		started, done time.Time
	}{
		{"aaaa1111aaaa1111", created.Add(5 * time.Second), created.Add(2 * time.Minute)},
		{"bbbb2222bbbb2222", now.Add(-2 * time.Hour), now.Add(-2*time.Hour + 70*time.Second)},
		{"cccc3333cccc3333", now.Add(-time.Hour), now.Add(-time.Hour + 45*time.Second)},
	}
	healthyAt := created.Add(3 * time.Minute)
	for i, d := range deploys {
		fakeargocd.StartSync(&a, d.rev, d.started)
		if i > 0 {
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, healthyAt) // a rolling update keeps serving
		}
		fakeargocd.SyncSucceeded(&a, d.rev, d.done)
		if i == 0 {
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, healthyAt)
		}
	}
	h.argo.SetApps([]fakeargocd.Application{a})

	stop := h.startStoppable()
	h.clock.Set(now.Add(15 * time.Second))
	require.NoError(t, h.poll())
	evs := h.journal()
	require.Len(t, evs, 5, scenario.Describe(evs))
	require.Equal(t, event.ProvisioningStarted, evs[0].Name)
	require.Equal(t, created, evs[0].Time)
	require.Equal(t, event.Ready, evs[1].Name)
	require.Equal(t, healthyAt, evs[1].Time, "ready when the first sync and health were done, not at the latest redeploy")
	prev := ""
	for i, d := range deploys {
		e := evs[2+i]
		require.Equal(t, event.Deployed, e.Name, scenario.Describe(evs))
		require.Equal(t, d.done, e.Time, "deployment %d at its deployedAt", i)
		require.Equal(t, d.rev, e.Metadata["revision"])
		require.Equal(t, d.done.Sub(d.started).Seconds(), e.Metadata["deploy_duration_seconds"])
		if prev != "" {
			require.Equal(t, prev, e.Metadata["previous_revision"])
		}
		prev = d.rev
	}
	for _, e := range evs {
		require.Equal(t, true, e.Metadata["backfill"], "%s is history", e.Name)
	}

	// A restart sees the same Application: nothing is repeated.
	stop()
	stop = h.startStoppable()
	h.clock.Set(now.Add(30 * time.Second))
	require.NoError(t, h.poll())
	require.Len(t, h.journal(), 5, scenario.Describe(h.journal()))

	// A deployment made while envtrack was down is recorded once, live, at its time.
	stop()
	d4 := now.Add(40 * time.Second)
	require.True(t, h.argo.Update("legacy-1", func(a *fakeargocd.Application) {
		fakeargocd.StartSync(a, "dddd4444dddd4444", d4.Add(-20*time.Second))
		fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, healthyAt)
		fakeargocd.SyncSucceeded(a, "dddd4444dddd4444", d4)
	}))
	h.startStoppable()
	for _, at := range []time.Duration{time.Minute, 75 * time.Second} {
		h.clock.Set(now.Add(at))
		require.NoError(t, h.poll())
	}
	evs = h.journal()
	require.Len(t, evs, 6, scenario.Describe(evs))
	require.Equal(t, event.Deployed, evs[5].Name)
	require.Equal(t, d4, evs[5].Time)
	require.Equal(t, "cccc3333cccc3333", evs[5].Metadata["previous_revision"])
	require.NotContains(t, evs[5].Metadata, "backfill")
}

// TestHistoryReadFailureDefers: while reading status.history fails (a 500, a cut
// answer) although the list succeeds, no deployment is recorded and an Application
// seen for the first time is left for later; once the read succeeds every deployment
// is recorded at its own time, once, and the backfill happens.
func TestHistoryReadFailureDefers(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := h.clock.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	live := fakeargocd.NewApp("live-1", at(10*time.Second))
	fakeargocd.StartSync(&live, "r1r1r1r1", at(15*time.Second))
	fakeargocd.SyncSucceeded(&live, "r1r1r1r1", at(time.Minute))
	fakeargocd.SetHealth(&live, fakeargocd.HealthHealthy, at(70*time.Second))
	h.argo.SetApps([]fakeargocd.Application{live})
	h.start()
	h.clock.Set(at(2 * time.Minute))
	require.NoError(t, h.poll())
	require.Len(t, h.journal(), 2, scenario.Describe(h.journal()))

	keep := func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, at(70*time.Second)) }
	require.True(t, h.argo.Update("live-1", func(a *fakeargocd.Application) {
		fakeargocd.StartSync(a, "r2r2r2r2", at(3*time.Minute))
		keep(a)
		fakeargocd.SyncSucceeded(a, "r2r2r2r2", at(3*time.Minute+30*time.Second))
		fakeargocd.StartSync(a, "r3r3r3r3", at(4*time.Minute))
		keep(a)
		fakeargocd.SyncSucceeded(a, "r3r3r3r3", at(4*time.Minute+20*time.Second))
	}))
	legacy := fakeargocd.NewApp("legacy-2", at(-5*time.Hour))
	fakeargocd.SyncSucceeded(&legacy, "l1l1l1l1", at(-5*time.Hour+time.Minute))
	fakeargocd.SetHealth(&legacy, fakeargocd.HealthHealthy, at(-5*time.Hour+2*time.Minute))
	h.argo.Upsert(legacy)

	for i, f := range []fakeargocd.Fault{fakeargocd.ServerError("rpc error: code = Internal"), fakeargocd.Truncated()} {
		h.argo.SetGetFault(f)
		h.clock.Set(at(5*time.Minute + time.Duration(i)*15*time.Second))
		require.NoError(t, h.poll(), "the list answered")
		require.Len(t, h.journal(), 2, "a failed history read became a transition: %s", scenario.Describe(h.journal()))
	}
	h.argo.ClearGetFault()
	h.clock.Set(at(6 * time.Minute))
	require.NoError(t, h.poll())
	got := map[string][]event.Event{}
	for _, e := range h.journal() {
		got[e.EnvironmentID] = append(got[e.EnvironmentID], e)
	}
	l := got["live-1"]
	require.Len(t, l, 4, scenario.Describe(l))
	require.Equal(t, at(3*time.Minute+30*time.Second), l[2].Time)
	require.Equal(t, "r2r2r2r2", l[2].Metadata["revision"])
	require.Equal(t, at(4*time.Minute+20*time.Second), l[3].Time)
	require.Equal(t, "r3r3r3r3", l[3].Metadata["revision"])
	g := got["legacy-2"]
	require.Len(t, g, 3, scenario.Describe(g))
	require.Equal(t, event.Deployed, g[2].Name)
	require.Equal(t, at(-5*time.Hour+time.Minute), g[2].Time)
	require.Equal(t, true, g[2].Metadata["backfill"])
}

// TestWatchFirstSightHistoryFromStream (issue 23): a watch's first session asks the
// stream for status.history, so the first sight of Applications running before tracking
// began reads none on its own (GET /api/v1/applications/{name}), and backfills the same
// deployments, at the same times, with the same revisions, as a poll that reads each. A
// later session (here after Argo CD ended the stream) holds every listed name already,
// asks without it, and reads the history of the one Application redeployed then.
func TestWatchFirstSightHistoryFromStream(t *testing.T) {
	journals := map[bool][]event.Event{}
	for _, watch := range []bool{false, true} {
		h := newHarness(t, harnessOpts{watch: watch})
		now := h.clock.Now()
		var apps []fakeargocd.Application
		deployments := 0
		for i := range 12 {
			created := now.Add(-time.Duration(3+i) * time.Hour)
			a := fakeargocd.NewApp(fmt.Sprintf("legacy-%02d", i), created, fakeargocd.WithType("staging"))
			for k := range 1 + i%3 { // one to three deployments each
				at := created.Add(time.Duration(k)*time.Hour + time.Minute)
				fakeargocd.StartSync(&a, fmt.Sprintf("%02d%02dabcdabcdabcd", i, k), at.Add(-40*time.Second))
				fakeargocd.SyncSucceeded(&a, fmt.Sprintf("%02d%02dabcdabcdabcd", i, k), at)
				fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, created.Add(2*time.Minute))
				deployments++
			}
			apps = append(apps, a)
		}
		// Running, never synced by an operation: no status.history at all.
		bare := fakeargocd.NewApp("legacy-bare", now.Add(-time.Hour))
		bare.Status.Sync.Status = fakeargocd.SyncSynced
		fakeargocd.SetHealth(&bare, fakeargocd.HealthHealthy, now.Add(-59*time.Minute))
		apps = append(apps, bare)
		h.argo.SetApps(apps)
		h.start()
		h.clock.Set(now.Add(15 * time.Second))
		if !watch {
			require.NoError(t, h.poll())
			journals[watch] = h.journal()
			continue
		}
		h.watchTick()
		require.True(t, h.streamHistory(), "a process's first session asks for the histories")
		require.Zero(t, h.argo.GetRequests(), "no history read on its own")
		journals[watch] = h.journal()
		backfilled := 0
		for _, e := range journals[watch] {
			require.Equal(t, true, e.Metadata["backfill"], "%s is history", e.Name)
			if e.Name == event.Deployed {
				backfilled++
			}
		}
		require.Equal(t, deployments, backfilled, scenario.Describe(journals[watch]))

		// A new session after Argo CD ended the stream, then one Application redeployed.
		h.argo.BreakStreams(fakeargocd.StreamClose)
		h.waitFor("the second session", func() bool {
			return h.gathered("envtrack_argocd_watch_sessions_total") == 2 && h.streamSynced()
		})
		require.False(t, h.streamHistory(), "a resync's session holds every name: no histories in its stream")
		done := now.Add(30 * time.Second)
		require.True(t, h.argo.Update("legacy-00", func(a *fakeargocd.Application) {
			fakeargocd.StartSync(a, "ffffeeeeddddcccc", done.Add(-10*time.Second))
			fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, now.Add(-3*time.Hour+2*time.Minute))
			fakeargocd.SyncSucceeded(a, "ffffeeeeddddcccc", done)
		}))
		h.clock.Set(now.Add(45 * time.Second))
		h.watchTick()
		require.Equal(t, int64(1), h.argo.GetRequests(), "the redeployed Application's history, read")
		evs := h.journal()
		require.Len(t, evs, len(journals[watch])+1, scenario.Describe(evs))
		last := evs[len(evs)-1]
		require.Equal(t, event.Deployed, last.Name)
		require.Equal(t, "legacy-00", last.EnvironmentID)
		require.Equal(t, done, last.Time)
		require.Equal(t, "ffffeeeeddddcccc", last.Metadata["revision"])
	}
	require.Equal(t, journalByEnv(t, journals[false]), journalByEnv(t, journals[true]))
}

// streamHistory reports whether the watch's current session asked the stream for
// status.history.
func (h *harness) streamHistory() bool {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return h.w.streamHistory
}
