package scenario

import (
	"fmt"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Change is one scripted change of an Application, at an offset from its story's start.
type Change struct {
	At time.Duration
	Do func(a *fakeargocd.Application, at time.Time)
}

// Scripted is an environment whose life is a list of changes to its Application (and
// when its URL answers), with the events envtrack must derive from it.
type Scripted struct {
	ID      string
	Role    string // what the story tests, for messages
	Start   time.Time
	URL     string        // "" for none
	URLUp   time.Duration // the URL answers from Start+URLUp; <0: never
	Changes []Change      // in time order
	Expect  []Expect
}

// App returns the Application as Argo CD shows it at t.
func (s Scripted) App(t time.Time) (fakeargocd.Application, bool) {
	if t.Before(s.Start) {
		return fakeargocd.Application{}, false
	}
	opts := []fakeargocd.AppOption{fakeargocd.WithType("preview"), fakeargocd.WithBranch("feature/" + s.ID),
		fakeargocd.WithLabel("envtrack.test/role", s.Role)}
	if s.URL != "" {
		opts = append(opts, fakeargocd.WithURL(s.URL))
	}
	a := fakeargocd.NewApp(s.ID, s.Start, opts...)
	for _, c := range s.Changes {
		at := s.Start.Add(c.At)
		if at.After(t) {
			break
		}
		c.Do(&a, at)
	}
	return a, true
}

// URLAnswers reports whether the story's URL answers at t.
func (s Scripted) URLAnswers(t time.Time) bool {
	return s.URL != "" && s.URLUp >= 0 && !t.Before(s.Start.Add(s.URLUp))
}

// Window is a time during which Argo CD fails.
type Window struct {
	Name     string
	From, To time.Time // [From, To)
	Fault    fakeargocd.Fault
}

// Outage is the scenario of issues 9 and 19: Argo CD answers 401 for 6 s, later 500 for
// 8 s, later truncated JSON for 6 s, later holds every answer for 20 s (a busy API
// server or a buffering proxy: the stream stays open and says nothing), each window
// falling while environments are provisioning and their timeouts (Timeout) expire
// inside it; meanwhile some become ready (one is redeployed at once), fail for real
// reasons (a sync 9 s before its deadline), are deleted, deploy twice, degrade and
// recover, and one degrades and recovers within the window of truncated answers (what
// envtrack cannot see it must record as not observed).
type Outage struct {
	Start   time.Time
	Stories []Scripted
	Windows []Window
}

// Changes used by the stories.
func startSync(rev string) func(*fakeargocd.Application, time.Time) {
	return func(a *fakeargocd.Application, at time.Time) { fakeargocd.StartSync(a, rev, at) }
}
func syncOK(rev string) func(*fakeargocd.Application, time.Time) {
	return func(a *fakeargocd.Application, at time.Time) { fakeargocd.SyncSucceeded(a, rev, at) }
}
func setHealth(status string) func(*fakeargocd.Application, time.Time) {
	return func(a *fakeargocd.Application, at time.Time) { fakeargocd.SetHealth(a, status, at) }
}
func markDeleting(a *fakeargocd.Application, at time.Time) { fakeargocd.MarkDeleting(a, at) }

// NewOutage builds the outage scenario starting at start (truncated to Step); URLs are
// urlBase + "/env/<id>". The windows are placed so that the polls of a daemon polling
// every 15 s from start, retrying after 1 s, 2 s, 4 s... (pollRetryWait with the
// highest jitter draws) fall inside each of them; every story's evidence falls in the
// first 5 s of its window.
func NewOutage(start time.Time, urlBase string) *Outage {
	o := &Outage{Start: start.UTC().Truncate(Step)}
	windows := []struct {
		name  string
		from  time.Duration
		len   time.Duration
		fault fakeargocd.Fault
	}{
		{"401 expired token", 12*time.Minute + 58*time.Second, 6 * time.Second, fakeargocd.Unauthorized()},
		{"500 from Argo CD", 16*time.Minute + 5*time.Second, 8 * time.Second, fakeargocd.ServerError("rpc error: code = Internal desc = etcdserver: leader changed")},
		{"truncated JSON", 19*time.Minute + 12*time.Second, 6 * time.Second, fakeargocd.Truncated()},
		{"answers held 20 s", 22*time.Minute + 33*time.Second, 20 * time.Second, fakeargocd.Held()},
	}
	n := 0
	add := func(s Scripted) {
		s.ID = fmt.Sprintf("out-%02d-%s", n, s.Role)
		n++
		if s.URL != "" {
			s.URL = urlBase + "/env/" + s.ID
		}
		sort.SliceStable(s.Changes, func(i, j int) bool { return s.Changes[i].At < s.Changes[j].At })
		for i := range s.Expect {
			s.Expect[i].EnvironmentID = s.ID
		}
		o.Stories = append(o.Stories, s)
	}
	exp := func(name event.Name, at time.Time, meta map[string]any) Expect {
		return Expect{Event: name, Time: at, Meta: meta}
	}
	// Provisioned the usual way: sync done at 2m55s, healthy at 3m40s.
	readyPath := []Change{{opStart, startSync(rev1)}, {syncDone, syncOK(rev1)}, {healthy, setHealth(fakeargocd.HealthHealthy)}}
	plainReady := func(st time.Time) []Expect {
		return []Expect{exp(event.ProvisioningStarted, st, nil), exp(event.Ready, st.Add(healthy), nil)}
	}
	for i := 0; i < 5; i++ {
		st := o.Start.Add(time.Duration(i) * time.Minute)
		add(Scripted{Role: "ready", Start: st, URLUp: -1, Changes: readyPath, Expect: plainReady(st)})
	}
	off := func(st, at time.Time) time.Duration { return at.Sub(st) }
	for wi, w := range windows {
		ws := o.Start.Add(w.from)
		sec := func(n int) time.Time { return ws.Add(time.Duration(n) * time.Second) }
		o.Windows = append(o.Windows, Window{Name: w.name, From: ws, To: ws.Add(w.len), Fault: w.fault})
		// Environments whose deadline (start + Timeout) falls inside the window.
		startFor := func(deadline time.Time) time.Time { return deadline.Add(-Timeout) }

		// Their evidence comes in the window's first seconds; URL probes (every 5 s)
		// keep running after the deadlines, inside the window, on stale Argo CD evidence.
		st := startFor(sec(2)) // healthy in the window, before its deadline
		add(Scripted{Role: "ready-in-window", Start: st, URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {syncDone, syncOK(rev1)}, {off(st, sec(1)), setHealth(fakeargocd.HealthHealthy)}},
			Expect:  []Expect{exp(event.ProvisioningStarted, st, nil), exp(event.Ready, sec(1), nil)}})

		st = startFor(sec(2))
		add(Scripted{Role: "degraded-in-window", Start: st, URL: "u", URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {off(st, sec(1)), setHealth(fakeargocd.HealthDegraded)}},
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil),
				exp(event.ProvisioningFailed, sec(1), map[string]any{"reason": event.ReasonDegraded})}})

		st = startFor(sec(2))
		add(Scripted{Role: "deleted-in-window", Start: st, URL: "u", URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {off(st, sec(1)), markDeleting}},
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil),
				exp(event.ProvisioningFailed, sec(1), map[string]any{"reason": event.ReasonDeletedBeforeReady}),
				exp(event.TerminationStarted, sec(1), nil)}})

		st = startFor(sec(1)) // really times out, ready late after the window
		add(Scripted{Role: "timeout-in-window", Start: st, URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {Timeout + 30*time.Second, syncOK(rev1)}, {Timeout + 40*time.Second, setHealth(fakeargocd.HealthHealthy)}},
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil),
				exp(event.ProvisioningFailed, st.Add(Timeout), map[string]any{"reason": event.ReasonTimeout}),
				exp(event.Ready, st.Add(Timeout+40*time.Second), map[string]any{"late": true})}})

		st = startFor(sec(2)) // Argo CD ready long before; the URL never answers
		add(Scripted{Role: "url-unreachable-in-window", Start: st, URL: "u", URLUp: -1, Changes: readyPath,
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil),
				exp(event.ProvisioningFailed, st.Add(Timeout), map[string]any{"reason": event.ReasonURLUnreachable})}})

		st = startFor(sec(1)) // the URL answers before the window, Argo CD turns healthy as it begins
		add(Scripted{Role: "url-ready-in-window", Start: st, URL: "u", URLUp: off(st, ws.Add(-30*time.Second)),
			Changes: []Change{{opStart, startSync(rev1)}, {syncDone, syncOK(rev1)}, {off(st, ws), setHealth(fakeargocd.HealthHealthy)}},
			Expect:  []Expect{exp(event.ProvisioningStarted, st, nil), exp(event.Ready, ws, nil)}})

		// The sync fails 9 s before the deadline (inside the 20 s window): sync_failed at
		// its finishedAt, not a timeout 9 s later.
		st = startFor(sec(10))
		add(Scripted{Role: "sync-failed-in-window", Start: st, URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {off(st, sec(1)), func(a *fakeargocd.Application, at time.Time) {
				fakeargocd.SyncFailed(a, at, "one or more objects failed to apply")
			}}},
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil),
				exp(event.ProvisioningFailed, sec(1), map[string]any{"reason": event.ReasonSyncFailed})}})

		if w.fault.Kind == fakeargocd.FaultTruncated {
			// Degraded for 4 s inside the window, healthy again before it ends: nothing
			// of it is seen, and the timeline says what was not observed.
			st = o.Start.Add(time.Duration(wi)*time.Minute + 50*time.Second)
			add(Scripted{Role: "flaps-in-window", Start: st, URLUp: -1,
				Changes: append(append([]Change(nil), readyPath...),
					Change{off(st, sec(1)), setHealth(fakeargocd.HealthDegraded)},
					Change{off(st, sec(5)), setHealth(fakeargocd.HealthHealthy)}),
				Expect: plainReady(st)})
		}

		st = startFor(sec(2)) // ready in the window and redeployed in it too
		rr := fmt.Sprintf("%d4%s", wi, rev2[2:])
		add(Scripted{Role: "ready-redeployed-in-window", Start: st, URLUp: -1,
			Changes: []Change{{opStart, startSync(rev1)}, {syncDone, syncOK(rev1)}, {off(st, sec(1)), setHealth(fakeargocd.HealthHealthy)},
				{off(st, sec(2)), startSync(rr)}, {off(st, sec(2)), func(a *fakeargocd.Application, _ time.Time) {
					fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, sec(1))
				}}, {off(st, sec(4)), syncOK(rr)}},
			Expect: []Expect{exp(event.ProvisioningStarted, st, nil), exp(event.Ready, sec(1), map[string]any{"revision": rev1}),
				exp(event.Deployed, sec(4), map[string]any{"revision": rr, "previous_revision": rev1})}})

		// Ready environments: two deployments inside the window, a degradation that
		// begins in it, a recovery that happens in it.
		st = o.Start.Add(time.Duration(wi)*time.Minute + 20*time.Second)
		r2, r3 := fmt.Sprintf("%d2%s", wi, rev2[2:]), fmt.Sprintf("%d3%s", wi, rev3[2:])
		keepHealthy := func(st time.Time) func(*fakeargocd.Application, time.Time) {
			return func(a *fakeargocd.Application, _ time.Time) {
				fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, st.Add(healthy)) // a rolling update keeps serving
			}
		}(st)
		add(Scripted{Role: "deploys-in-window", Start: st, URLUp: -1,
			Changes: append(append([]Change(nil), readyPath...),
				Change{off(st, ws.Add(-20*time.Second)), startSync(r2)}, Change{off(st, ws.Add(-20*time.Second)), keepHealthy},
				Change{off(st, sec(1)), syncOK(r2)},
				Change{off(st, sec(2)), startSync(r3)}, Change{off(st, sec(2)), keepHealthy},
				Change{off(st, sec(4)), syncOK(r3)}),
			Expect: append(plainReady(st),
				exp(event.Deployed, sec(1), map[string]any{"revision": r2, "previous_revision": rev1}),
				exp(event.Deployed, sec(4), map[string]any{"revision": r3, "previous_revision": r2}))})

		st = o.Start.Add(time.Duration(wi)*time.Minute + 30*time.Second)
		// Recovered long enough after the window for a poll to see it degraded first.
		recovery := int((w.len + 19*time.Second) / time.Second)
		add(Scripted{Role: "degrades-in-window", Start: st, URLUp: -1,
			Changes: append(append([]Change(nil), readyPath...),
				Change{off(st, sec(1)), setHealth(fakeargocd.HealthDegraded)},
				Change{off(st, sec(recovery)), setHealth(fakeargocd.HealthHealthy)}),
			Expect: append(plainReady(st),
				exp(event.Degraded, sec(1), map[string]any{"cause": "health"}),
				exp(event.Recovered, sec(recovery), nil))})

		st = o.Start.Add(time.Duration(wi)*time.Minute + 40*time.Second)
		add(Scripted{Role: "recovers-in-window", Start: st, URLUp: -1,
			Changes: append(append([]Change(nil), readyPath...),
				Change{off(st, ws.Add(-40*time.Second)), setHealth(fakeargocd.HealthDegraded)},
				Change{off(st, sec(1)), setHealth(fakeargocd.HealthHealthy)}),
			Expect: append(plainReady(st),
				exp(event.Degraded, ws.Add(-40*time.Second), map[string]any{"cause": "health"}),
				exp(event.Recovered, sec(1), nil))})
	}
	return o
}

// End is when every story has played out (the last late ready, and a margin).
func (o *Outage) End() time.Time { return o.Windows[len(o.Windows)-1].To.Add(2 * time.Minute) }

// Apps returns what Argo CD lists at t, sorted by name.
func (o *Outage) Apps(t time.Time) []fakeargocd.Application {
	var apps []fakeargocd.Application
	for _, s := range o.Stories {
		if a, ok := s.App(t); ok {
			apps = append(apps, a)
		}
	}
	return apps
}

// FaultAt returns the window Argo CD is failing in at t, if any.
func (o *Outage) FaultAt(t time.Time) (Window, bool) {
	for _, w := range o.Windows {
		if !t.Before(w.From) && t.Before(w.To) {
			return w, true
		}
	}
	return Window{}, false
}

// Story returns the story of an environment.
func (o *Outage) Story(id string) (Scripted, bool) {
	for _, s := range o.Stories {
		if s.ID == id {
			return s, true
		}
	}
	return Scripted{}, false
}

// Expected returns every story's expected events, per environment in order.
func (o *Outage) Expected() map[string][]Expect {
	out := map[string][]Expect{}
	for _, s := range o.Stories {
		out[s.ID] = s.Expect
	}
	return out
}

// Provisioning returns the environments provisioning when w begins whose provisioning
// deadline falls inside w.
func (o *Outage) Provisioning(w Window) []string {
	var ids []string
	for _, s := range o.Stories {
		d := s.Start.Add(Timeout)
		if !s.Start.After(w.From) && !d.Before(w.From) && d.Before(w.To) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}
