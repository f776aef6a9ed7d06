package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/event"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
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

func newOutageHarness(t *testing.T) *outageHarness {
	h := &harness{t: t, clock: &clock{}, dir: t.TempDir(), timeout: scenario.Timeout}
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
			err := o.app.PollOnce(context.Background())
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
		require.NoError(t, o.app.ProbeOnce(context.Background()))
		nextProbe = o.nextProbe(at)
	}
	o.argo.ClearFault()
	return polls
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
		require.Len(t, gs, len(ws), "%s: got %s", id, describe(gs))
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, w.Event, g.Name, "%s event %d: got %s", id, i, describe(gs))
			d := g.Time.Sub(w.Time)
			require.True(t, d >= -time.Second && d <= time.Second, "%s %s at %s, evidence at %s: got %s",
				id, w.Event, g.Time.Format(time.TimeOnly), w.Time.Format(time.TimeOnly), describe(gs))
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
	for _, mode := range []string{modePoll, modeWatch} {
		t.Run(mode, func(t *testing.T) {
			o := newOutageHarness(t)
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
				t.Skip("the watch source drives this scenario once it exists (issue 9, items 1-2)")
			}
			checkOutageJournal(t, o.out, o.journal())

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
}
