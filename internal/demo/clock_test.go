package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testclock"
)

// TestClockReplaysThenRunsLive: a day at 240× starts 23h54m in the past, plays the day
// in six real minutes, meets the present then and never runs ahead of it.
func TestClockReplaysThenRunsLive(t *testing.T) {
	r0 := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	real := testclock.New(r0)
	c := NewClock(24*time.Hour, 240, real.Now)
	require.Equal(t, r0.Add(-24*time.Hour+6*time.Minute), c.Now())
	require.Equal(t, c.Start(), c.Now())
	require.Equal(t, r0.Add(6*time.Minute), c.CatchUp())
	require.False(t, c.CaughtUp())
	require.Equal(t, 240.0, c.Rate())

	real.Add(time.Minute)
	require.Equal(t, r0.Add(-24*time.Hour+6*time.Minute+4*time.Hour), c.Now(), "one real minute is four simulated hours")

	prev := c.Now()
	for range 20 * 60 * 10 {
		real.Add(100 * time.Millisecond)
		now := c.Now()
		require.False(t, now.Before(prev), "monotonic")
		require.False(t, now.After(real.Now()), "never ahead of real time")
		prev = now
	}
	// 21 real minutes later: caught up at 6, live since.
	require.True(t, c.CaughtUp())
	require.Equal(t, real.Now(), c.Now())
	require.Equal(t, 1.0, c.Rate())
}

func TestClockWithoutHistoryIsLive(t *testing.T) {
	r0 := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	real := testclock.New(r0)
	c := NewClock(0, 240, real.Now)
	require.True(t, c.CaughtUp())
	real.Add(time.Second)
	require.Equal(t, r0.Add(time.Second), c.Now())
}
