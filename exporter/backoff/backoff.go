// Package backoff computes capped exponential backoff delays with full jitter
// (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): the n-th
// delay is uniformly random in [0, min(max, initial·2ⁿ)]. Sources retry a failing poll
// with it and sinks a failing delivery.
package backoff

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Rand is the random source: *rand.Rand of math/rand/v2 satisfies it.
type Rand interface {
	Int64N(n int64) int64
}

// globalRand uses math/rand/v2's top-level (safe, randomly seeded) source.
type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Backoff hands out successive delays. It is safe for concurrent use.
type Backoff struct {
	initial, max time.Duration

	mu      sync.Mutex
	rnd     Rand
	attempt int
}

// New returns a Backoff whose delays start under initial and never exceed max. rnd may be
// nil (a randomly seeded source); tests pass a seeded one for repeatable delays. New
// panics if initial <= 0 or max < initial: both come from validated configuration.
func New(initial, max time.Duration, rnd Rand) *Backoff {
	if initial <= 0 || max < initial {
		panic("backoff: need 0 < initial <= max")
	}
	if rnd == nil {
		rnd = globalRand{}
	}
	return &Backoff{initial: initial, max: max, rnd: rnd}
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	ceiling := b.ceiling(b.attempt)
	b.attempt++
	return time.Duration(b.rnd.Int64N(int64(ceiling) + 1))
}

// ceiling is min(max, initial·2^attempt), without overflowing.
func (b *Backoff) ceiling(attempt int) time.Duration {
	c := b.initial
	for range attempt {
		if c > b.max/2 {
			return b.max
		}
		c *= 2
	}
	return min(c, b.max)
}

// Reset starts over after a success.
func (b *Backoff) Reset() {
	b.mu.Lock()
	b.attempt = 0
	b.mu.Unlock()
}

// Attempt returns how many delays were handed out since the last Reset.
func (b *Backoff) Attempt() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.attempt
}
