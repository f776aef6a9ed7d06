package app

import (
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Pushed events are group-committed: each fsync'd transaction takes every push that is
// waiting for it, so concurrent CI pipelines share transactions instead of queueing one
// fsync each. The first waiter becomes the committer (no background goroutine to stop).
//
// Sharing only what is already waiting is not enough: the pushers acknowledged by one
// commit come back a moment after the next one started, so with N steady pushers the
// commits alternate between two halves. The committer therefore waits, briefly, for the
// pushers of the group just committed to come back and join those that queued during
// that commit (at most the previous commit's duration, capped at 5 ms, and never after
// an idle spell): the pushers then travel together, and events per commit grow with the
// load while commits per second stay at the disk's fsync rate.
type pushReq struct {
	queued time.Time
	items  []api.Item      // a single push, or a batch (committed together, all or nothing)
	per    [][]event.Event // stored events, per item
	err    error
	done   chan struct{}
}

type pushQueue struct {
	mu      sync.Mutex // guards pending, arrived and the stats of the last group
	pending []*pushReq
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

// maxGroupWait caps the wait for the pushers of the previous group.
const maxGroupWait = 5 * time.Millisecond

func (a *App) submit(r *pushReq) error {
	r.done = make(chan struct{})
	q := &a.pushes
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
		a.commitGroup(batch)
		q.mu.Lock()
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

// take waits for the previous group's pushers (see pushReq) and takes the next group.
func (q *pushQueue) take() []*pushReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := maxGroupWait
	if q.maxWait > 0 {
		limit = q.maxWait
	}
	// Those that queued during the last commit, and the last group's pushers once back.
	want, wait := q.lastGroup, min(q.lastDur, limit)
	for _, r := range q.pending {
		if r.queued.Before(q.lastEnd) {
			want++
		}
	}
	if time.Since(q.lastEnd) > q.lastDur { // an idle spell: nobody is coming back
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

// owner says which request's item an observation or a marker of the group came from.
type owner struct {
	r *pushReq
	i int
}

func (a *App) commitGroup(batch []*pushReq) {
	var (
		obs      []tracker.Observation
		markers  []event.Event
		obsOf    []owner
		markerOf []owner
		// markerGroups: the request of each marker, for the tracker's all or nothing.
		markerGroups []int
	)
	seen := map[string]bool{} // repeats within the group
	var g *group              // Idempotency-Keys, loaded on first use
	for n, r := range batch {
		group := n + 1 // the items of one request: all or nothing
		r.per = make([][]event.Event, len(r.items))
		for i, it := range r.items {
			if key := itemKey(it); key != "" {
				if g == nil {
					if err := a.repeats.load(a); err != nil {
						for _, r := range batch {
							r.err = err
							close(r.done)
						}
						return
					}
					g = a.repeats.group()
				}
				if g.repeat(idempotencyKey(key)) {
					continue // unchanged: a retry of a recorded push
				}
			}
			if a.repeated(it, seen) {
				continue // unchanged: already in the journal
			}
			if it.Marker != nil {
				markers = append(markers, *it.Marker)
				markerGroups = append(markerGroups, group)
				markerOf = append(markerOf, owner{r, i})
				continue
			}
			obs = append(obs, tracker.Observation{EnvironmentID: it.EnvironmentID, At: a.now(), Push: it.Push, Group: group})
			obsOf = append(obsOf, owner{r, i})
		}
	}
	per, rejected, stored, err := a.tracker.ProcessBatch(obs, markers, markerGroups, a.store.Commit)
	if err == nil {
		for i, o := range obsOf {
			o.r.per[o.i] = per[i]
			if rejected[i] != nil && o.r.err == nil {
				// 422 naming the item. The tracker stored nothing of its batch: the
				// items of one request share a group, all or nothing.
				o.r.err = &api.ItemError{Index: o.i, Err: rejected[i]}
				if g != nil {
					for _, it := range o.r.items { // none of the request was recorded
						if key := itemKey(it); key != "" {
							g.forget(idempotencyKey(key))
						}
					}
				}
			}
		}
		if g != nil {
			g.commit()
		}
		for i, o := range markerOf {
			o.r.per[o.i] = stored[i]
		}
		var all []event.Event
		for _, evs := range per {
			all = append(all, evs...)
		}
		for _, evs := range stored {
			all = append(all, evs...)
		}
		a.afterCommit(all)
	}
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// repeated reports whether the pushed item repeats an event already in the journal (or
// earlier in the same group) exactly: same environment, event and evidence time, and for
// markers the same application, activity, status and host. The tracker's state already
// absorbs repeats of the once-per-life events (created, ready, ...); deployed, degraded
// and recovered happen many times, so a CI retry or a re-run `envtrack import` is
// recognised here, and answered "unchanged".
func (a *App) repeated(it api.Item, seen map[string]bool) bool {
	var (
		env  string
		name event.Name
		at   time.Time
		key  string
	)
	switch {
	case it.Marker != nil:
		m := it.Marker
		env, name, at = m.EnvironmentID, m.Name, m.Time
		key = markerKey(m)
	case it.Push != nil:
		switch it.Push.Event {
		case event.Deployed, event.Degraded, event.Recovered:
		default:
			return false
		}
		env, name, at = it.EnvironmentID, it.Push.Event, it.Push.Time.UTC().Truncate(time.Second)
		key = fmt.Sprintf("push\x00%s\x00%s\x00%d", env, name, at.Unix())
	default:
		return false
	}
	if seen[key] {
		return true
	}
	seen[key] = true
	// A marker's environment is usually no tracked one (001's "test"): its markers are
	// in the journal all the same.
	if _, known := a.tracker.Get(env); !known && it.Marker == nil {
		return false
	}
	evs, err := a.store.EnvironmentEvents(env)
	if err != nil {
		return false // the commit will meet the same store error and answer it
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Name != name || !e.Time.Equal(at) {
			continue
		}
		if it.Marker == nil && !e.IsMarker() || it.Marker != nil && e.IsMarker() && markerKey(&e) == key {
			return true
		}
	}
	return false
}

// itemKey is the Idempotency-Key a pushed item carries ("" when none).
func itemKey(it api.Item) string {
	if it.Push != nil {
		return it.Push.IdempotencyKey
	}
	if it.Marker != nil {
		k, _ := it.Marker.Meta(tracker.MetaIdempotencyKey).(string)
		return k
	}
	return ""
}

func markerKey(e *event.Event) string {
	str := func(k string) string { s, _ := e.Meta(k).(string); return s }
	return fmt.Sprintf("marker\x00%s\x00%d\x00%s\x00%s\x00%s\x00%s", e.EnvironmentID, e.Time.Unix(),
		str("application"), str("activity"), str("status"), str("host"))
}

// Record commits pushed events (one push, or a batch) in one transaction, all or
// nothing, and returns the stored events of each item (none when an item repeats what is
// known).
func (a *App) Record(items []api.Item) ([][]event.Event, error) {
	r := &pushReq{items: items}
	if err := a.submit(r); err != nil {
		return nil, err
	}
	return r.per, nil
}

// Push records a lifecycle event pushed by the platform (POST /api/events) and returns
// the stored events (none when the push repeats what is known).
func (a *App) Push(id string, p tracker.Push) ([]event.Event, error) {
	per, err := a.Record([]api.Item{{EnvironmentID: id, Push: &p}})
	if err != nil {
		return nil, err
	}
	return per[0], nil
}

// Mark appends a deployment marker (POST /api/events with kind "deployment"). A repeat
// of a stored marker stores nothing and returns the zero event.
func (a *App) Mark(e event.Event) (event.Event, error) {
	per, err := a.Record([]api.Item{{EnvironmentID: e.EnvironmentID, Marker: &e}})
	if err != nil || len(per[0]) == 0 {
		return event.Event{}, err
	}
	return per[0][0], nil
}

func (a *App) afterCommit(events []event.Event) {
	a.lifecycle.Observe(events)
	for _, e := range events {
		a.metrics.transitions.WithLabelValues(string(e.Name)).Inc()
		level.Info(a.logger).Log("msg", "pushed event", "environment_id", e.EnvironmentID, "event", e.Name,
			"time", e.Time.Format(time.RFC3339), "seq", e.Seq, "marker", e.IsMarker())
	}
}
