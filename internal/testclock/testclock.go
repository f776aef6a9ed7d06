// Package testclock is a settable clock for tests: code under test takes a
// func() time.Time, and tests pass Clock.Now; or it takes a whole clock (the sources'
// Clock: Now, Sleep, Every), and tests step its loops with Set.
package testclock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is a clock that moves only when told. It is safe for concurrent use.
//
// Loops that wait on it (Sleep, Every) run when Set moves it to or past their deadline:
// Set wakes each of them once, one at a time, in the order of their deadlines (then of
// their names, so that two loops due at the same instant always run in the same order),
// with the clock at the time set, and returns once each has done its work and waits
// again (or stopped). A test that moves the clock has thereby run the daemon's
// schedule up to that time, deterministically.
type Clock struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when the waiters change (Await)
	t       time.Time
	waiting []*waiter
	running *waiter // woken by Set, working
}

type waiter struct {
	who      string
	deadline time.Time
	ctx      context.Context
	wake     chan struct{} // closed by Set
	done     chan struct{} // closed when the work after the wake is done
}

// New returns a clock set to t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t and runs the loops due by then (see Clock).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	var due, rest []*waiter
	for _, w := range c.waiting {
		if w.deadline.After(t) {
			rest = append(rest, w)
		} else {
			due = append(due, w)
		}
	}
	c.waiting = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool {
		if !due[i].deadline.Equal(due[j].deadline) {
			return due[i].deadline.Before(due[j].deadline)
		}
		return due[i].who < due[j].who
	})
	for _, w := range due {
		c.mu.Lock()
		c.running = w
		c.mu.Unlock()
		close(w.wake)
		select {
		case <-w.done:
		case <-w.ctx.Done(): // the loop stopped instead of waiting again
		}
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
	}
}

// Add moves the clock by d (Set).
func (c *Clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// Sleep waits until Set moves the clock d past its time now, or until ctx ends, and
// reports whether the clock moved. who names the loop: the loop is done with the work
// of its last wake when it sleeps again.
func (c *Clock) Sleep(ctx context.Context, who string, d time.Duration) bool {
	c.mu.Lock()
	if r := c.running; r != nil && r.who == who {
		close(r.done)
		c.running = nil
	}
	w := &waiter{who: who, deadline: c.t.Add(max(d, 0)), ctx: ctx, wake: make(chan struct{}), done: make(chan struct{})}
	c.waiting = append(c.waiting, w)
	c.signal()
	c.mu.Unlock()
	select {
	case <-w.wake:
		return true
	case <-ctx.Done():
		c.mu.Lock()
		for i, x := range c.waiting {
			if x == w {
				c.waiting = append(c.waiting[:i:i], c.waiting[i+1:]...)
				break
			}
		}
		c.signal()
		c.mu.Unlock()
		return false
	}
}

// Every runs f when Set first reaches the clock's time now, and then every d of the
// clock's time, until ctx ends.
func (c *Clock) Every(ctx context.Context, who string, d time.Duration, f func()) {
	for wait := time.Duration(0); c.Sleep(ctx, who, wait); wait = d {
		f()
	}
}

// Await blocks until loops with each of these names wait on the clock: a test that
// started the loops calls it before its first Set.
func (c *Clock) Await(who ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.waitingFor(who) {
		c.condition().Wait()
	}
}

func (c *Clock) waitingFor(who []string) bool {
	for _, name := range who {
		found := false
		for _, w := range c.waiting {
			found = found || w.who == name
		}
		if !found {
			return false
		}
	}
	return true
}

func (c *Clock) condition() *sync.Cond {
	if c.cond == nil {
		c.cond = sync.NewCond(&c.mu)
	}
	return c.cond
}

func (c *Clock) signal() { c.condition().Broadcast() }
