package argocd

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

func (h *harness) mode() string {
	if h.watch {
		return "watch"
	}
	return "poll"
}

// hangGuard bounds a wait on a condition; it is not a speed check.
const hangGuard = 2 * time.Minute

// waitFor waits until cond holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// streamSynced reports whether the daemon's watch is live on one stream and has
// handled every event and keepalive the fake Argo CD wrote on it for the world as it is
// now.
func (h *harness) streamSynced() bool {
	if !h.argo.StreamsCaughtUp() {
		return false
	}
	chunks, keeps := h.argo.OpenStreamChunks(), h.argo.OpenStreamKeepalives()
	return len(chunks) == 1 && h.w.stats.sessionEvents.Load() == chunks[0] && h.w.stats.sessionKeepalives.Load() == keeps[0]
}

// confirmed reports whether no round of confirmations is in flight.
func (h *harness) confirmed() bool {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return !h.w.inFlight
}

// keepalive makes Argo CD write its keepalive (every 15 s of the scenario's clock, as
// the real one does on the wall clock) and waits until the daemon handled it.
func (h *harness) keepalive() {
	h.argo.Keepalive()
	h.waitFor("the keepalive", h.streamSynced)
}

// watchTickLive evaluates the watch source's view now (what its ticker does every
// poll_interval), waits for the confirmations it starts, and reports whether the stream
// was live.
func (h *harness) watchTickLive() (bool, error) {
	h.w.mu.Lock()
	live := h.w.live
	h.w.mu.Unlock()
	err := h.w.tick()
	h.waitFor("the confirmations", h.confirmed)
	return live, err
}

// watchTick waits until the daemon has handled what the stream sent for the current
// world (and a keepalive), then evaluates its view (what the ticker does every
// poll_interval).
func (h *harness) watchTick() {
	h.t.Helper()
	h.waitFor("the stream to deliver the world", h.streamSynced)
	h.keepalive()
	live, err := h.watchTickLive()
	require.NoError(h.t, err)
	require.True(h.t, live, "the watch is live")
}

// eventKey is what must agree between two journals: the event, its time, its metadata.
type eventKey struct {
	Name event.Name
	Time string
	Meta string
}

// journalByEnv keys the journal by environment. Metadata that only the stream can
// carry is left out: Argo CD's list answers `fields` from a fixed table that drops
// status.operationState.message, while the stream's generic filter keeps it.
func journalByEnv(t *testing.T, evs []event.Event) map[string][]eventKey {
	out := map[string][]eventKey{}
	for _, e := range evs {
		m := maps.Clone(e.Metadata)
		delete(m, "message")
		meta, err := json.Marshal(m) // sorted keys
		require.NoError(t, err)
		out[e.EnvironmentID] = append(out[e.EnvironmentID], eventKey{e.Name, e.Time.Format(time.RFC3339Nano), string(meta)})
	}
	return out
}

// TestScenarioWatchMatchesPoll plays the same scenario in poll mode and in watch mode,
// once with the histories in the stream (a process's first session asks for them) and
// once reading each on its own (as a resync's session does): the journals are the same,
// event for event, to the nanosecond, and all are what the scenario expects.
func TestScenarioWatchMatchesPoll(t *testing.T) {
	journals := map[string][]event.Event{}
	gets := map[string]int64{}
	for _, mode := range []string{"poll", "watch", "watch reading histories"} {
		watch := mode != "poll"
		h := newHarness(t, harnessOpts{perKind: 1, static: 1, watch: watch, readHistories: mode == "watch reading histories"})
		h.start()
		for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
			h.step(at)
		}
		journals[mode] = h.journal()
		gets[mode] = h.argo.GetRequests()
		scenario.CheckJournal(t, h.sc, journals[mode], true)
		if watch {
			require.Equal(t, 1.0, h.gathered("envtrack_argocd_watch_sessions_total"), "one session: no reconnect")
			mode := h.gathered("envtrack_argocd_mode", "mode", "watch")
			require.Equal(t, 1.0, mode)
		}
	}
	for _, mode := range []string{"watch", "watch reading histories"} {
		require.Equal(t, journalByEnv(t, journals["poll"]), journalByEnv(t, journals[mode]), mode)
		require.Len(t, journals[mode], len(journals["poll"]), mode)
		// The stream brings the failed sync's message, which the trimmed list cannot.
		for _, e := range journals[mode] {
			if e.Meta("reason") == "sync_failed" {
				require.Contains(t, e.Meta("message"), "one or more objects failed to apply")
			}
		}
	}
	// Only the deadlines' confirmations read Applications one by one when the stream
	// carries the histories.
	require.Less(t, gets["watch"], gets["watch reading histories"], "GET /api/v1/applications/{name}: %v", gets)
	t.Logf("GET /api/v1/applications/{name}: %v", gets)
}

// TestWatchStreamFaults breaks the stream in every way while the scenario plays: cut in
// the middle of an event, a 401 error chunk, Argo CD restarting (a clean end, then a
// new snapshot), and a 401/503 window during which nothing can be seen. The journal is
// still exactly what the scenario expects: no false transition, nothing missed.
func TestWatchStreamFaults(t *testing.T) {
	var logs testinfra.SyncBuffer
	h := newHarness(t, harnessOpts{perKind: 1, static: 1, watch: true})
	h.logger = log.NewLogfmtLogger(&logs)
	h.start()
	faults := map[int]func(){
		20: func() { h.argo.BreakStreams(fakeargocd.StreamCut) },
		45: func() { h.argo.BreakStreams(fakeargocd.StreamUnauthorized) },
		70: func() { h.argo.BreakStreams(fakeargocd.StreamClose) },
		// Restart with a new snapshot while several environments change at once.
		100: func() { h.argo.SetStreamMode(fakeargocd.StreamNormal); h.argo.BreakStreams(fakeargocd.StreamClose) },
	}
	i := 0
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.clock.Set(at)
		if f := faults[i]; f != nil {
			// The break comes while the world changes: some events of this step may be
			// lost with the stream; the new session's snapshot brings them.
			h.waitFor("the stream", h.streamSynced)
			f()
		}
		h.argo.SetApps(h.sc.Apps(at))
		h.watchTick()
		h.probeRound()
		i++
	}
	scenario.CheckJournal(t, h.sc, h.journal(), true)
	require.Equal(t, 5.0, h.gathered("envtrack_argocd_watch_sessions_total"), "four breaks, four new sessions")
	require.Contains(t, logs.String(), "Argo CD watch failed")
	require.Contains(t, logs.String(), "Argo CD ended the application stream")
}

// TestWatchFallsBackToPolling: a stream that is refused (404, 501) or that a proxy
// buffers (no event within request_timeout although Argo CD lists Applications) makes
// envtrack poll instead; it says so in a log line and envtrack_argocd_mode, and tracks
// everything exactly once.
func TestWatchFallsBackToPolling(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode fakeargocd.StreamMode
	}{
		{"buffering proxy", fakeargocd.StreamBuffered},
		{"404", fakeargocd.StreamNotFound},
		{"501", fakeargocd.StreamUnimplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now().UTC()
			var apps []fakeargocd.Application
			for _, n := range []string{"pr-1", "pr-2", "pr-3"} {
				a := fakeargocd.NewApp(n, now.Add(-time.Minute))
				fakeargocd.StartSync(&a, "1a2b3c4d5e6f", now.Add(-50*time.Second))
				apps = append(apps, a)
			}
			argo := fakeargocd.NewServer(t, fakeargocd.WithToken("t"), fakeargocd.WithApps(apps...))
			argo.SetStreamMode(tc.mode)
			var logs testinfra.SyncBuffer
			h := &harness{t: t, dir: t.TempDir(), logger: log.NewLogfmtLogger(&logs), running: true}
			h.cfg = filepath.Join(h.dir, "envtrack.yml")
			require.NoError(t, os.WriteFile(h.cfg, []byte(fmt.Sprintf(`state_dir: %s
argocd: {server: %s, token: t, poll_interval: 50ms, request_timeout: 500ms}
`, filepath.Join(h.dir, "data"), argo.URL())), 0o600))
			h.start() // the source's own loop, on the real clock

			polls := func() float64 { return h.gathered("envtrack_argocd_polls_total") }
			h.waitFor("polling", func() bool { return strings.Contains(logs.String(), "polling instead") && polls() >= 3 })
			require.Equal(t, 1.0, h.gathered("envtrack_argocd_mode", "mode", "poll"))
			require.Equal(t, 0.0, h.gathered("envtrack_argocd_mode", "mode", "watch"))
			// Changes are seen by polling.
			argo.Update("pr-2", func(app *fakeargocd.Application) {
				fakeargocd.SyncSucceeded(app, "1a2b3c4d5e6f", now.Add(time.Second))
				fakeargocd.SetHealth(app, fakeargocd.HealthHealthy, now.Add(2*time.Second))
			})
			h.waitFor("pr-2 ready", func() bool { s, _ := h.side.Get("pr-2"); return s.Phase == "ready" })
			base := polls()
			h.waitFor("two more polls", func() bool { return polls() >= base+2 })
			var got []string
			for _, e := range h.journal() {
				got = append(got, e.EnvironmentID+" "+string(e.Name))
			}
			require.ElementsMatch(t, []string{"pr-1 provisioning_started", "pr-2 provisioning_started", "pr-3 provisioning_started", "pr-2 ready"}, got)
			if tc.mode == fakeargocd.StreamBuffered {
				require.Contains(t, logs.String(), "delivered nothing within the timeout")
			}
		})
	}
}

// TestOneEnvironmentManyApplications: three Applications claim one environment (two by
// its label, one by its name). As in a poll, the first by name wins, whatever order the
// stream brings them in: both modes record the environment from a-claim alone.
func TestOneEnvironmentManyApplications(t *testing.T) {
	journals := map[bool][]event.Event{}
	for _, watch := range []bool{false, true} {
		h := newHarness(t, harnessOpts{watch: watch})
		now := h.clock.Now()
		app := func(name, branch, rev, health string, opts ...fakeargocd.AppOption) fakeargocd.Application {
			a := fakeargocd.NewApp(name, now.Add(-10*time.Minute), append(opts, fakeargocd.WithBranch(branch))...)
			fakeargocd.StartSync(&a, rev, now.Add(-9*time.Minute))
			fakeargocd.SyncSucceeded(&a, rev, now.Add(-8*time.Minute))
			fakeargocd.SetHealth(&a, health, now.Add(-7*time.Minute))
			return a
		}
		h.argo.SetApps([]fakeargocd.Application{
			app("shared", "feature/c", "cccc3333cccc3333", fakeargocd.HealthDegraded), // claims it by name
			app("b-claim", "feature/b", "bbbb2222bbbb2222", fakeargocd.HealthDegraded, fakeargocd.WithEnvironmentID("shared")),
			app("a-claim", "feature/a", "aaaa1111aaaa1111", fakeargocd.HealthHealthy, fakeargocd.WithEnvironmentID("shared")),
		})
		h.start()
		h.clock.Set(now.Add(15 * time.Second))
		if watch {
			h.watchTick()
		} else {
			require.NoError(t, h.poll())
		}
		journals[watch] = h.journal()
		require.NotEmpty(t, journals[watch])
		for _, e := range journals[watch] {
			require.Equal(t, "shared", e.EnvironmentID)
			require.Equal(t, "feature/a", e.Branch, "%s: %s", h.mode(), scenario.Describe(journals[watch]))
		}
	}
	require.Equal(t, journalByEnv(t, journals[false]), journalByEnv(t, journals[true]))
}
