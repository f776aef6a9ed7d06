package tracker

import (
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/event"
)

// CommitFunc durably records the changed states together with the events their
// transitions emitted (one transaction) and returns the events as stored.
type CommitFunc func(states []State, events []event.Event) ([]event.Event, error)

// Tracker holds the current state of every environment and serialises transitions:
// plan from a copy, commit durably, and only then make the new states current, so a
// failed commit leaves the tracker exactly as it was.
type Tracker struct {
	mu     sync.Mutex
	cfg    Config
	states map[string]State
}

// New returns a tracker that starts from the persisted states.
func New(cfg Config, states map[string]State) *Tracker {
	if states == nil {
		states = map[string]State{}
	}
	return &Tracker{cfg: cfg.withDefaults(), states: states}
}

// SetConfig replaces the configuration (on reload).
func (t *Tracker) SetConfig(cfg Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = cfg.withDefaults()
}

// Process applies the observations in order, commits what changed and returns the
// stored events. On a commit error nothing changes.
func (t *Tracker) Process(obs []Observation, commit CommitFunc) ([]event.Event, error) {
	per, _, _, err := t.ProcessBatch(obs, nil, commit)
	var out []event.Event
	for _, evs := range per {
		out = append(out, evs...)
	}
	return out, err
}

// ProcessBatch is Process for callers that group work into one commit (group commit of
// pushed events): it also appends extra events (deployment markers, which change no
// state) in the same transaction, and returns the stored events of each observation
// and the stored extras separately. A push that CheckPush refuses changes nothing: its
// rejected entry holds the *RejectedError, and the other observations go on.
func (t *Tracker) ProcessBatch(obs []Observation, extra []event.Event, commit CommitFunc) (perObs [][]event.Event, rejected []error, extraStored []event.Event, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := map[string]State{}
	var events []event.Event
	counts := make([]int, len(obs))
	rejected = make([]error, len(obs))
	for i, o := range obs {
		cur, ok := next[o.EnvironmentID]
		if !ok {
			cur = t.states[o.EnvironmentID]
		}
		ns, evs := Step(cur, o, t.cfg)
		if o.Push != nil && (cur.ID == "" || len(evs) > 0) {
			if rejected[i] = CheckPush(cur, *o.Push, o.At); rejected[i] != nil {
				continue
			}
		}
		next[o.EnvironmentID] = ns
		events = append(events, evs...)
		counts[i] = len(evs)
	}
	events = append(events, extra...)
	var changed []State
	for id, ns := range next {
		if !samePersisted(t.states[id], ns) {
			changed = append(changed, ns)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].ID < changed[j].ID })
	var stored []event.Event
	if len(changed) > 0 || len(events) > 0 {
		if stored, err = commit(changed, events); err != nil {
			return nil, nil, nil, err
		}
	}
	for id, ns := range next {
		t.states[id] = ns
	}
	perObs = make([][]event.Event, len(obs))
	off := 0
	for i, n := range counts {
		perObs[i] = stored[off : off+n : off+n]
		off += n
	}
	return perObs, rejected, stored[off:], nil
}

// samePersisted reports whether two states differ only in what need not be persisted.
func samePersisted(a, b State) bool {
	a.LastObservedAt, b.LastObservedAt = time.Time{}, time.Time{}
	a.ArgoSeenAt, b.ArgoSeenAt = time.Time{}, time.Time{}
	a.URLProbedAt, b.URLProbedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// Get returns one environment's state.
func (t *Tracker) Get(id string) (State, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.states[id]
	return s, ok
}

// States returns a copy of every state, sorted by id.
func (t *Tracker) States() []State {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]State, 0, len(t.states))
	for _, s := range t.states {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Forget drops terminated environments pruned from the store.
func (t *Tracker) Forget(ids ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.states, id)
	}
}

// PollObservations turns one successful Argo CD list answer into observations: one per
// Application, and an absence for every tracked Argo CD environment not in the answer.
// An empty answer while live environments are tracked is inconclusive (an RBAC or
// selector hiccup looks exactly like that): it confirms only the disappearance of
// environments already being deleted. inconclusive reports that case.
func (t *Tracker) PollObservations(apps []AppEvidence, at time.Time) (obs []Observation, inconclusive bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[string]bool, len(apps))
	for i := range apps {
		a := apps[i]
		if a.EnvironmentID == "" {
			a.EnvironmentID = a.AppName
		}
		if seen[a.EnvironmentID] {
			continue // two Applications claiming one environment: the first (by name) wins
		}
		seen[a.EnvironmentID] = true
		obs = append(obs, Observation{EnvironmentID: a.EnvironmentID, At: at, App: &a})
	}
	var missing []string
	live := false
	for id, s := range t.states {
		if s.Source != SourceArgoCD || s.Phase == PhaseTerminated || seen[id] {
			continue
		}
		missing = append(missing, id)
		if s.TerminationStartedAt.IsZero() {
			live = true
		}
	}
	sort.Strings(missing)
	inconclusive = len(apps) == 0 && live
	for _, id := range missing {
		if inconclusive && t.states[id].TerminationStartedAt.IsZero() {
			continue
		}
		obs = append(obs, Observation{EnvironmentID: id, At: at, Absent: true})
	}
	return obs, inconclusive
}

// Ticks returns a tick for every environment still provisioning, so the provisioning
// timeout fires for environments that no source observes (pushed-only ones).
func (t *Tracker) Ticks(at time.Time) []Observation {
	t.mu.Lock()
	defer t.mu.Unlock()
	var obs []Observation
	for id, s := range t.states {
		if s.Phase == PhaseProvisioning && s.Source == SourceAPI {
			obs = append(obs, Observation{EnvironmentID: id, At: at})
		}
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].EnvironmentID < obs[j].EnvironmentID })
	return obs
}
