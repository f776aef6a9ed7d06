package tracker

import (
	"reflect"
	"sort"
	"time"
)

// ViewApp is one Application of a watch's view of Argo CD (issue 9, memory): its
// environment and, only while the tracker has not taken it, its evidence. Once taken,
// the tracker's state holds that evidence (State.App), so the view does not keep a
// second copy of 10,000 of them.
type ViewApp struct {
	EnvironmentID string    // the environment it claims (its label, else its name)
	Evidence      *Evidence // what Argo CD shows, until the tracker took it; then nil
}

// Holds reports whether the tracker's state of environment id holds exactly the
// evidence a (as Observe would keep it): a watch event bringing it changes nothing.
func (t *Tracker) Holds(id string, a Evidence) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, _ := t.get(id)
	return holds(cur.App, a)
}

// holds: held is a as the tracker keeps it.
func holds(held *Evidence, a Evidence) bool {
	if held == nil {
		return false
	}
	a = normEvidence(a)
	a.History, a.HistoryPending = nil, false
	return reflect.DeepEqual(held, &a)
}

// ViewObservations is PollObservations for a watch's view of Argo CD (every
// Application as the live stream shows it, by name), evaluated as time passes. Only
// what time alone can change is returned: environments that are not settled (not
// ready, degraded or failed, or terminating, or counting absences), Applications whose
// evidence the tracker has not taken yet, and an absence for every tracked Argo CD
// environment not in the view. Ready environments whose evidence the tracker already
// holds would produce nothing, and 10,000 of them would cost as much as a poll. An
// Application without evidence in the view is observed with the evidence the tracker
// holds. The empty-view guard is PollObservations'.
func (t *Tracker) ViewObservations(view map[string]ViewApp, at time.Time) (obs []Observation, inconclusive bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.visited += int64(len(view) + len(t.states))
	owner := make(map[string]string, len(view)) // environment id -> Application name (the first by name wins)
	for name, a := range view {
		id := a.EnvironmentID
		if id == "" {
			id = name
		}
		if cur, ok := owner[id]; !ok || name < cur {
			owner[id] = name
		}
	}
	for id, name := range owner {
		var a Evidence
		switch held, known := t.get(id); {
		case view[name].Evidence != nil:
			a = *view[name].Evidence
		case !known || held.App == nil:
			continue // nothing to observe it with (an environment forgotten since)
		case settled(held):
			continue
		default:
			a = *held.App
		}
		if a.EnvironmentID == "" {
			a.EnvironmentID = id
		}
		obs = append(obs, Observation{EnvironmentID: id, At: at, App: &a})
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].EnvironmentID < obs[j].EnvironmentID })
	absent, inconclusive := t.absences(func(id string) bool { _, ok := owner[id]; return ok }, len(view), at)
	return append(obs, absent...), inconclusive
}

// View is a watch's view of Argo CD as ViewChanges reads it (the watcher holds it).
type View interface {
	// Len is the number of Applications in the view.
	Len() int
	// Owner is the Application that claims environment id (the first by name), and its
	// evidence while the tracker has not taken it (then nil); ok is false when no
	// Application of the view claims id.
	Owner(id string) (name string, evidence *Evidence, ok bool)
}

// ViewChanges is ViewObservations for what may have changed since the view's last
// evaluation: the environments in changed (claimed by Applications the view set or
// dropped since, or whose evidence the tracker has not taken), and those time alone
// can change (not settled, or counting absences: the tracker keeps them as their states
// change). It observes exactly what ViewObservations would of a view that the last
// evaluation saw whole, at the cost of what changed, not of every state: 100,000 idle
// Applications cost nothing. An empty view is not asked here (ViewObservations guards
// it).
func (t *Tracker) ViewChanges(v View, changed []string, at time.Time) []Observation {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make(map[string]struct{}, len(changed)+len(t.unsettled))
	for _, id := range changed {
		ids[id] = struct{}{}
	}
	for id := range t.unsettled {
		ids[id] = struct{}{}
	}
	var obs, absent []Observation
	for id := range ids {
		t.visited++
		held, known := t.get(id)
		_, ev, ok := v.Owner(id)
		switch {
		case !ok:
			if known && held.Source == SourceArgoCD && held.Phase != PhaseTerminated {
				absent = append(absent, Observation{EnvironmentID: id, At: at, Absent: true})
			}
			continue
		case ev != nil:
			a := *ev
			if a.EnvironmentID == "" {
				a.EnvironmentID = id
			}
			obs = append(obs, Observation{EnvironmentID: id, At: at, App: &a})
		case !known || held.App == nil, settled(held):
		default:
			a := *held.App
			if a.EnvironmentID == "" {
				a.EnvironmentID = id
			}
			obs = append(obs, Observation{EnvironmentID: id, At: at, App: &a})
		}
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].EnvironmentID < obs[j].EnvironmentID })
	sort.Slice(absent, func(i, j int) bool { return absent[i].EnvironmentID < absent[j].EnvironmentID })
	return append(obs, absent...)
}

// settled: only new evidence (or a probe) can change the environment, not time.
func settled(s State) bool {
	if s.AbsentCount > 0 || !s.TerminationStartedAt.IsZero() || s.App == nil {
		return false
	}
	switch s.Phase {
	case PhaseReady, PhaseDegraded, PhaseFailed:
		return true
	}
	return false
}
