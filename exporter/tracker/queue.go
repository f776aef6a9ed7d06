package tracker

import (
	"container/heap"
	"time"
)

// deadlineQueue holds the environments waiting on a deadline, earliest first (a binary
// heap, container/heap), with each one's place in it so that a state that changes moves
// or leaves its entry in O(log n). Finding the passed deadlines walks only the entries
// that passed: their subtree is cut at the first one still ahead.
type deadlineQueue struct {
	items []deadlineItem
	pos   map[string]int // environment id -> index in items
}

type deadlineItem struct {
	id string
	at time.Time
}

func newDeadlineQueue() *deadlineQueue { return &deadlineQueue{pos: map[string]int{}} }

// set puts environment id's deadline at at, or moves it there.
func (q *deadlineQueue) set(id string, at time.Time) {
	if i, ok := q.pos[id]; ok {
		if q.items[i].at.Equal(at) {
			return
		}
		q.items[i].at = at
		heap.Fix(q, i)
		return
	}
	heap.Push(q, deadlineItem{id: id, at: at})
}

// remove takes environment id's deadline out, if it has one.
func (q *deadlineQueue) remove(id string) {
	if i, ok := q.pos[id]; ok {
		heap.Remove(q, i)
	}
}

// passed calls f for every deadline at or before at, in no particular order. It visits
// those and, at most, two children of each that are still ahead: the cost follows what
// passed, not the queue's length.
func (q *deadlineQueue) passed(at time.Time, f func(deadlineItem)) {
	var walk func(i int)
	walk = func(i int) {
		if i >= len(q.items) || q.items[i].at.After(at) {
			return // the heap's order: nothing below is earlier
		}
		f(q.items[i])
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
}

// heap.Interface, for container/heap only.

func (q *deadlineQueue) Len() int { return len(q.items) }
func (q *deadlineQueue) Less(i, j int) bool {
	if !q.items[i].at.Equal(q.items[j].at) {
		return q.items[i].at.Before(q.items[j].at)
	}
	return q.items[i].id < q.items[j].id
}
func (q *deadlineQueue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.pos[q.items[i].id], q.pos[q.items[j].id] = i, j
}
func (q *deadlineQueue) Push(x any) {
	it := x.(deadlineItem)
	q.pos[it.id] = len(q.items)
	q.items = append(q.items, it)
}
func (q *deadlineQueue) Pop() any {
	n := len(q.items) - 1
	it := q.items[n]
	q.items[n] = deadlineItem{}
	q.items = q.items[:n]
	delete(q.pos, it.id)
	return it
}
