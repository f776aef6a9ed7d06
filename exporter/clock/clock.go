// Package clock is the time the sources' loops live on: when they look (Now), how long
// they wait between two looks (Sleep) and their fixed paces (Every). The sources declare
// what they need of it and default to Real; a test passes a clock that it moves itself
// (internal/testclock), which then steps the loops deterministically.
package clock

import (
	"context"
	"time"
)

// Real is the system's clock. NowFunc, when set, replaces time.Now for Now only (a
// replayed clock, as the demo's); the waits stay real.
type Real struct {
	NowFunc func() time.Time
}

// Now returns the time.
func (c Real) Now() time.Time {
	if c.NowFunc != nil {
		return c.NowFunc()
	}
	return time.Now()
}

// Sleep waits d, or until ctx ends, and reports whether d passed. who names the waiting
// loop, for clocks that play time; Real ignores it.
func (Real) Sleep(ctx context.Context, _ string, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Every runs f now and then every d until ctx ends; a tick that comes while f runs is
// dropped, as time.Ticker drops it.
func (Real) Every(ctx context.Context, _ string, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
