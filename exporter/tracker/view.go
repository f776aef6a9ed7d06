package tracker

import (
	"sort"
	"time"
)

// ViewObservations is PollObservations for a watch's view of Argo CD (every
// Application as the live stream shows it, by name), evaluated as time passes. Only
// what time alone can change is returned: environments that are not settled (not
// ready, degraded or failed, or terminating, or counting absences), those whose
// Application changed(name) since their last observation, and an absence for every
// tracked Argo CD environment not in the view. Ready environments whose evidence the
// tracker already holds would produce nothing, and 10,000 of them would cost as much as
// a poll. The empty-view guard is PollObservations'.
func (t *Tracker) ViewObservations(view map[string]AppEvidence, at time.Time, changed func(name string) bool) (obs []Observation, inconclusive bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
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
		s, known := t.states[id]
		if known && !changed(name) && settled(s) {
			continue
		}
		a := view[name]
		if a.EnvironmentID == "" {
			a.EnvironmentID = id
		}
		obs = append(obs, Observation{EnvironmentID: id, At: at, App: &a})
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].EnvironmentID < obs[j].EnvironmentID })
	absent, inconclusive := t.absences(func(id string) bool { _, ok := owner[id]; return ok }, len(view), at)
	return append(obs, absent...), inconclusive
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
