// Package recycle keeps a reader's buffers for reuse across garbage collections.
package recycle

import "sync"

// Recycler keeps values for reuse: a few of them (kept) across garbage collections, the
// rest in a sync.Pool, which the collector empties at every other cycle. A long
// timeline allocates about half a megabyte; on envtrack's small heap that starts a
// collection every few such requests, and the buffers a sync.Pool alone held were lost
// to it and grown again from nothing, the copies and the clearing of memory a fifth of
// the read's CPU (docs/benchmarks.md).
type Recycler[T any] struct {
	kept chan *T
	pool sync.Pool
}

// KeptValues: as many requests as read at once on a small machine; the values' sizes
// are bounded by the callers (what a long timeline needs, a megabyte or two at most).
const KeptValues = 2

// New returns an empty Recycler.
func New[T any]() *Recycler[T] {
	return &Recycler[T]{kept: make(chan *T, KeptValues)}
}

// Get returns a value put before, else a new one.
func (r *Recycler[T]) Get() *T {
	select {
	case v := <-r.kept:
		return v
	default:
	}
	if v, ok := r.pool.Get().(*T); ok {
		return v
	}
	return new(T)
}

// Put gives v back: kept across collections if it is small enough to keep and there is
// room, else to the pool.
func (r *Recycler[T]) Put(v *T, keep bool) {
	if keep {
		select {
		case r.kept <- v:
			return
		default:
		}
	}
	r.pool.Put(v)
}
