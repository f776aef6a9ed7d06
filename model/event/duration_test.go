package event

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHoursExactToTheSecond: hours keep at least 4 decimals, so a lifetime in hours
// turns back into the same whole seconds.
func TestHoursExactToTheSecond(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{13 * time.Second, 0.003611},
		{36 * time.Second, 0.01},
		{9 * time.Minute, 0.15},
		{time.Hour + time.Second, 1.000278},
		{13*time.Second + 900*time.Millisecond, 0.003611}, // whole seconds only
	} {
		require.Equal(t, tc.want, Hours(tc.d), "%s", tc.d)
	}
	for s := 0; s < 5*86400; s += 7 {
		d := time.Duration(s) * time.Second
		back := time.Duration(Hours(d) * 3600 * float64(time.Second)).Round(time.Second)
		require.Equal(t, d, back, "%d s", s)
	}
}
