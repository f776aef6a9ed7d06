package argocd

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/model/event"
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
	h := &harness{t: t, clock: &testclock.Clock{}, dir: t.TempDir(), timeout: scenario.Timeout, watch: mode == modeWatch}
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

// runPoll drives poll mode until end: a poll at each instant the poll loop would poll
// (interval after a success, pollRetryWait after an error), probe rounds as nextProbe
// says. It returns the polls.
func (o *outageHarness) runPoll(end time.Time) []pollLog {
	t := o.t
	interval := 15 * time.Second
	// The highest jitter draws: the longest waits the daemon could choose.
	b := backoff.New(time.Second, 5*time.Minute, fixedRand{1})
	var polls []pollLog
	nextPoll, nextProbe := o.out.Start, o.out.Start
	for !nextPoll.After(end) || !nextProbe.After(end) {
		if !nextPoll.After(nextProbe) {
			at := nextPoll
			o.clock.Set(at)
			if !o.restartAt.IsZero() && !at.Before(o.restartAt) {
				o.restartAt = time.Time{}
				o.stop()
				o.stop = o.startStoppable()
			}
			o.argo.SetApps(o.out.Apps(at))
			if w, ok := o.out.FaultAt(at); ok {
				o.argo.SetFault(w.Fault)
			} else {
				o.argo.ClearFault()
			}
			err := o.poll()
			polls = append(polls, pollLog{at, err})
			if err != nil {
				_, inWindow := o.out.FaultAt(at)
				require.True(t, inWindow, "poll at %s failed outside a fault window: %v", at.Format(time.TimeOnly), err)
				require.NotContains(t, err.Error(), "argo-secret-token")
				nextPoll = at.Add(pollRetryWait(interval, time.Second, b))
			} else {
				b.Reset()
				nextPoll = at.Add(interval)
			}
			continue
		}
		at := nextProbe
		o.clock.Set(at)
		o.argo.SetApps(o.out.Apps(at))
		o.probeRound()
		nextProbe = o.nextProbe(at)
	}
	o.argo.ClearFault()
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
// does), probe rounds as nextProbe says, the world changing at each instant. When a
// window opens, the open stream breaks as the fault answers (a 401 or 500 error chunk,
// a cut in the middle of an event) and every reconnection meets the fault (its names
// list and its stream); when it closes, the watch source reconnects by itself (within
// its backoff cap, a second: the driver waits for it at the window's end), takes a new
// snapshot and catches up. It returns whether the watch was live at each evaluation
// in a window and at each window's end.
func (o *outageHarness) runWatch(end time.Time) []pollLog {
	t := o.t
	interval := 15 * time.Second
	var edges []time.Time
	for _, w := range o.out.Windows {
		edges = append(edges, w.From, w.To)
	}
	var ticks []pollLog
	inWindow := false
	nextTick, nextProbe := o.out.Start, o.out.Start
	for !nextTick.After(end) || !nextProbe.After(end) {
		at := nextTick
		if nextProbe.Before(at) {
			at = nextProbe
		}
		edge := len(edges) > 0 && !edges[0].After(at)
		if edge {
			at, edges = edges[0], edges[1:]
		}
		o.clock.Set(at)
		w, faulty := o.out.FaultAt(at)
		switch {
		case faulty && !inWindow:
			tried := o.argo.Requests()
			o.argo.SetFault(w.Fault)
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
			o.argo.ClearFault()
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
			// Reconnected (after a window) and caught up with the world at this instant.
			o.waitFor("the stream to deliver the world", o.streamSynced)
			if n := len(ticks); n > 0 && ticks[n-1].err != nil {
				ticks = append(ticks, pollLog{at, nil})
			}
		}
		switch {
		case edge:
		case at.Equal(nextTick):
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
	o.argo.ClearFault()
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

// TestArgoCDOutageEvidence (issue 9): Argo CD answers 401 for 6 s, later 500 for 8 s,
// later truncated JSON for 6 s, each while environments are provisioning and their
// timeouts expire inside the window. No false provisioning_failed; every ready,
// failure, deployment, degradation and recovery at its evidence time; every deployment
// made during a window recorded once (envtrack restarts during one of them); tracking
// resumes within one poll interval of each window's end.
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
		})
	}
	// The same outage, polled or watched, yields the same journal: events, times and
	// metadata, but a failed sync's message (only the stream carries it) and
	// detected_at: the stream notices a change when it happens, a poll at the next
	// poll, so the watch's detected_at is never later.
	if len(journals) == 2 {
		poll, watch := journals[modePoll], journals[modeWatch]
		require.Len(t, watch, len(poll))
		strip := func(evs []event.Event) []event.Event {
			out := make([]event.Event, len(evs))
			for i, e := range evs {
				e.Metadata = maps.Clone(e.Metadata)
				delete(e.Metadata, event.MetaDetectedAt)
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
			require.LessOrEqual(t, w, p, "%s: the watch noticed later than the poll", k)
		}
	}
}
