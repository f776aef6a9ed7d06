package demo

import (
	"time"
)

// Clock is the demo's virtual clock: the simulated world and envtrack both read it, so
// every timestamp envtrack sees (Argo CD's evidence, its own observations, the
// provisioning timeout) is on one time line.
//
// It starts in the past and runs Speed times faster than real time until it meets the
// present, then runs at real time. Started at real time r0 with history H and speed S,
// it reads r0 − H·(1 − 1/S) at r0 and reaches the present at r0 + H/S, having played H
// of simulated activity in H/S of real time: a day at 240× is six minutes. It is never
// ahead of real time, so InfluxDB points, Grafana annotations and timeline timestamps
// are never in the future, and Prometheus (which stamps samples with real time) sees
// durations and counts as they happen.
type Clock struct {
	real      func() time.Time
	realStart time.Time
	virtStart time.Time
	speed     float64
	history   time.Duration
}

// NewClock starts a clock now (real()) that replays history at speed (at least 1).
// A nil real means time.Now.
func NewClock(history time.Duration, speed float64, real func() time.Time) *Clock {
	if real == nil {
		real = time.Now
	}
	if speed < 1 {
		speed = 1
	}
	if history < 0 {
		history = 0
	}
	r0 := real()
	lead := time.Duration(float64(history) * (1 - 1/speed))
	return &Clock{real: real, realStart: r0, virtStart: r0.Add(-lead), speed: speed, history: lead}
}

// Now returns the virtual time: monotonic, never after real time.
func (c *Clock) Now() time.Time {
	r := c.real()
	v := c.virtStart.Add(time.Duration(float64(r.Sub(c.realStart)) * c.speed))
	if v.After(r) {
		v = r
	}
	return v.Round(0) // wall clock only: it is compared with and stored as wall times
}

// Start is the virtual time the clock started at.
func (c *Clock) Start() time.Time { return c.virtStart }

// Speed is how much faster than real time the clock runs while it replays.
func (c *Clock) Speed() float64 { return c.speed }

// CatchUp is the real time at which the virtual clock meets the present.
func (c *Clock) CatchUp() time.Time {
	if c.speed <= 1 {
		return c.realStart
	}
	return c.realStart.Add(time.Duration(float64(c.history) / (c.speed - 1)))
}

// CaughtUp reports whether the clock now runs at real time.
func (c *Clock) CaughtUp() bool { return !c.real().Before(c.CatchUp()) }

// Rate is the current speed: Speed while replaying, 1 once caught up.
func (c *Clock) Rate() float64 {
	if c.CaughtUp() {
		return 1
	}
	return c.speed
}
