package tracker

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// stepAll applies obs to a zero state and returns the final state and every event.
func stepAll(c Config, obs ...Observation) (State, []event.Event) {
	var s State
	var all []event.Event
	for _, o := range obs {
		var evs []event.Event
		s, evs = Step(s, o, loaded(c))
		all = append(all, evs...)
	}
	return s, all
}

func requireEvents(t *testing.T, got []event.Event, want ...want) {
	t.Helper()
	require.Len(t, got, len(want), "events: %s", names(got))
	for i, w := range want {
		require.Equal(t, w.name, got[i].Name, "event %d: %s", i, names(got))
		require.Equal(t, at(w.at), got[i].Time, "event %d (%s) time: %s", i, w.name, names(got))
		for k, v := range w.meta {
			require.Equal(t, v, got[i].Metadata[k], "event %d (%s) metadata %q", i, w.name, k)
		}
	}
}

// TestNoTimeoutOnStaleEvidence (issue 19, item 1): a deadline is decided only by an
// answer asked for after it. What a stalled stream (or a view evaluated again) shows is
// no such answer: it decides nothing the evidence dates after the deadline, and the
// confirmation that comes later decides by its evidence, dated and reasoned by it.
func TestNoTimeoutOnStaleEvidence(t *testing.T) {
	cfg := Config{ProvisioningTimeout: 10 * time.Minute}
	started := want{event.ProvisioningStarted, "0s", nil}
	for _, tc := range []struct {
		name  string
		obs   []Observation
		want  []want
		phase Phase
	}{
		{
			name:  "an open stream past the deadline is no answer: no timeout",
			obs:   []Observation{seen("1m", newApp()), streamed("10m15s", newApp()), streamed("11m", newApp())},
			want:  []want{started},
			phase: PhaseProvisioning,
		},
		{
			name: "the confirmation shows the sync failed before the deadline: sync_failed at its finishedAt",
			obs: []Observation{seen("1m", newApp()), streamed("10m15s", newApp()),
				seen("10m20s", newApp(syncFailed("9m51s")))},
			want:  []want{started, {event.ProvisioningFailed, "9m51s", map[string]any{"reason": "sync_failed"}}},
			phase: PhaseFailed,
		},
		{
			name: "ready during the stall: ready at its evidence, never a timeout first",
			obs: []Observation{seen("1m", newApp()), streamed("10m15s", newApp()),
				seen("10m20s", newApp(synced("9m50s"), health("Healthy", "9m52s")))},
			want:  []want{started, {event.Ready, "9m52s", map[string]any{"provisioning_duration_seconds": 592.0}}},
			phase: PhaseReady,
		},
		{
			name: "evidence dated before the deadline decides without a confirmation",
			obs:  []Observation{seen("1m", newApp()), streamed("10m15s", newApp(syncFailed("9m51s")))},
			want: []want{started, {event.ProvisioningFailed, "9m51s", map[string]any{"reason": "sync_failed"}}},
		},
		{
			name: "a ready dated after the deadline waits for a confirmation: no success that was a timeout",
			obs: []Observation{seen("1m", newApp()), streamed("11m", newApp(synced("10m30s"), health("Healthy", "10m40s"))),
				streamed("11m15s", newApp(synced("10m30s"), health("Healthy", "10m40s")))},
			want:  []want{started},
			phase: PhaseProvisioning,
		},
		{
			name: "the confirmation decides the timeout first, then the late ready",
			obs: []Observation{seen("1m", newApp()), streamed("11m", newApp(synced("10m30s"), health("Healthy", "10m40s"))),
				seen("11m10s", newApp(synced("10m30s"), health("Healthy", "10m40s")))},
			want: []want{started, {event.ProvisioningFailed, "10m", map[string]any{"reason": "timeout"}},
				{event.Ready, "10m40s", map[string]any{"late": true}}},
		},
		{
			name:  "a list asked for before the deadline and answered after it is not fresh enough",
			obs:   []Observation{seen("1m", newApp()), {EnvironmentID: "pr-1", At: at("10m20s"), AskedAt: at("9m58s"), App: newApp()}},
			want:  []want{started},
			phase: PhaseProvisioning,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, got := stepAll(cfg, tc.obs...)
			requireEvents(t, got, tc.want...)
			if tc.phase != "" {
				require.Equal(t, tc.phase, s.Phase)
			}
		})
	}
}

// TestDue: the environments whose deadline passed on evidence asked for before it, the
// earliest deadline first, at most max; a confirmation takes an environment off, and so
// does a decision. Only Argo CD environments wait for a confirmation.
func TestDue(t *testing.T) {
	tr := New(loaded(Config{ProvisioningTimeout: 10 * time.Minute, TerminationTimeout: 30 * time.Minute}), nil)
	commit := func(_ []State, evs []event.Event) ([]event.Event, error) { return evs, nil }
	app := func(id string, opts ...appOpt) *Evidence {
		return newApp(append([]appOpt{func(a *Evidence) { a.AppName, a.EnvironmentID = "app-"+id, id }}, opts...)...)
	}
	obs := func(o Observation, id string) Observation { o.EnvironmentID = id; return o }
	_, err := tr.Process([]Observation{
		obs(seen("1m", app("a")), "a"),
		obs(seen("1m", app("b", createdAt("30s"))), "b"),
		obs(seen("1m", app("c", synced("50s"), health("Healthy", "55s"))), "c"),                  // ready
		obs(seen("1m", app("d", synced("50s"), health("Healthy", "55s"), deleting("59s"))), "d"), // terminating
		obs(push("1m", event.ProvisioningStarted, "0s", nil), "pushed"),
	}, commit)
	require.NoError(t, err)
	require.Empty(t, tr.Due(at("9m59s"), 0))
	due := tr.Due(at("10m5s"), 0)
	require.Len(t, due, 1, "b's deadline is 10m30s")
	require.Equal(t, Due{EnvironmentID: "a", AppName: "app-a", Deadline: at("10m")}, due[0])
	due = tr.Due(at("2h"), 0)
	require.Equal(t, []string{"a", "b", "d"}, []string{due[0].EnvironmentID, due[1].EnvironmentID, due[2].EnvironmentID})
	require.Equal(t, at("30m59s"), due[2].Deadline, "d terminates from 59s, for 30m")
	require.Len(t, tr.Due(at("2h"), 2), 2)

	// A stream event past the deadline does not take a off; the confirmation does.
	_, err = tr.Process([]Observation{obs(streamed("10m10s", app("a")), "a")}, commit)
	require.NoError(t, err)
	require.Equal(t, "a", tr.Due(at("10m10s"), 0)[0].EnvironmentID)
	evs, err := tr.Process([]Observation{obs(seen("10m20s", app("a")), "a")}, commit)
	require.NoError(t, err)
	require.Equal(t, event.ProvisioningFailed, evs[len(evs)-1].Name)
	require.NotContains(t, ids(tr.Due(at("2h"), 0)), "a")
	// b is confirmed not yet due: nothing decided, and not due again until its deadline.
	_, err = tr.Process([]Observation{obs(seen("10m20s", app("b", createdAt("30s"))), "b")}, commit)
	require.NoError(t, err)
	require.Contains(t, ids(tr.Due(at("10m31s"), 0)), "b")

	// A new configuration moves the deadlines.
	tr.SetConfig(loaded(Config{ProvisioningTimeout: time.Hour}))
	require.Empty(t, tr.Due(at("50m"), 0))
	require.Equal(t, []string{"b"}, ids(tr.Due(at("1h1m"), 0)))
}

func ids(due []Due) []string {
	var out []string
	for _, d := range due {
		out = append(out, d.EnvironmentID)
	}
	return out
}

// TestReadyAfterFailedHistoryRead (issue 19, item 3): when the history cannot be read at
// the moment an environment becomes ready, ready waits for it (read again with the next
// answer) and is then dated by it, never after the first answer that showed it ready; a
// redeploy inside that window is recorded once. Without the history for HistoryPatience,
// or when the environment no longer looks ready, ready is dated by the bound that answer
// gave.
func TestReadyAfterFailedHistoryRead(t *testing.T) {
	cfg := Config{ProvisioningTimeout: 10 * time.Minute}
	ready := func(extra ...appOpt) *Evidence {
		return newApp(append([]appOpt{synced("2m55s"), health("Healthy", "3m40s"), redeploy("2b2b", "3m42s", "3m48s")}, extra...)...)
	}
	history := withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "2b2b", "3m42s", "3m48s"))
	started := want{event.ProvisioningStarted, "0s", nil}
	for _, tc := range []struct {
		name  string
		cfg   Config
		obs   []Observation
		want  []want
		phase Phase
	}{
		{
			name:  "the history cannot be read: ready waits",
			obs:   []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())), tick("3m55s"), streamed("4m", ready())},
			want:  []want{started},
			phase: PhaseProvisioning,
		},
		{
			name: "read again: ready dated by its first sync, the redeploy recorded once after it",
			obs: []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())),
				streamed("4m", ready()), seen("4m5s", ready(history))},
			want: []want{started,
				{event.Ready, "3m40s", map[string]any{"revision": "1a2b3c4d5e6f", "detected_at": "2025-01-07T10:04:05Z"}},
				{event.Deployed, "3m48s", map[string]any{"revision": "2b2b", "previous_revision": "1a2b3c4d5e6f"}}},
			phase: PhaseReady,
		},
		{
			name: "read again after the deadline: still ready, no timeout",
			cfg:  Config{ProvisioningTimeout: 4 * time.Minute},
			obs: []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())),
				seen("4m30s", ready(historyPending())), seen("5m", ready(history))},
			want: []want{started, {event.Ready, "3m40s", nil}, {event.Deployed, "3m48s", nil}},
		},
		{
			name: "never later than the first answer that showed it ready",
			obs: []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())),
				// Flapped since: healthy again from 4m10s; the history says the first sync.
				seen("4m20s", ready(health("Healthy", "4m10s"), history))},
			want: []want{started, {event.Ready, "3m48s", nil}, {event.Deployed, "3m48s", nil}}[:2],
		},
		{
			name: "no history within HistoryPatience: dated by the bound the first answer gave, the redeploy in it",
			obs: []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())),
				seen("8m50s", ready(historyPending()))},
			want: []want{started, {event.Ready, "3m48s", map[string]any{"history_unread": true, "revision": "2b2b"}}},
		},
		{
			name: "no longer ready before the history came: the readiness seen stands",
			obs: []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())),
				seen("4m30s", ready(health("Degraded", "4m20s"), historyPending()))},
			want: []want{started, {event.Ready, "3m48s", map[string]any{"history_unread": true}},
				{event.Degraded, "4m20s", nil}},
		},
		{
			name: "gone before the history came: ready as seen, then gone",
			obs:  []Observation{seen("1m", newApp()), seen("3m50s", ready(historyPending())), gone("4m"), gone("4m15s")},
			want: []want{started, {event.Ready, "3m48s", map[string]any{"history_unread": true}}, {event.Terminated, "4m", nil}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.cfg.ProvisioningTimeout != 0 {
				c = tc.cfg
			}
			s, got := stepAll(c, tc.obs...)
			requireEvents(t, got, tc.want...)
			if tc.phase != "" {
				require.Equal(t, tc.phase, s.Phase)
			}
		})
	}
}

// TestTerminationStuck (issue 19, item 5): a termination that outlasts
// readiness.termination_timeout (per type) is flagged in the state once an answer asked
// for after the deadline still shows the environment, and the terminated event says it;
// a pushed-only environment is flagged by the ticks.
func TestTerminationStuck(t *testing.T) {
	cfg := loaded(Config{TerminationTimeout: time.Hour, TerminationTimeoutByType: map[string]time.Duration{"preview": 20 * time.Minute}})
	terminating := newApp(synced("2m55s"), health("Healthy", "3m40s"), deleting("9m"))
	s, _ := stepAll(cfg, seen("4m", newApp(synced("2m55s"), health("Healthy", "3m40s"))), seen("10m", terminating))
	require.Equal(t, PhaseTerminating, s.Phase)

	s, evs := Step(s, streamed("40m", terminating), cfg)
	require.Empty(t, evs)
	require.True(t, s.TerminationStuckAt.IsZero(), "a stream past the deadline does not show it is still there")
	s, evs = Step(s, seen("40m5s", terminating), cfg)
	require.Empty(t, evs, "a flag, not a transition")
	require.Equal(t, at("29m"), s.TerminationStuckAt, "deletion at 9m + 20m for previews")
	s, _ = Step(s, gone("41m"), cfg)
	s, evs = Step(s, gone("41m15s"), cfg)
	requireEvents(t, evs, want{event.Terminated, "41m", map[string]any{"termination_stuck": true, "termination_duration_seconds": 1920.0}})
	require.Equal(t, PhaseTerminated, s.Phase)

	// Another type: the default timeout; not stuck before it.
	other := newApp(synced("2m55s"), health("Healthy", "3m40s"), deleting("9m"), func(a *Evidence) { a.Type = "staging" })
	s, _ = stepAll(cfg, seen("10m", other), seen("40m", other))
	require.True(t, s.TerminationStuckAt.IsZero())
	s, _ = Step(s, seen("1h9m", other), cfg)
	require.Equal(t, at("1h9m"), s.TerminationStuckAt)

	// Pushed only: the ticks flag it.
	tr := New(cfg, nil)
	commit := func(_ []State, evs []event.Event) ([]event.Event, error) { return evs, nil }
	_, err := tr.Process([]Observation{
		push("1m", event.ProvisioningStarted, "0s", nil), push("2m", event.Ready, "2m", nil),
		push("3m", event.TerminationStarted, "3m", nil),
	}, commit)
	require.NoError(t, err)
	require.Len(t, tr.Ticks(at("10m")), 1)
	_, err = tr.Process(tr.Ticks(at("1h5m")), commit)
	require.NoError(t, err)
	st, _ := tr.Get("pr-1")
	require.Equal(t, at("1h3m"), st.TerminationStuckAt, "no type: the default hour")
	require.Empty(t, tr.Ticks(at("2h")), "flagged: no more ticks")
	require.Equal(t, []string{""}, slices.Collect(tr.StuckTypes), "what the stuck terminations gauge counts")
	evs, err = tr.Process([]Observation{push("2h", event.Terminated, "2h", nil)}, commit)
	require.NoError(t, err)
	require.Equal(t, true, evs[0].Metadata["termination_stuck"])
	require.Empty(t, slices.Collect(tr.StuckTypes), "terminated: no longer stuck")

	// No timeout configured: never stuck.
	s, _ = stepAll(loaded(Config{}), seen("10m", terminating), seen("100h", terminating))
	require.True(t, s.TerminationStuckAt.IsZero())
}
