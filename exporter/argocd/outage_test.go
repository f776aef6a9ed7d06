package argocd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// Source modes the outage scenario runs in. The watch source (issue 9, items 1-2)
// adds its driver here; both must yield the same journal.
const (
	modePoll  = "poll"
	modeWatch = "watch"
)

// outageHarness plays scenario.Outage against an in-process envtrack on a virtual
// clock: the fake Argo CD fails during the scenario's windows, polls follow the
// daemon's own schedule (poll_interval, pollRetryWait after an error), probes run on
// their own grid whatever Argo CD does.
type outageHarness struct {
	*harness
	out *scenario.Outage
	// restartAt, if set, restarts envtrack (same state) before the first poll at or
	// after it.
	restartAt time.Time
	stop      func()
}

func newOutageHarness(t *testing.T, mode string) *outageHarness {
	h := &harness{t: t, clock: &testclock.Clock{}, dir: t.TempDir(), timeout: scenario.Timeout, watch: mode == modeWatch,
		request: outageRequestTimeout, playedTimeouts: true}
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	h.clock.Set(start)
	h.argo = fakeargocd.NewServer(t, fakeargocd.WithToken("argo-secret-token"))
	var op atomic.Pointer[scenario.Outage]
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := op.Load().Story(strings.TrimPrefix(r.URL.Path, "/env/"))
		if !ok || !st.URLAnswers(h.clock.Now()) {
			http.Error(w, "upstream not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(us.Close)
	o := &outageHarness{harness: h, out: scenario.NewOutage(start, us.URL)}
	op.Store(o.out)
	h.sc = &scenario.Scenario{Start: start} // no static environments
	h.cfg = filepath.Join(h.dir, "envtrack.yml")
	h.writeConfig("")
	return o
}

// pollLog is what the driver saw of each poll.
type pollLog struct {
	at  time.Time
	err error
}

// outageProbeEvery is how often the driver probes the URLs around the windows: often
// enough that probes run inside every window after the deadlines that expire in it.
// Elsewhere it probes every scenario.Step, which keeps the test quick.
const outageProbeEvery = 5 * time.Second

func (o *outageHarness) nextProbe(at time.Time) time.Time {
	next := at.Add(outageProbeEvery)
	for _, w := range o.out.Windows {
		if !next.Before(w.From.Add(-scenario.Step)) && next.Before(w.To.Add(scenario.Step)) {
			return next
		}
	}
	return at.Add(scenario.Step)
}

// outageRequestTimeout is argocd.request_timeout in the outage scenario (scenario.Config's
// default): on the scenario's clock, a held request is given up this long after it was
// sent.
const outageRequestTimeout = 2 * time.Second

// held reports whether w holds Argo CD's answers (a busy API server, a buffering proxy)
// rather than failing them: the stream stays open and silent.
func held(w scenario.Window) bool { return w.Fault.Kind == fakeargocd.FaultHeld }

// openWindow makes Argo CD fail as w says: every list, get and stream request (the
// stream's open connections stall when w holds answers).
func (o *outageHarness) openWindow(w scenario.Window) {
	o.argo.SetFault(w.Fault)
	o.argo.SetGetFault(w.Fault)
	if held(w) {
		o.argo.StallStreams()
	}
}

// closeWindow makes Argo CD answer again; what it held goes out.
func (o *outageHarness) closeWindow() {
	o.argo.ClearFault()
	o.argo.ClearGetFault()
	o.argo.ResumeStreams()
}

// inflight is a poll the driver started that Argo CD holds.
type inflight struct {
	asked time.Time
	done  chan error
}

// settle waits until the poll returned (true, with its error) or Argo CD holds one of
// its requests (false).
func (o *outageHarness) settle(p *inflight) (bool, error) {
	var err error
	done := false
	o.waitFor("the poll to end or be held", func() bool {
		select {
		case err = <-p.done:
			done = true
			return true
		default:
			return o.argo.HeldRequests() > 0
		}
	})
	return done, err
}

// runPoll drives poll mode until end: a poll at each instant the poll loop would poll
// (interval after a success, pollRetryWait after an error, counted from when the
// attempt ended), probe rounds as nextProbe says, the windows opening and closing at
// their edges. A poll that Argo CD holds ends when the scenario's clock passes its
// request timeout, or, answered, when the window closes.
func (o *outageHarness) runPoll(end time.Time) []pollLog {
	t := o.t
	interval := 15 * time.Second
	// The highest jitter draws: the longest waits the daemon could choose.
	b := backoff.New(time.Second, 5*time.Minute, fixedRand{1})
	var (
		polls    []pollLog
		cur      *inflight // a poll Argo CD holds
		inWindow bool
		edges    []time.Time
	)
	for _, w := range o.out.Windows {
		edges = append(edges, w.From, w.To)
	}
	nextPoll, nextProbe := o.out.Start, o.out.Start
	finished := func(asked, at time.Time, err error) {
		polls = append(polls, pollLog{asked, err})
		if err != nil {
			_, faulty := o.out.FaultAt(asked)
			require.True(t, faulty, "poll at %s failed outside a fault window: %v", asked.Format(time.TimeOnly), err)
			require.NotContains(t, err.Error(), "argo-secret-token")
			nextPoll = at.Add(pollRetryWait(interval, time.Second, b))
			return
		}
		b.Reset()
		nextPoll = at.Add(interval)
	}
	for cur != nil || !nextPoll.After(end) || !nextProbe.After(end) {
		at := nextProbe
		if cur == nil && nextPoll.Before(at) {
			at = nextPoll
		}
		if cur != nil && cur.asked.Add(outageRequestTimeout).Before(at) {
			at = cur.asked.Add(outageRequestTimeout)
		}
		if len(edges) > 0 && !edges[0].After(at) {
			at, edges = edges[0], edges[1:]
		}
		o.clock.Set(at) // times out a held request due by then
		w, faulty := o.out.FaultAt(at)
		switch {
		case faulty && !inWindow:
			o.openWindow(w)
			inWindow = true
		case !faulty && inWindow:
			o.closeWindow() // releases a held poll: answered now
			inWindow = false
		}
		o.argo.SetApps(o.out.Apps(at))
		if cur != nil {
			if done, err := o.settle(cur); done {
				finished(cur.asked, at, err)
				cur = nil
			}
		}
		if cur == nil && !at.Before(nextPoll) {
			if !o.restartAt.IsZero() && !at.Before(o.restartAt) {
				o.restartAt = time.Time{}
				o.stop()
				o.stop = o.startStoppable()
			}
			o.waitFor("held requests to go", func() bool { return o.argo.HeldRequests() == 0 })
			p := &inflight{asked: at, done: make(chan error, 1)}
			go func() { p.done <- o.poll() }()
			if done, err := o.settle(p); done {
				finished(at, at, err)
			} else {
				cur = p
			}
		}
		if !at.Before(nextProbe) {
			o.probeRound()
			nextProbe = o.nextProbe(at)
		}
	}
	o.closeWindow()
	return polls
}

// streamBreak is how a fault window ends the open streams: as the fault answers a
// new request (a 401 or 500 error chunk, a cut in the middle of an event).
func streamBreak(f fakeargocd.Fault) fakeargocd.StreamBreak {
	switch {
	case f.Kind == fakeargocd.FaultTruncated:
		return fakeargocd.StreamCut
	case f.Kind == fakeargocd.FaultStatus && f.Status == http.StatusUnauthorized:
		return fakeargocd.StreamUnauthorized
	default:
		return fakeargocd.StreamServerError
	}
}

// errBlind marks an instant at which the watch source could not see Argo CD.
var errBlind = errors.New("the watch is not live")

// runWatch drives watch mode until end on the poll mode's grid plus the windows'
// edges: an evaluation every poll interval (watchTickLive, what the source's ticker
// does) after Argo CD's keepalive (every 15 s, as the real one writes it), probe rounds
// as nextProbe says, the world changing at each instant. When a window opens, the open
// stream breaks as the fault answers (a 401 or 500 error chunk, a cut in the middle of
// an event) and every reconnection meets the fault (its names list and its stream);
// a window that holds answers instead leaves the stream open and silent, and holds
// every request (the lists of reconnections, the confirmations of passed deadlines)
// until the scenario's clock passes their timeout or the window closes. When it
// closes, the watch source reconnects by itself, or the stalled stream delivers what
// it held, and catches up. It returns whether the watch was live at each evaluation in
// a window and at each window's end.
func (o *outageHarness) runWatch(end time.Time) []pollLog {
	t := o.t
	interval := 15 * time.Second
	var edges []time.Time
	for _, w := range o.out.Windows {
		edges = append(edges, w.From, w.To)
	}
	// The stream delivers each change when it happens: the driver visits the instants
	// at which the world changes too.
	var changes []time.Time
	for _, st := range o.out.Stories {
		for _, c := range st.Changes {
			changes = append(changes, st.Start.Add(c.At))
		}
	}
	slices.SortFunc(changes, time.Time.Compare)
	var ticks []pollLog
	inWindow := false
	nextTick, nextProbe := o.out.Start, o.out.Start
	for !nextTick.After(end) || !nextProbe.After(end) {
		at := nextTick
		if nextProbe.Before(at) {
			at = nextProbe
		}
		for len(changes) > 0 && !changes[0].After(o.clock.Now()) {
			changes = changes[1:]
		}
		change := len(changes) > 0 && changes[0].Before(at)
		if change {
			at = changes[0]
		}
		edge := len(edges) > 0 && !edges[0].After(at)
		if edge {
			at, edges, change = edges[0], edges[1:], false
		}
		o.clock.Set(at)
		w, faulty := o.out.FaultAt(at)
		switch {
		case faulty && !inWindow && held(w):
			o.openWindow(w) // nothing tells envtrack: the stream just falls silent
			inWindow = true
			ticks = append(ticks, pollLog{at, errBlind})
		case faulty && !inWindow:
			tried := o.argo.Requests()
			o.openWindow(w)
			o.argo.BreakStreams(streamBreak(w.Fault))
			inWindow = true
			// Blind before the world moves on: nothing of the window reaches envtrack,
			// and a reconnection met the fault.
			o.waitFor("the stream to break and a reconnection to fail", func() bool {
				live, _ := o.watchTickLive()
				return !live && o.argo.OpenStreams() == 0 && o.argo.Requests() > tried
			})
			ticks = append(ticks, pollLog{at, errBlind})
		case !faulty && inWindow:
			o.closeWindow()
			inWindow = false
		}
		if faulty && !o.restartAt.IsZero() && !at.Before(o.restartAt) {
			// A restart while Argo CD fails changes nothing.
			o.restartAt = time.Time{}
			o.stop()
			o.stop = o.startStoppable()
		}
		o.argo.SetApps(o.out.Apps(at))
		if !faulty {
			// Reconnected (after a window) and caught up with the world at this instant,
			// and what the view's evaluation then asked Argo CD for answered.
			o.waitFor("the stream to deliver the world", o.streamSynced)
			o.waitFor("the confirmations", o.confirmed)
			if n := len(ticks); n > 0 && ticks[n-1].err != nil {
				ticks = append(ticks, pollLog{at, nil})
			}
		}
		switch {
		case edge, change:
		case at.Equal(nextTick) && faulty && held(w):
			// The stream may still look live: its silence is not yet long enough to
			// tell. Whatever the evaluation asks Argo CD for is held.
			require.NoError(t, o.w.tick())
			o.waitFor("the confirmations to end or be held", func() bool { return o.confirmed() || o.argo.HeldRequests() > 0 })
			ticks = append(ticks, pollLog{at, errBlind})
			nextTick = at.Add(interval)
		case at.Equal(nextTick):
			if !faulty {
				o.keepalive()
			}
			live, err := o.watchTickLive()
			require.NoError(t, err)
			require.Equal(t, !faulty, live, "at %s", at.Format(time.TimeOnly))
			if faulty {
				ticks = append(ticks, pollLog{at, errBlind})
			}
			nextTick = at.Add(interval)
		default:
			o.probeRound()
			nextProbe = o.nextProbe(at)
		}
	}
	o.closeWindow()
	return ticks
}

// checkOutageJournal: per environment exactly the expected events, in order, each at
// its evidence time (±1 s), with the expected reasons; nothing else (no false
// provisioning_failed, no duplicate, no backfill).
func checkOutageJournal(t *testing.T, o *scenario.Outage, evs []event.Event) {
	t.Helper()
	got := map[string][]event.Event{}
	ids := map[string]bool{}
	for _, e := range evs {
		require.False(t, ids[e.ID], "duplicate event id %s", e.ID)
		ids[e.ID] = true
		require.NotContains(t, e.Metadata, "backfill", "%s %s", e.EnvironmentID, e.Name)
		got[e.EnvironmentID] = append(got[e.EnvironmentID], e)
	}
	total := 0
	for id, ws := range o.Expected() {
		total += len(ws)
		gs := got[id]
		require.Len(t, gs, len(ws), "%s: got %s", id, scenario.Describe(gs))
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, w.Event, g.Name, "%s event %d: got %s", id, i, scenario.Describe(gs))
			d := g.Time.Sub(w.Time)
			require.True(t, d >= -time.Second && d <= time.Second, "%s %s at %s, evidence at %s: got %s",
				id, w.Event, g.Time.Format(time.TimeOnly), w.Time.Format(time.TimeOnly), scenario.Describe(gs))
			for k, v := range w.Meta {
				require.Equal(t, v, g.Metadata[k], "%s %s metadata %s", id, w.Event, k)
			}
		}
	}
	require.Len(t, evs, total, "events for environments the scenario does not have")
}

// TestArgoCDOutageEvidence (issues 9 and 19): Argo CD answers 401 for 6 s, later 500
// for 8 s, later truncated JSON for 6 s, later holds every answer 20 s (the stream
// stays open and silent), each while environments are provisioning and their timeouts
// expire inside the window. No false provisioning_failed (a sync that failed 9 s before
// its deadline during the stall is sync_failed at its finishedAt, an environment ready
// during it is ready, never a timeout first); every ready, failure, deployment,
// degradation and recovery at its evidence time; every deployment made during a window
// recorded once (envtrack restarts during one of them); tracking resumes within one
// poll interval of each window's end. Each window is recorded as not observed, once,
// and the timeline of an environment that degraded and recovered unseen inside one
// says so.
func TestArgoCDOutageEvidence(t *testing.T) {
	journals := map[string][]event.Event{}
	for _, mode := range []string{modePoll, modeWatch} {
		t.Run(mode, func(t *testing.T) {
			o := newOutageHarness(t, mode)
			require.GreaterOrEqual(t, len(o.out.Stories), 30)
			for _, w := range o.out.Windows {
				require.GreaterOrEqual(t, len(o.out.Provisioning(w)), 5, "environments whose timeout expires in %q", w.Name)
			}
			var polls []pollLog
			switch mode {
			case modePoll:
				o.stop = o.startStoppable()
				o.restartAt = o.out.Windows[1].From // a restart while Argo CD fails changes nothing
				polls = o.runPoll(o.out.End())
			default:
				o.stop = o.startStoppable()
				o.restartAt = o.out.Windows[1].From
				polls = o.runWatch(o.out.End())
			}
			journals[mode] = o.journal()
			checkOutageJournal(t, o.out, journals[mode])

			// Each window was felt (a poll failed in it), and the first successful poll
			// after it came within one poll interval of its end.
			for _, w := range o.out.Windows {
				failed, resumed := 0, time.Time{}
				for _, p := range polls {
					if p.err != nil && !p.at.Before(w.From) && p.at.Before(w.To) {
						failed++
					}
					if p.err == nil && !p.at.Before(w.To) && resumed.IsZero() {
						resumed = p.at
					}
				}
				require.NotZero(t, failed, "no poll fell in %q", w.Name)
				require.False(t, resumed.IsZero())
				require.LessOrEqual(t, resumed.Sub(w.To), 15*time.Second, "blind after %q until %s", w.Name, resumed.Format(time.TimeOnly))
			}
			o.checkGaps(t)
		})
	}
	// The same outage, polled or watched, yields the same journal: events, times and
	// metadata, but a failed sync's message (only the stream carries it), detected_at
	// (the stream notices a change when it happens, a poll at the next poll, so the
	// watch's detected_at is never later, but for a deadline, which no change shows) and the commit a provisioning_started names
	// (what the Application shows when it is first seen: at once by the stream, a few
	// seconds later by a poll, after its first sync began).
	if len(journals) == 2 {
		poll, watch := journals[modePoll], journals[modeWatch]
		require.Len(t, watch, len(poll))
		strip := func(evs []event.Event) []event.Event {
			out := make([]event.Event, len(evs))
			for i, e := range evs {
				e.Metadata = maps.Clone(e.Metadata)
				delete(e.Metadata, event.MetaDetectedAt)
				if e.Name == event.ProvisioningStarted {
					delete(e.Metadata, event.MetaCommitSHA)
					e.CommitSHA = ""
				}
				out[i] = e
			}
			return out
		}
		require.Equal(t, journalByEnv(t, strip(poll)), journalByEnv(t, strip(watch)))
		detected := map[string]string{}
		for _, e := range poll {
			detected[e.EnvironmentID+" "+string(e.Name)+" "+e.Time.Format(time.RFC3339Nano)], _ = e.Metadata[event.MetaDetectedAt].(string)
		}
		for _, e := range watch {
			k := e.EnvironmentID + " " + string(e.Name) + " " + e.Time.Format(time.RFC3339Nano)
			w, _ := e.Metadata[event.MetaDetectedAt].(string)
			p := detected[k]
			require.NotEmpty(t, w, k)
			if r := e.MetaString(event.MetaReason); r == event.ReasonTimeout || r == event.ReasonURLUnreachable {
				// Not a change the stream carries: both modes decide a deadline (a timeout,
				// or a URL that never answered by it) on a confirmation asked after the
				// deadline, each when its own loop gets to it.
				continue
			}
			require.LessOrEqual(t, w, p, "%s: the watch noticed later than the poll", k)
		}
	}
}

// checkGaps: each window is recorded as not observed, once, around it (from no earlier
// than the last sign of Argo CD before it, to no later than the first answer after it),
// and nothing else is; the seconds are counted; the timeline of the environment that
// degraded and recovered unseen in the window of truncated answers shows the window.
func (o *outageHarness) checkGaps(t *testing.T) {
	t.Helper()
	gaps := o.gaps()
	require.Len(t, gaps, len(o.out.Windows), "%v", gaps)
	for i, w := range o.out.Windows {
		g := gaps[i]
		require.Equal(t, event.GapArgoCD, g.Source)
		require.True(t, g.Overlaps(w.From, w.To), "%q [%s, %s): gap %v", w.Name, w.From.Format(time.TimeOnly), w.To.Format(time.TimeOnly), g)
		require.False(t, g.Open(), "%q: still open", w.Name)
		require.LessOrEqual(t, w.From.Sub(g.From), 15*time.Second, "%q: not observed from %s: %v", w.Name, g.From.Format(time.TimeOnly), gaps)
		require.LessOrEqual(t, g.To.Sub(w.To), 15*time.Second, "%q: not observed until %s", w.Name, g.To.Format(time.TimeOnly))
		if held(w) && o.watch {
			require.Equal(t, event.GapStalled, g.Reason, "%q: the stream fell silent", w.Name)
		} else if held(w) {
			require.Equal(t, event.GapUnreachable, g.Reason, "%q: the lists timed out", w.Name)
		}
	}
	require.Positive(t, o.gathered(metric.ArgoCDBlindSeconds.Name))

	svc := query.NewService(query.NewJournalBackend(o.store), config.DefaultTargetsConfig, o.clock.Now).WithGaps(o.store)
	for _, st := range o.out.Stories {
		if !strings.HasSuffix(st.ID, "flaps-in-window") {
			continue
		}
		tl, err := svc.Timeline(context.Background(), st.ID)
		require.NoError(t, err)
		truncated := o.out.Windows[2]
		require.Equal(t, fakeargocd.FaultTruncated, truncated.Fault.Kind)
		found := false
		for _, g := range tl.Gaps {
			found = found || (!g.From.After(truncated.To) && !g.To.Before(truncated.From))
		}
		require.True(t, found, "%s: the window of truncated answers is not on its timeline: %+v", st.ID, tl.Gaps)
	}
}
