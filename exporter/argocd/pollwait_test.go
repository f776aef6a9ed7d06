package argocd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/backoff"
)

type fixedRand struct{ frac float64 } // draws frac of the range

func (f fixedRand) Int64N(n int64) int64 { return int64(float64(n-1) * f.frac) }

// TestPollRetryWait: after any number of failures the next poll comes within one poll
// interval (the blind window after a fault is at most one interval), and never sooner
// than the initial backoff (no flood of Argo CD).
func TestPollRetryWait(t *testing.T) {
	for _, tc := range []struct {
		name              string
		interval, initial time.Duration
		max               time.Duration
		frac              float64
	}{
		{"defaults, highest draws", 15 * time.Second, time.Second, 5 * time.Minute, 1},
		{"defaults, lowest draws", 15 * time.Second, time.Second, 5 * time.Minute, 0},
		{"defaults, middle draws", 15 * time.Second, time.Second, 5 * time.Minute, 0.5},
		{"short interval", 2 * time.Second, 500 * time.Millisecond, time.Minute, 1},
		{"initial above the interval", 5 * time.Second, 10 * time.Second, time.Minute, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := backoff.New(tc.initial, tc.max, fixedRand{tc.frac})
			var waits []time.Duration
			for range 40 {
				w := pollRetryWait(tc.interval, tc.initial, b)
				waits = append(waits, w)
				require.LessOrEqual(t, w, tc.interval, "waits %v", waits)
				require.GreaterOrEqual(t, w, min(tc.initial, tc.interval), "waits %v", waits)
			}
			if tc.frac == 1 && tc.initial < tc.interval {
				require.Less(t, waits[0], tc.interval, "the first retry comes sooner than a poll interval")
			}
		})
	}
}
