// Package ingest is the push path: the events POST /api/events accepted (validated by
// exporter/api) are group-committed to the journal through the tracker, and a push that
// repeats what the journal holds, or retries an Idempotency-Key, stores nothing and is
// answered "unchanged". Both are decided by lookups in the journal's indexes, so that a
// push costs the same whatever the history of its environment.
package ingest

import (
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Tracker is what the push path needs of the tracker: apply a group of pushes and
// markers in one commit, and whether an environment is tracked.
type Tracker interface {
	ProcessBatch(obs []tracker.Observation, extra []event.Event, extraGroups []int, commit tracker.CommitFunc) (perObs [][]event.Event, rejected []error, extraStored [][]event.Event, err error)
	Get(id string) (tracker.State, bool)
}

// Journal is what the push path needs of the journal: the commit the tracker makes, and
// the two indexes that recognise repeats (dedupe.go, keys.go). A store implements each
// method in one transaction.
type Journal interface {
	// Commit writes the states (replacing each environment's) and appends the events,
	// all or nothing, durably before it returns, and returns the events as stored (Seq,
	// ID and RecordedAt assigned). In the same transaction it indexes each stored event
	// that has an identity (event.Identity) by it, pointing at the event's seq (a later
	// event with the same identity takes the entry over), for Known. It is the
	// tracker's commit (tracker.CommitFunc).
	Commit(states []tracker.State, events []event.Event) ([]event.Event, error)
	// CommitKeyed is Commit that also records, in the same transaction, each of keys (an
	// Idempotency-Key) with the fingerprint of the request it came with, at the commit's
	// RecordedAt (the store's clock, as the events'). A key recorded before is replaced
	// (its old record and expiry go). With keys and nothing else, it records them alone
	// (and appends nothing, notifies no one). A journal other processes write too
	// (PostgreSQL, shared by replicas) instead fails with tracker.ErrRepeated, storing
	// nothing, when one of keys was recorded since the lookup: the group is planned
	// again (commitGroup).
	CommitKeyed(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error)
	// Known reports, for each identity, whether an event the journal holds has it: true
	// from the commit that stored such an event until retention pruned the last one.
	Known(ids []event.Fingerprint) ([]bool, error)
	// IdempotencyKeys returns, for each of keys that is recorded (CommitKeyed) and not
	// yet expired (retention.Journal's Prune expires the keys recorded before its
	// cutoff), the fingerprint it was recorded with; keys not recorded are absent. The
	// zero fingerprint stands for a key whose request is unknown (a journal migrated
	// from a layout that did not keep it): any request with it is a retry.
	IdempotencyKeys(keys []string) (map[string]event.Fingerprint, error)
}

// CheckingJournal is a Journal whose lookups cost a round trip each (PostgreSQL, on
// another machine): the push path plans a group from "nothing repeats" without looking
// its Idempotency-Keys and identities up, and the commit checks both in its own
// transaction, so that a group of pushes costs one round trip. A repeat, rare (a CI
// retry), fails that commit with tracker.ErrRepeated, storing nothing, and the group is
// planned again from the lookups (commitGroup).
type CheckingJournal interface {
	Journal
	// CommitChecked is CommitKeyed that also fails with tracker.ErrRepeated, storing
	// nothing, when one of newKeys is recorded or the journal holds an event with one
	// of the identities in newIDs.
	CommitChecked(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint, newKeys []string, newIDs []event.Fingerprint) ([]event.Event, error)
}

// Options wire a Recorder.
type Options struct {
	Tracker Tracker
	Journal Journal
	// Now stamps the observations of pushed lifecycle events; nil means time.Now.
	Now func() time.Time
	// Committed receives the events of each successful commit, in order (the daemon
	// observes its lifecycle metrics and logs them); nil means nothing.
	Committed func(events []event.Event)
}

// Recorder records pushed events in the journal (api.Recorder). It is safe for
// concurrent use: concurrent pushes share commits.
type Recorder struct {
	o     Options
	queue queue
}

// New returns a Recorder.
func New(o Options) *Recorder {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Committed == nil {
		o.Committed = func([]event.Event) {}
	}
	return &Recorder{o: o}
}

// Record commits the pushed events of one request (one push, or a batch) in one
// transaction, all or nothing, and returns the stored events of each item (none when an
// item repeats what is known). A request with an Idempotency-Key (key.Name) that
// retries a recorded request stores nothing (every item unchanged); reusing the key with
// another request is an *api.KeyReusedError.
func (p *Recorder) Record(items []api.Item, key api.Key) ([][]event.Event, error) {
	if key.Name != "" {
		items = withKey(items, key.Name)
	}
	r := &request{items: items, key: key}
	if err := p.submit(r); err != nil {
		return nil, err
	}
	return r.per, nil
}

// Push records a lifecycle event pushed by the platform (POST /api/events) and returns
// the stored events (none when the push repeats what is known).
func (p *Recorder) Push(id string, push tracker.Push) ([]event.Event, error) {
	per, err := p.Record([]api.Item{{EnvironmentID: id, Push: &push}}, api.Key{})
	if err != nil {
		return nil, err
	}
	return per[0], nil
}

// Mark appends a deployment marker (POST /api/events with kind "deployment"). A repeat
// of a stored marker stores nothing and returns the zero event.
func (p *Recorder) Mark(e event.Event) (event.Event, error) {
	per, err := p.Record([]api.Item{{EnvironmentID: e.EnvironmentID, Marker: &e}}, api.Key{})
	if err != nil || len(per[0]) == 0 {
		return event.Event{}, err
	}
	return per[0][0], nil
}

// Pushed events are group-committed: each fsync'd transaction takes every push that is
// waiting for it, so concurrent CI pipelines share transactions instead of queueing one
// fsync each. The first waiter becomes the committer (no background goroutine to stop).
//
// Sharing only what is already waiting is not enough: the pushers acknowledged by one
// commit come back a moment after the next one started, so with N steady pushers the
// commits alternate between two halves. The committer therefore waits, briefly, for the
// pushers of the group just committed to come back and join those that queued during
// that commit (at most the previous commit's duration, or a millisecond when the commit
// was shorter, capped at 5 ms, and never after an idle spell): the pushers then travel together, and events per commit grow with the
// load while commits per second stay at the disk's fsync rate.
type request struct {
	queued time.Time
	items  []api.Item // a single push, or a batch (committed together, all or nothing)
	key    api.Key    // its Idempotency-Key, if any
	skip   bool       // a retried key (unchanged) or a reused one (err): nothing to apply
	// deferred: it repeats the key or an event of an earlier request of its group, and
	// goes first into the next group instead (commitGroup).
	deferred bool
	per      [][]event.Event // stored events, per item
	err      error
	done     chan struct{}
}

type queue struct {
	mu      sync.Mutex // guards pending, arrived and the stats of the last group
	pending []*request
	arrived chan struct{} // a push was queued (capacity one, coalescing)
	commit  sync.Mutex    // one committer at a time

	lastGroup int           // pushes in the last group
	lastEnd   time.Time     // when it was committed
	lastDur   time.Duration // how long its commit took
	maxWait   time.Duration // cap of the wait; zero means maxGroupWait (tests raise it)
}

// maxGroup bounds one transaction (in events), so a flood does not make one commit huge.
// A single batch may exceed it (api.max_batch): it is committed whole.
const maxGroup = 1000

// minComeback: how long the pushers of the last group take to come back, at least (an
// answer and the next request).
const minComeback = time.Millisecond

// maxGroupWait caps the wait for the pushers of the previous group.
const maxGroupWait = 5 * time.Millisecond

func (p *Recorder) submit(r *request) error {
	r.done = make(chan struct{})
	q := &p.queue
	q.mu.Lock()
	r.queued = time.Now()
	if q.arrived == nil {
		q.arrived = make(chan struct{}, 1)
	}
	q.pending = append(q.pending, r)
	arrived := q.arrived
	q.mu.Unlock()
	select {
	case arrived <- struct{}{}:
	default:
	}
	for {
		q.commit.Lock()
		select {
		case <-r.done: // an earlier committer took it
			q.commit.Unlock()
			return r.err
		default:
		}
		batch := q.take()
		start := time.Now()
		deferred := p.commitGroup(batch)
		q.mu.Lock()
		if len(deferred) > 0 {
			q.pending = append(deferred, q.pending...)
		}
		q.lastGroup, q.lastEnd, q.lastDur = len(batch), time.Now(), time.Since(start)
		q.mu.Unlock()
		q.commit.Unlock()
		select {
		case <-r.done:
			return r.err
		default: // more than maxGroup were waiting ahead of us: commit again
		}
	}
}

// take waits for the previous group's pushers (see request) and takes the next group.
func (q *queue) take() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := maxGroupWait
	if q.maxWait > 0 {
		limit = q.maxWait
	}
	// Those that queued during the last commit, and the last group's pushers once back.
	back := max(q.lastDur, minComeback)
	want, wait := q.lastGroup, min(back, limit)
	for _, r := range q.pending {
		if r.queued.Before(q.lastEnd) {
			want++
		}
	}
	if time.Since(q.lastEnd) > back { // an idle spell: nobody is coming back
		want = 0
	}
	if len(q.pending) < want && wait > 0 {
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		for len(q.pending) < want {
			q.mu.Unlock()
			select {
			case <-q.arrived:
			case <-deadline.C:
				want = 0
			}
			q.mu.Lock()
		}
	}
	n, events := 0, 0
	for n < len(q.pending) && (n == 0 || events+len(q.pending[n].items) <= maxGroup) {
		events += len(q.pending[n].items)
		n++
	}
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	return batch
}
