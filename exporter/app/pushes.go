package app

import (
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/event"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Pushed events are group-committed: each fsync'd transaction takes every push that is
// waiting for it, so concurrent CI pipelines share transactions instead of queueing one
// fsync each. The first waiter becomes the committer (no background goroutine to stop).
type pushReq struct {
	obs    *tracker.Observation // a lifecycle push, or
	marker *event.Event         // a deployment marker
	key    string               // the Idempotency-Key header, if any
	events []event.Event
	err    error
	done   chan struct{}
}

type pushQueue struct {
	mu      sync.Mutex // guards pending
	pending []*pushReq
	commit  sync.Mutex // one committer at a time
}

// maxGroup bounds one transaction, so a flood does not make one commit huge.
const maxGroup = 1000

func (a *App) submit(r *pushReq) ([]event.Event, error) {
	r.done = make(chan struct{})
	q := &a.pushes
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()
	for {
		q.commit.Lock()
		select {
		case <-r.done: // an earlier committer took it
			q.commit.Unlock()
			return r.events, r.err
		default:
		}
		q.mu.Lock()
		n := min(len(q.pending), maxGroup)
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		q.mu.Unlock()
		a.commitGroup(batch)
		q.commit.Unlock()
		select {
		case <-r.done:
			return r.events, r.err
		default: // more than maxGroup were waiting ahead of us: commit again
		}
	}
}

func (a *App) commitGroup(batch []*pushReq) {
	var obs []tracker.Observation
	var obsReq, markerReq []*pushReq
	var markers []event.Event
	var g *group
	for _, r := range batch {
		if r.key != "" || r.marker != nil {
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
			if a.repeated(g, r) {
				continue // r.events stays empty: the API answers "unchanged"
			}
		}
		if r.obs != nil {
			obs = append(obs, *r.obs)
			obsReq = append(obsReq, r)
		} else {
			markers = append(markers, *r.marker)
			markerReq = append(markerReq, r)
		}
	}
	per, rejected, stored, err := a.tracker.ProcessBatch(obs, markers, a.store.Commit)
	for i, r := range obsReq {
		r.err = err
		if err == nil {
			r.events = per[i]
			if rejected[i] != nil {
				r.err = rejected[i]
				if r.key != "" {
					g.forget(idempotencyKey(r.key))
				}
			}
		}
	}
	for i, r := range markerReq {
		r.err = err
		if err == nil {
			r.events = stored[i : i+1]
		}
	}
	if err == nil {
		if g != nil {
			g.commit()
		}
		var all []event.Event
		for _, evs := range per {
			all = append(all, evs...)
		}
		a.afterCommit(append(all, stored...))
	}
	for _, r := range batch {
		close(r.done)
	}
}

// repeated reports whether r repeats a push already recorded (or one earlier in g).
func (a *App) repeated(g *group, r *pushReq) bool {
	if r.key != "" && g.repeat(idempotencyKey(r.key)) {
		return true
	}
	return r.marker != nil && g.repeat(markerKey(*r.marker))
}

// Push records a lifecycle event pushed by the platform (POST /api/events) and returns
// the stored events (none when the push repeats what is known).
func (a *App) Push(id string, p tracker.Push) ([]event.Event, error) {
	return a.submit(&pushReq{obs: &tracker.Observation{EnvironmentID: id, At: a.now(), Push: &p}, key: p.IdempotencyKey})
}

// Mark appends a deployment marker (POST /api/events with kind "deployment"). A repeat
// of a recorded marker (or of its Idempotency-Key) stores nothing and returns the zero
// event.
func (a *App) Mark(e event.Event) (event.Event, error) {
	key, _ := e.Meta(tracker.MetaIdempotencyKey).(string)
	evs, err := a.submit(&pushReq{marker: &e, key: key})
	if err != nil || len(evs) == 0 {
		return event.Event{}, err // a repeat: the zero event, stored nothing
	}
	return evs[0], nil
}

func (a *App) afterCommit(events []event.Event) {
	a.lifecycle.Observe(events)
	for _, e := range events {
		a.metrics.transitions.WithLabelValues(string(e.Name)).Inc()
		level.Info(a.logger).Log("msg", "pushed event", "environment_id", e.EnvironmentID, "event", e.Name,
			"time", e.Time.Format(time.RFC3339), "seq", e.Seq, "marker", e.IsMarker())
	}
}
