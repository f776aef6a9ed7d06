package tracker

import (
	"errors"
	"fmt"
	"sort"
)

// ErrStale is wrapped by a commit's error when the journal is shared (several replicas
// writing one PostgreSQL journal) and a state the commit was planned from is no longer
// the stored one: nothing was stored, and the tracker plans again from the stored
// states.
var ErrStale = errors.New("the journal changed since this replica read it")

// ErrRepeated is wrapped by a commit's error when the journal is shared and an event's
// Idempotency-Key was recorded meanwhile by another replica (a CI retry that reached
// another replica while the first attempt committed): nothing was stored; the push path
// learns the key and answers the retry "unchanged".
var ErrRepeated = errors.New("an Idempotency-Key of the commit is in the journal already")

// Shared is a journal that other trackers commit to as well: replicas sharing
// PostgreSQL. Each method is called under the tracker's lock, so that the versions the
// journal remembers for this tracker move in step with its states.
type Shared interface {
	// Fresh returns, of ids, the states stored since this tracker last read or wrote
	// them (changed), and those deleted or never stored although this tracker holds
	// one (gone).
	Fresh(ids []string) (changed []State, gone []string, err error)
	// Changes returns what the other writers stored or deleted since the last call:
	// the feed that keeps this tracker's view of every environment current.
	Changes() (changed []State, gone []string, err error)
}

// staleRetries bounds how often one batch is planned again after ErrStale: each retry
// follows a commit of another replica to the same environments, which the head lock
// serialises; a retry that still fails is reported (the caller retries or answers 5xx).
const staleRetries = 8

// Share makes the tracker plan from the shared journal's current states: before each
// batch, the states of its environments are brought up to date (Fresh), and a commit
// refused with ErrStale is planned again from the stored states. Call it once, before
// any Process.
func (t *Tracker) Share(s Shared) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shared = s
}

// Follow installs what the other writers of the shared journal stored or deleted since
// the last call (Shared.Changes): every replica's view, which reads, URL checks and
// timeouts use, stays at most one call behind the journal. It does nothing without
// Share. It returns the number of states changed and forgotten.
func (t *Tracker) Follow() (changed, gone int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shared == nil {
		return 0, 0, nil
	}
	ch, g, err := t.shared.Changes()
	if err != nil {
		return 0, 0, err
	}
	t.install(ch, g)
	return len(ch), len(g), nil
}

// refresh brings the states of the observations' environments up to date. t.mu held.
func (t *Tracker) refresh(obs []Observation) error {
	seen := make(map[string]bool, len(obs))
	ids := make([]string, 0, len(obs))
	for _, o := range obs {
		if !seen[o.EnvironmentID] {
			seen[o.EnvironmentID] = true
			ids = append(ids, o.EnvironmentID)
		}
	}
	sort.Strings(ids)
	ch, g, err := t.shared.Fresh(ids)
	if err != nil {
		return fmt.Errorf("read the stored states: %w", err)
	}
	t.install(ch, g)
	return nil
}

// install makes stored states current, and the indexes with them (index, as when a
// state of this replica's changes: the deadlines, URL checks and ticks another replica's
// commits moved are this one's to run once it leads). t.mu held.
func (t *Tracker) install(changed []State, gone []string) {
	for _, st := range changed {
		t.put(st.ID, &st)
		t.index(st.ID)
	}
	for _, id := range gone {
		delete(t.states, id)
		t.index(id)
	}
}
