package event

import (
	"math"
	"time"
)

// Seconds is a duration as a JSON number of whole seconds: every time envtrack stores
// is a whole second, so this is exact.
//
// A duration is never negative: evidence out of order (clock skew between sources, an
// old record) counts as no time at all, so no metric, summary or insight shows time
// going backwards.
func Seconds(d time.Duration) float64 { return float64(max(d, 0) / time.Second) }

// Hours is a duration in hours, exact to the second: whole seconds divided by 3600 and
// rounded to 6 decimals (0.0036 h is 13 s; a 0.01 h rounding hid 36 s). The tracker's
// events and the timeline summaries use it both, so they agree.
func Hours(d time.Duration) float64 {
	return math.Round(Seconds(d)/3600*1e6) / 1e6
}
