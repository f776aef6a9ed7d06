package tracker

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
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
	states map[string]*packed // compact (compact.go): get and put convert
	shared Shared             // nil: this tracker is the journal's only writer
	// The indexes of what time alone can change, kept as each state changes (index), so
	// that what runs every interval costs the environments in flux, not every state
	// (issue 23: 100,000 idle Applications were re-evaluated every poll interval):
	// deadlines, the environments waiting for an answer given after a deadline
	// (deadlineOf), earliest first, for Due; unsettled, the Argo CD environments a
	// view's evaluation must observe again although nothing new came (not settled, or
	// counting absences), for ViewChanges; ticking, the pushed-only ones whose deadline
	// only time decides, for Ticks; urls, the URLs to probe, for URLs.
	deadlines *deadlineQueue
	unsettled map[string]struct{}
	ticking   map[string]struct{}
	urls      map[string]string
	// visited counts the states the periodic calls (ViewChanges, Ticks, URLs, Due)
	// examined: a test holds it to what changed.
	visited int64
}

// New returns a tracker that starts from the persisted states. It takes them: states is
// emptied as the tracker packs each (compact.go), so that a restart does not hold every
// state twice.
func New(cfg Config, states map[string]State) *Tracker {
	t := &Tracker{cfg: cfg, states: make(map[string]*packed, len(states))}
	for id, s := range states {
		t.states[id] = pack(&s)
		delete(states, id) // the caller's copy goes as the compact one grows
	}
	t.indexAll()
	return t
}

// get returns environment id's state (t.mu held).
func (t *Tracker) get(id string) (State, bool) {
	p, ok := t.states[id]
	if !ok {
		return State{}, false
	}
	return p.state(id), true
}

// put makes s environment id's state (t.mu held); the indexes are index's.
func (t *Tracker) put(id string, s *State) { t.states[id] = pack(s) }

// SetConfig replaces the configuration (on reload).
func (t *Tracker) SetConfig(cfg Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = cfg
	t.indexAll() // the timeouts may have changed
}

// indexAll builds the indexes from every state (t.mu held, or not yet shared).
func (t *Tracker) indexAll() {
	t.deadlines = newDeadlineQueue()
	t.unsettled, t.ticking, t.urls = map[string]struct{}{}, map[string]struct{}{}, map[string]string{}
	for id := range t.states {
		t.index(id)
	}
}

// index updates environment id's entries in the indexes (t.mu held).
func (t *Tracker) index(id string) {
	s, ok := t.get(id)
	if d, due := deadlineOf(&s, t.cfg); ok && due {
		t.deadlines.set(id, d)
	} else {
		t.deadlines.remove(id)
	}
	if ok && s.Source == SourceArgoCD && s.Phase != PhaseTerminated && !settled(s) {
		t.unsettled[id] = struct{}{}
	} else {
		delete(t.unsettled, id)
	}
	if ok && ticks(&s, t.cfg) {
		t.ticking[id] = struct{}{}
	} else {
		delete(t.ticking, id)
	}
	if ok && s.URL != "" && s.Phase != PhaseTerminated {
		t.urls[id] = s.URL
	} else {
		delete(t.urls, id)
	}
}

// Visited is how many states the periodic calls examined so far (for tests).
func (t *Tracker) Visited() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.visited
}

// deadlineOf is the deadline of s that waits for its source: a provisioning timeout or a
// stuck termination of an Argo CD environment, passed or not, that the evidence held (as
// fresh as State.AppSeenAt) cannot decide yet. due is false when there is none.
func deadlineOf(s *State, c Config) (deadline time.Time, due bool) {
	if s.Source != SourceArgoCD {
		return time.Time{}, false
	}
	switch {
	case s.Phase == PhaseProvisioning && !s.ProvisioningStartedAt.IsZero() && c.ProvisioningTimeout > 0 && s.ReadySeenAt.IsZero():
		deadline = s.ProvisioningStartedAt.Add(c.ProvisioningTimeout)
	case s.Phase == PhaseTerminating && !s.TerminationStartedAt.IsZero() && s.TerminationStuckAt.IsZero() && c.terminationTimeout(s.Type) > 0:
		deadline = s.TerminationStartedAt.Add(c.terminationTimeout(s.Type))
	default:
		return time.Time{}, false
	}
	return deadline, s.AppSeenAt.Before(deadline)
}

// Due is an environment whose deadline passed while the evidence the tracker holds was
// asked for before it.
type Due struct {
	EnvironmentID string
	AppName       string // the Argo CD Application to ask for
	Deadline      time.Time
}

// Due returns, earliest deadline first, at most max environments whose deadline (a
// provisioning timeout, a stuck termination) passed by at while the evidence held was
// asked for before it. What they show must be confirmed by an answer Argo CD gives after
// the deadline (the source asks for each Application itself) before the deadline decides
// anything; until one comes, the decision waits. An open stream is no such answer: it
// says nothing while nothing changes, stalled or not. Few environments are ever due, and
// finding them costs the environments that wait on a deadline, not every state.
func (t *Tracker) Due(at time.Time, max int) []Due {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Due
	t.deadlines.passed(at, func(d deadlineItem) {
		t.visited++
		out = append(out, Due{EnvironmentID: d.id, AppName: t.states[d.id].appName, Deadline: d.at})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Deadline.Equal(out[j].Deadline) {
			return out[i].Deadline.Before(out[j].Deadline)
		}
		return out[i].EnvironmentID < out[j].EnvironmentID
	})
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// MaxBatch bounds the observations Process commits together: the first sight of 10,000
// Applications (their histories, 40,000 events) in one transaction held ~270 MiB at its
// peak.
const MaxBatch = 1000

// Process applies the observations in order, MaxBatch at a time, commits what each
// batch changed in its own transaction, and returns the stored events. On a commit
// error the batches before it stay committed (their events are returned with the error)
// and nothing of the failed batch changes: each environment's observation is
// independent of the others', and one left untracked is derived again, with the same
// evidence times, from the next answer.
func (t *Tracker) Process(obs []Observation, commit CommitFunc) ([]event.Event, error) {
	var out []event.Event
	for len(obs) > 0 {
		n := min(len(obs), MaxBatch)
		per, _, _, err := t.ProcessBatch(obs[:n], nil, nil, commit)
		if err != nil {
			return out, err
		}
		for _, evs := range per {
			out = append(out, evs...)
		}
		obs = obs[n:]
	}
	return out, nil
}

// ProcessBatch is Process for callers that group work into one commit (group commit of
// pushed events): it also appends extra events (deployment markers, which change no
// state) in the same transaction, and returns the stored events of each observation
// and of each extra separately. A push that CheckPush refuses changes nothing: its
// rejected entry holds the *RejectedError. Observations and extras that share a
// nonzero group (Observation.Group, extraGroups[i]; the items of one pushed batch) are
// all or nothing: when one push of a group is refused, none of the group is applied
// (their stored entries are nil); the other groups go on.
//
// With a shared journal (Share), the batch is planned from the stored states of its
// environments, and planned again when the commit finds one changed meanwhile. A batch
// of pushes is first planned from the states this tracker holds, without reading the
// stored ones (a round trip to the journal): the commit checks that each state it
// writes is still the stored one, so when every pushed environment is written, a
// commit that succeeds was planned from the stored states. When one is not (a push
// refused, or one that changes nothing: decided from a state the commit does not
// check), or the commit fails with ErrStale, the batch is planned again from the stored
// states.
func (t *Tracker) ProcessBatch(obs []Observation, extra []event.Event, extraGroups []int, commit CommitFunc) (perObs [][]event.Event, rejected []error, extraStored [][]event.Event, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shared == nil {
		return t.processBatch(obs, extra, extraGroups, commit, false)
	}
	held := len(obs) > 0 // plan from the held states first: pushes only
	for _, o := range obs {
		if o.Push == nil {
			held = false
			break
		}
	}
	for attempt := 0; ; attempt++ {
		if !held || attempt > 0 {
			if err := t.refresh(obs); err != nil {
				return nil, nil, nil, err
			}
		}
		perObs, rejected, extraStored, err = t.processBatch(obs, extra, extraGroups, commit, held && attempt == 0)
		if errors.Is(err, errUnchecked) {
			continue
		}
		if !errors.Is(err, ErrStale) || attempt == staleRetries {
			return perObs, rejected, extraStored, err
		}
	}
}

// errUnchecked: a batch planned from the held states would decide something of an
// environment that its commit does not check (processBatch).
var errUnchecked = errors.New("planned from a state the commit does not check")

// processBatch is ProcessBatch's one attempt. t.mu held. With held, it commits nothing
// and fails with errUnchecked unless the commit writes the state of every environment
// of obs (whose versions the shared journal's commit checks).
func (t *Tracker) processBatch(obs []Observation, extra []event.Event, extraGroups []int, commit CommitFunc, held bool) (perObs [][]event.Event, rejected []error, extraStored [][]event.Event, err error) {
	failed := map[int]bool{}
	groupRejected := make([]error, len(obs)) // why the pushes of failed groups were refused
	var p plan
	for {
		p = t.plan(obs, failed)
		newly := false
		for i, r := range p.rejected {
			if g := obs[i].Group; r != nil && g != 0 && !failed[g] {
				failed[g], newly = true, true
				groupRejected[i] = r
			}
		}
		if !newly {
			break // a group dropped can change what later pushes see: plan until stable
		}
	}
	for i, r := range groupRejected {
		if r != nil {
			p.rejected[i] = r
		}
	}
	events := slices.Grow(p.events, len(extra)) // a batch push's hundreds of markers: no regrowth
	extraApplied := make([]bool, len(extra))
	for i, e := range extra {
		if i < len(extraGroups) && failed[extraGroups[i]] {
			continue
		}
		extraApplied[i] = true
		events = append(events, e)
	}
	var changed []State
	for id, ns := range p.next {
		if cur, _ := t.get(id); !samePersisted(cur, ns) {
			changed = append(changed, ns)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].ID < changed[j].ID })
	if held {
		written := make(map[string]bool, len(changed))
		for _, st := range changed {
			written[st.ID] = true
		}
		for _, o := range obs {
			if !written[o.EnvironmentID] {
				return nil, nil, nil, errUnchecked
			}
		}
	}
	var stored []event.Event
	if len(changed) > 0 || len(events) > 0 {
		if stored, err = commit(changed, events); err != nil {
			return nil, nil, nil, err
		}
	}
	for id, ns := range p.next {
		t.put(id, &ns)
		t.index(id)
	}
	perObs = make([][]event.Event, len(obs))
	off := 0
	for i, n := range p.counts {
		perObs[i] = stored[off : off+n : off+n]
		off += n
	}
	extraStored = make([][]event.Event, len(extra))
	for i, ok := range extraApplied {
		if ok {
			extraStored[i] = stored[off : off+1 : off+1]
			off++
		}
	}
	return perObs, p.rejected, extraStored, nil
}

// plan is what applying a batch of observations would do, before the commit.
type plan struct {
	next     map[string]State
	events   []event.Event
	counts   []int // events per observation
	rejected []error
}

// plan steps every observation from the current states, leaving out those of the
// failed groups and the pushes CheckPush refuses.
func (t *Tracker) plan(obs []Observation, failed map[int]bool) plan {
	p := plan{next: map[string]State{}, counts: make([]int, len(obs)), rejected: make([]error, len(obs))}
	tracked := len(t.states) // with the new environments of this plan
	for i, o := range obs {
		if o.Group != 0 && failed[o.Group] {
			continue
		}
		cur, ok := p.next[o.EnvironmentID]
		if !ok {
			cur, _ = t.get(o.EnvironmentID)
		}
		ns, evs := Step(cur, o, t.cfg)
		if o.Push != nil && (cur.ID == "" || len(evs) > 0) {
			if p.rejected[i] = CheckPush(cur, *o.Push, o.At); p.rejected[i] != nil {
				continue
			}
			if cur.ID == "" && t.cfg.MaxEnvironments > 0 && tracked >= t.cfg.MaxEnvironments {
				p.rejected[i] = &FullError{Max: t.cfg.MaxEnvironments}
				continue
			}
		}
		if _, known := t.states[o.EnvironmentID]; !known && !ok {
			tracked++
		}
		p.next[o.EnvironmentID] = ns
		p.events = append(p.events, evs...)
		p.counts[i] = len(evs)
	}
	return p
}

// samePersisted reports whether two states differ only in what need not be persisted.
func samePersisted(a, b State) bool {
	a.LastObservedAt, b.LastObservedAt = time.Time{}, time.Time{}
	a.AppSeenAt, b.AppSeenAt = time.Time{}, time.Time{}
	a.URLProbedAt, b.URLProbedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// Get returns one environment's state.
func (t *Tracker) Get(id string) (State, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.get(id)
}

// States returns a copy of every state, sorted by id.
func (t *Tracker) States() []State {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]State, 0, len(t.states))
	for id, p := range t.states {
		out = append(out, p.state(id))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PhaseTypes yields the phase and type of every environment, under the tracker's lock
// and copying no state (the body must not call the tracker): what the environment
// gauges count at every scrape.
func (t *Tracker) PhaseTypes(yield func(Phase, string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.states {
		if !yield(Phase(p.phase.String()), p.typ.String()) {
			return
		}
	}
}

// StuckTypes yields the type of every environment whose termination outlasted
// readiness.termination_timeout and that is still terminating (State.TerminationStuckAt),
// under the tracker's lock (the body must not call the tracker): what the stuck
// terminations gauge counts at every scrape.
func (t *Tracker) StuckTypes(yield func(string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.states {
		if p.phaseIs(PhaseTerminating) && p.terminationStuckAt() != 0 {
			if !yield(p.typ.String()) {
				return
			}
		}
	}
}

// URLs returns the URL of every environment not terminated that has one, by id: what
// the URL checks probe. Unlike States it copies no state, which matters every check
// interval with thousands of environments.
func (t *Tracker) URLs() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.visited += int64(len(t.urls))
	return maps.Clone(t.urls)
}

// TerminatedBefore returns the ids of the environments terminated before cutoff.
func (t *Tracker) TerminatedBefore(cutoff time.Time) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, p := range t.states {
		if p.phaseIs(PhaseTerminated) && p.terminatedAt().Before(cutoff) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// ExpireRequested forgets the environments still requested (created, never
// provisioning) whose created event is before cutoff: forget deletes their persisted
// states, then the tracker drops them, under its lock so that no push commits between
// the choice and the deletion. No event is emitted (an expiry is a timer, not
// evidence); the journal keeps their events. It returns the ids forgotten.
func (t *Tracker) ExpireRequested(cutoff time.Time, forget func(ids []string) error) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id, p := range t.states {
		if p.phaseIs(PhaseRequested) && p.provisioningStartedAt == 0 && p.createdAt.Time().Before(cutoff) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	if err := forget(ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		delete(t.states, id)
		t.index(id)
	}
	return ids, nil
}

// Forget drops terminated environments pruned from the store.
func (t *Tracker) Forget(ids ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.states, id)
		t.index(id)
	}
}

// PollObservations turns one successful Argo CD list answer into observations: one per
// Application (but none for a settled environment whose evidence the tracker already
// holds: it would change nothing), and an absence for every tracked Argo CD environment
// not in the answer.
// An empty answer while live environments are tracked is inconclusive (an RBAC or
// selector hiccup looks exactly like that): it confirms only the disappearance of
// environments already being deleted. inconclusive reports that case.
func (t *Tracker) PollObservations(apps []Evidence, at time.Time) (obs []Observation, inconclusive bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[string]bool, len(apps))
	obs = make([]Observation, 0, len(apps))
	for i := range apps {
		a := &apps[i] // the caller's: no copy of 10,000 evidences per poll
		if a.EnvironmentID == "" {
			a.EnvironmentID = a.AppName
		}
		if seen[a.EnvironmentID] {
			continue // two Applications claiming one environment: the first (by name) wins
		}
		seen[a.EnvironmentID] = true
		if cur, _ := t.get(a.EnvironmentID); a.History == nil && !a.HistoryPending && settled(cur) && holds(cur.App, *a) {
			// Nothing time or this answer can change (as ViewObservations): stepping
			// 10,000 ready environments every poll cost a third of polling's CPU.
			continue
		}
		obs = append(obs, Observation{EnvironmentID: a.EnvironmentID, At: at, App: a})
	}
	absent, inconclusive := t.absences(func(id string) bool { return seen[id] }, len(apps), at)
	return append(obs, absent...), inconclusive
}

// absences returns an absence observation for every live Argo CD environment that a
// complete answer of n Applications did not contain (listed says which it did). An
// empty answer while environments are live is inconclusive (a wrong selector or token
// scope, not a mass deletion): only environments already terminating are then absent.
// The caller holds t.mu.
func (t *Tracker) absences(listed func(id string) bool, n int, at time.Time) (obs []Observation, inconclusive bool) {
	var missing []string
	live := false
	for id, p := range t.states {
		if p.source.String() != SourceArgoCD || p.phaseIs(PhaseTerminated) || listed(id) {
			continue
		}
		missing = append(missing, id)
		if p.terminationStartedAt() == 0 {
			live = true
		}
	}
	sort.Strings(missing)
	inconclusive = n == 0 && live
	for _, id := range missing {
		if inconclusive && t.states[id].terminationStartedAt() == 0 {
			continue
		}
		obs = append(obs, Observation{EnvironmentID: id, At: at, Absent: true})
	}
	return obs, inconclusive
}

// Ticks returns a tick for every environment still provisioning or terminating (with a
// termination timeout, not yet stuck), so that the deadlines pass for environments that
// no source observes (pushed-only ones).
func (t *Tracker) Ticks(at time.Time) []Observation {
	t.mu.Lock()
	defer t.mu.Unlock()
	var obs []Observation
	for id := range t.ticking {
		t.visited++
		obs = append(obs, Observation{EnvironmentID: id, At: at})
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].EnvironmentID < obs[j].EnvironmentID })
	return obs
}

// ticks: s is a pushed-only environment still provisioning, or terminating with a
// termination timeout and not yet stuck (Ticks).
func ticks(s *State, c Config) bool {
	if s.Source != SourceAPI {
		return false
	}
	return s.Phase == PhaseProvisioning ||
		s.Phase == PhaseTerminating && s.TerminationStuckAt.IsZero() && c.terminationTimeout(s.Type) > 0
}
