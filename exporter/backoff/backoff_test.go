package backoff

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// maxRand always draws the highest value: Next returns the ceiling itself.
type maxRand struct{}

func (maxRand) Int64N(n int64) int64 { return n - 1 }

func TestCeilings(t *testing.T) {
	b := New(100*time.Millisecond, 5*time.Second, maxRand{})
	var got []time.Duration
	for range 10 {
		got = append(got, b.Next())
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms,
		5000 * ms, 5000 * ms, 5000 * ms, 5000 * ms}, got)
	require.Equal(t, 10, b.Attempt())

	b.Reset()
	require.Equal(t, 0, b.Attempt())
	require.Equal(t, 100*ms, b.Next())
}

func TestNoOverflow(t *testing.T) {
	b := New(time.Second, time.Duration(1<<62), maxRand{})
	for range 200 {
		d := b.Next()
		require.Positive(t, d)
		require.LessOrEqual(t, d, time.Duration(1<<62))
	}
	require.Equal(t, time.Duration(1<<62), b.Next())
}

func TestSeededIsDeterministicAndFullJitter(t *testing.T) {
	const initial, max = 50 * time.Millisecond, 2 * time.Second
	b := New(initial, max, rand.New(rand.NewPCG(1, 2)))
	ref := rand.New(rand.NewPCG(1, 2)) // the same draws, computed by hand
	ceiling := initial
	for i := range 50 {
		want := time.Duration(ref.Int64N(int64(ceiling) + 1))
		require.Equal(t, want, b.Next(), "attempt %d", i)
		ceiling = min(2*ceiling, max)
	}

	// Same seed, same sequence; and every delay is within [0, ceiling].
	b1 := New(initial, max, rand.New(rand.NewPCG(7, 7)))
	b2 := New(initial, max, rand.New(rand.NewPCG(7, 7)))
	seenLow := false
	for i := range 200 {
		d1, d2 := b1.Next(), b2.Next()
		require.Equal(t, d1, d2)
		require.GreaterOrEqual(t, d1, time.Duration(0))
		require.LessOrEqual(t, d1, b1.ceiling(i))
		if i > 10 && d1 < max/2 {
			seenLow = true // full jitter: capped attempts still draw small delays
		}
	}
	require.True(t, seenLow)
}

func TestDefaultSourceAndConcurrency(t *testing.T) {
	b := New(time.Millisecond, time.Second, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				d := b.Next()
				if d < 0 || d > time.Second {
					t.Errorf("delay %v out of range", d)
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 800, b.Attempt())
}

func TestNewPanicsOnBadBounds(t *testing.T) {
	require.Panics(t, func() { New(0, time.Second, nil) })
	require.Panics(t, func() { New(2*time.Second, time.Second, nil) })
	require.NotPanics(t, func() { New(time.Second, time.Second, nil) })
}
