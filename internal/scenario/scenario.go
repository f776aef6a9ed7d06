// Package scenario scripts environments' lives for tests (and the demo): each Story says
// what Argo CD and the environment's URL show at any moment, and which lifecycle events
// envtrack must derive from that, with their evidence timestamps. The world is a pure
// function of time, so a test can jump to any instant, and a restarted envtrack sees the
// same world it would have seen.
package scenario

import (
	"fmt"
	"time"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Step is the observation grid: tests observe at multiples of Step from the start.
// Times that depend on when envtrack looks (first passing probe, first absence) are
// scripted on this grid; Argo CD's own timestamps fall anywhere.
const Step = 15 * time.Second

// Timeout is the readiness.provisioning_timeout the scenario expects.
const Timeout = 10 * time.Minute

// Kinds of stories: every path of DESIGN §2.
const (
	KindReady          = "ready"                // Argo CD evidence alone
	KindReadyURL       = "ready_url"            // the URL answers last
	KindRequested      = "requested"            // requested-at annotation: created + queue
	KindSyncFailed     = "sync_failed"          // the sync operation failed
	KindDegraded       = "degraded"             // health Degraded before ready
	KindDeleted        = "deleted_before_ready" // deletionTimestamp before ready, then gone
	KindVanished       = "vanished"             // gone before ready without a deletionTimestamp
	KindTimeout        = "timeout"              // never ready, later deleted
	KindURLUnreachable = "url_unreachable"      // Argo CD ready, URL never answers
	KindLate           = "late"                 // ready after the timeout
	KindDeployed       = "deployed"             // two redeploys after ready
	KindHealthFlap     = "health_flap"          // Degraded then Healthy after ready
	KindURLFlap        = "url_flap"             // URL down then up after ready
	KindTerminated     = "terminated"           // deleted after ready, then gone
	KindStatic         = "static"               // URL-only environment from the config
)

// Kinds lists the Argo CD kinds (KindStatic is separate: it lives in the config).
var Kinds = []string{KindReady, KindReadyURL, KindRequested, KindSyncFailed, KindDegraded, KindDeleted,
	KindVanished, KindTimeout, KindURLUnreachable, KindLate, KindDeployed, KindHealthFlap, KindURLFlap, KindTerminated}

// Expect is one expected lifecycle event.
type Expect struct {
	EnvironmentID string
	Event         event.Name
	Time          time.Time
	// Meta holds metadata values the event must carry.
	Meta map[string]any
	// Observed marks times that depend on when envtrack looked (a probe or a poll):
	// exact on the scenario grid, approximate when envtrack runs on its own clock.
	Observed bool
}

// Story is one environment's scripted life.
type Story struct {
	ID    string
	Kind  string
	Type  string
	Start time.Time // metadata.creationTimestamp (or, for static, when the URL comes up)
	URL   string    // the environment's URL ("" for none)
}

// Scenario is a set of stories and the instant they begin.
type Scenario struct {
	Start   time.Time
	Stories []Story
	URLBase string
}

// New builds a scenario of n stories per kind plus staticN URL-only environments, the
// i-th starting i minutes after start. urlBase is the URL server's base (http://host:port);
// story URLs are urlBase + "/env/<id>".
func New(start time.Time, perKind, staticN int, urlBase string) *Scenario {
	sc := &Scenario{Start: start.UTC().Truncate(Step), URLBase: urlBase}
	types := []string{"preview", "staging", "feature"}
	i := 0
	for r := 0; r < perKind; r++ {
		for _, k := range Kinds {
			id := fmt.Sprintf("env-%03d", i)
			st := Story{ID: id, Kind: k, Type: types[i%len(types)], Start: sc.Start.Add(time.Duration(i) * time.Minute)}
			if hasURL(k) {
				st.URL = urlBase + "/env/" + id
			}
			sc.Stories = append(sc.Stories, st)
			i++
		}
	}
	for j := 0; j < staticN; j++ {
		id := fmt.Sprintf("static-%02d", j)
		sc.Stories = append(sc.Stories, Story{ID: id, Kind: KindStatic, Type: "static",
			Start: sc.Start.Add(time.Duration(j+1) * time.Minute), URL: urlBase + "/env/" + id})
	}
	return sc
}

func hasURL(kind string) bool {
	switch kind {
	case KindReadyURL, KindURLUnreachable, KindURLFlap:
		return true
	}
	return false
}

// End is when every story has played out.
func (sc *Scenario) End() time.Time {
	var end time.Time
	for _, s := range sc.Stories {
		if e := s.Start.Add(45 * time.Minute); e.After(end) {
			end = e
		}
	}
	return end
}

// Apps returns what Argo CD lists at t, sorted by name.
func (sc *Scenario) Apps(t time.Time) []fakeargocd.Application {
	var apps []fakeargocd.Application
	for _, s := range sc.Stories {
		if a, ok := s.App(t); ok {
			apps = append(apps, a)
		}
	}
	return apps
}

// Story returns the story of an environment.
func (sc *Scenario) Story(id string) (Story, bool) {
	for _, s := range sc.Stories {
		if s.ID == id {
			return s, true
		}
	}
	return Story{}, false
}

// Expected returns every story's expected events, per environment in order.
func (sc *Scenario) Expected() map[string][]Expect {
	out := map[string][]Expect{}
	for _, s := range sc.Stories {
		out[s.ID] = s.Expected()
	}
	return out
}

// Static returns the URL-only stories (for the config's environments section).
func (sc *Scenario) Static() []Story {
	var out []Story
	for _, s := range sc.Stories {
		if s.Kind == KindStatic {
			out = append(out, s)
		}
	}
	return out
}

// The scripted offsets from Start.
const (
	opStart      = 5 * time.Second
	syncDone     = 2*time.Minute + 55*time.Second
	healthy      = 3*time.Minute + 40*time.Second
	urlUp        = 4 * time.Minute // on the grid
	requested    = 45 * time.Second
	syncFail     = 1*time.Minute + 9*time.Second
	degradedAt   = 2*time.Minute + 12*time.Second
	deletingAt   = 1*time.Minute + 30*time.Second
	deletedGone  = 2 * time.Minute // on the grid
	vanishedGone = 1 * time.Minute // on the grid
	lateSync     = 11 * time.Minute
	lateHealthy  = 11*time.Minute + 20*time.Second
	deploy1Start = 20 * time.Minute
	deploy1Done  = 21*time.Minute + 30*time.Second
	deploy2Start = 40 * time.Minute
	deploy2Done  = 41*time.Minute + 5*time.Second
	flapDown     = 15*time.Minute + 10*time.Second
	flapUp       = 18*time.Minute + 20*time.Second
	urlDown      = 15 * time.Minute // on the grid
	urlBack      = 17 * time.Minute // on the grid
	termStart    = 30*time.Minute + 10*time.Second
	termGone     = 31 * time.Minute // on the grid
	timeoutDel   = 40 * time.Minute
	timeoutGone  = 41 * time.Minute // on the grid
	staticDown   = 5 * time.Minute  // on the grid
	staticBack   = 6 * time.Minute  // on the grid
)

const (
	rev1 = "1a2b3c4d5e6f7a8b"
	rev2 = "2b3c4d5e6f7a8b9c"
	rev3 = "3c4d5e6f7a8b9c0d"
)

// App returns the Application as Argo CD lists it at t, or false when it is not listed.
func (s Story) App(t time.Time) (fakeargocd.Application, bool) {
	if s.Kind == KindStatic || t.Before(s.Start) {
		return fakeargocd.Application{}, false
	}
	d := t.Sub(s.Start)
	switch s.Kind {
	case KindDeleted:
		if d >= deletedGone {
			return fakeargocd.Application{}, false
		}
	case KindVanished:
		if d >= vanishedGone {
			return fakeargocd.Application{}, false
		}
	case KindTerminated:
		if d >= termGone {
			return fakeargocd.Application{}, false
		}
	case KindTimeout:
		if d >= timeoutGone {
			return fakeargocd.Application{}, false
		}
	}
	opts := []fakeargocd.AppOption{
		fakeargocd.WithType(s.Type),
		fakeargocd.WithBranch("feature/" + s.ID),
		fakeargocd.WithLabel("envtrack.test/kind", s.Kind),
	}
	if s.URL != "" {
		opts = append(opts, fakeargocd.WithURL(s.URL))
	}
	if s.Kind == KindRequested {
		opts = append(opts, fakeargocd.WithRequestedAt(s.Start.Add(-requested)))
	}
	a := fakeargocd.NewApp(s.ID, s.Start, opts...)
	at := func(off time.Duration) time.Time { return s.Start.Add(off) }
	if d >= opStart {
		fakeargocd.StartSync(&a, rev1, at(opStart))
	}
	readyPath := func() {
		if d >= syncDone {
			fakeargocd.SyncSucceeded(&a, rev1, at(syncDone))
		}
		if d >= healthy {
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(healthy))
		}
	}
	switch s.Kind {
	case KindReady, KindReadyURL, KindRequested, KindURLUnreachable, KindURLFlap:
		readyPath()
	case KindSyncFailed:
		if d >= syncFail {
			fakeargocd.SyncFailed(&a, at(syncFail), "one or more objects failed to apply, reason: Deployment.apps \"backend-api\" is invalid")
		}
	case KindDegraded:
		if d >= degradedAt {
			fakeargocd.SetHealth(&a, fakeargocd.HealthDegraded, at(degradedAt))
		}
	case KindDeleted:
		if d >= deletingAt {
			fakeargocd.MarkDeleting(&a, at(deletingAt))
		}
	case KindVanished:
	case KindTimeout:
		if d >= timeoutDel {
			fakeargocd.MarkDeleting(&a, at(timeoutDel))
		}
	case KindLate:
		if d >= lateSync {
			fakeargocd.SyncSucceeded(&a, rev1, at(lateSync))
		}
		if d >= lateHealthy {
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(lateHealthy))
		}
	case KindDeployed:
		readyPath()
		if d >= deploy1Start {
			fakeargocd.StartSync(&a, rev2, at(deploy1Start))
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(healthy)) // a rolling update keeps serving
		}
		if d >= deploy1Done {
			fakeargocd.SyncSucceeded(&a, rev2, at(deploy1Done))
		}
		if d >= deploy2Start {
			fakeargocd.StartSync(&a, rev3, at(deploy2Start))
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(healthy))
		}
		if d >= deploy2Done {
			fakeargocd.SyncSucceeded(&a, rev3, at(deploy2Done))
		}
	case KindHealthFlap:
		readyPath()
		if d >= flapDown {
			fakeargocd.SetHealth(&a, fakeargocd.HealthDegraded, at(flapDown))
		}
		if d >= flapUp {
			fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, at(flapUp))
		}
	case KindTerminated:
		readyPath()
		if d >= termStart {
			fakeargocd.MarkDeleting(&a, at(termStart))
		}
	}
	return a, true
}

// URLUp reports whether the environment's URL answers at t.
func (s Story) URLUp(t time.Time) bool {
	d := t.Sub(s.Start)
	switch s.Kind {
	case KindReadyURL:
		return d >= urlUp
	case KindURLFlap:
		return d >= urlUp && (d < urlDown || d >= urlBack)
	case KindStatic:
		return d >= 0 && (d < staticDown || d >= staticBack)
	}
	return false
}

// Expected returns the events envtrack must derive for this story, in order.
func (s Story) Expected() []Expect {
	at := func(off time.Duration) time.Time { return s.Start.Add(off) }
	var out []Expect
	add := func(name event.Name, off time.Duration, observed bool, meta map[string]any) {
		out = append(out, Expect{EnvironmentID: s.ID, Event: name, Time: at(off), Meta: meta, Observed: observed})
	}
	secs := func(d time.Duration) float64 { return d.Seconds() }
	if s.Kind == KindRequested {
		add(event.Created, -requested, false, nil)
	}
	if s.Kind != KindStatic {
		meta := map[string]any{"branch": "feature/" + s.ID, "repository": "backend-api"}
		if s.Kind == KindRequested {
			meta["queue_duration_seconds"] = secs(requested)
		}
		add(event.ProvisioningStarted, 0, false, meta)
	}
	ready := func() {
		add(event.Ready, healthy, false, map[string]any{"provisioning_duration_seconds": secs(healthy)})
	}
	switch s.Kind {
	case KindReady, KindRequested:
		ready()
	case KindReadyURL:
		add(event.Ready, urlUp, true, map[string]any{"provisioning_duration_seconds": secs(urlUp)})
	case KindSyncFailed:
		add(event.ProvisioningFailed, syncFail, false, map[string]any{"reason": event.ReasonSyncFailed})
	case KindDegraded:
		add(event.ProvisioningFailed, degradedAt, false, map[string]any{"reason": event.ReasonDegraded})
	case KindDeleted:
		add(event.ProvisioningFailed, deletingAt, false, map[string]any{"reason": event.ReasonDeletedBeforeReady})
		add(event.TerminationStarted, deletingAt, false, nil)
		add(event.Terminated, deletedGone, true, map[string]any{"termination_duration_seconds": secs(deletedGone - deletingAt)})
	case KindVanished:
		add(event.ProvisioningFailed, vanishedGone, true, map[string]any{"reason": event.ReasonDeletedBeforeReady})
		add(event.Terminated, vanishedGone, true, nil)
	case KindTimeout:
		add(event.ProvisioningFailed, Timeout, false, map[string]any{"reason": event.ReasonTimeout})
		add(event.TerminationStarted, timeoutDel, false, nil)
		add(event.Terminated, timeoutGone, true, nil)
	case KindURLUnreachable:
		add(event.ProvisioningFailed, Timeout, false, map[string]any{"reason": event.ReasonURLUnreachable})
	case KindLate:
		add(event.ProvisioningFailed, Timeout, false, map[string]any{"reason": event.ReasonTimeout})
		add(event.Ready, lateHealthy, false, map[string]any{"late": true})
	case KindDeployed:
		ready()
		add(event.Deployed, deploy1Done, false, map[string]any{"revision": rev2, "previous_revision": rev1})
		add(event.Deployed, deploy2Done, false, map[string]any{"revision": rev3, "previous_revision": rev2})
	case KindHealthFlap:
		ready()
		add(event.Degraded, flapDown, false, map[string]any{"cause": "health"})
		add(event.Recovered, flapUp, false, nil)
	case KindURLFlap:
		add(event.Ready, urlUp, true, nil)
		add(event.Degraded, urlDown, true, map[string]any{"cause": "url"})
		add(event.Recovered, urlBack, true, nil)
	case KindTerminated:
		ready()
		add(event.TerminationStarted, termStart, false, nil)
		add(event.Terminated, termGone, true, map[string]any{"termination_duration_seconds": secs(termGone - termStart)})
	case KindStatic:
		add(event.Ready, 0, true, map[string]any{"baseline": true})
		add(event.Degraded, staticDown, true, map[string]any{"cause": "url"})
		add(event.Recovered, staticBack, true, nil)
	}
	return out
}
