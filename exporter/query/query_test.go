package query

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// sliceBackend serves fixed events: the shaping is tested apart from any TSDB.
type sliceBackend []event.Event

func (s sliceBackend) EnvironmentEvents(_ context.Context, id string) ([]event.Event, error) {
	var out []event.Event
	for _, e := range s {
		if e.EnvironmentID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s sliceBackend) Range(_ context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	var out []event.Event
	for _, e := range s {
		ok := len(names) == 0
		for _, n := range names {
			ok = ok || n == e.Name
		}
		if ok && !e.Time.Before(from) && e.Time.Before(to) && (typ == "" || typ == e.Type) {
			out = append(out, e)
		}
	}
	return out, nil
}

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// sliceGaps serves fixed windows not observed, by overlap as the store does.
type sliceGaps []event.Gap

func (s sliceGaps) Gaps(from, to time.Time) ([]event.Gap, error) {
	var out []event.Gap
	for _, g := range s {
		if g.Overlaps(from, to) {
			out = append(out, g)
		}
	}
	return out, nil
}

func ev(id string, name event.Name, off time.Duration, meta map[string]any) event.Event {
	return event.Event{EnvironmentID: id, EnvironmentName: "test-env", Name: name, Time: t0.Add(off), Type: "preview", Metadata: meta}
}

func TestTimelineShape(t *testing.T) {
	b := sliceBackend{
		ev("abc123", event.ProvisioningStarted, 0, map[string]any{"repository": "backend-api", "branch": "main"}),
		ev("abc123", event.Ready, 225*time.Second, map[string]any{"provisioning_duration_seconds": 225.0, "readiness_summary": "All checks passed"}),
		{EnvironmentID: "abc123", Name: event.Deployed, Time: t0, Metadata: map[string]any{"kind": "deployment"}}, // a marker: not in timelines
	}
	gaps := sliceGaps{
		{From: t0.Add(-time.Hour), To: t0.Add(-time.Minute), Source: event.GapArgoCD, Reason: event.GapRefused}, // before its life
		{From: t0.Add(2 * time.Minute), To: t0.Add(2*time.Minute + 6*time.Second), Source: event.GapArgoCD, Reason: event.GapTruncated},
		{From: t0.Add(24 * time.Hour), Source: event.GapArgoCD, Reason: event.GapStalled}, // still open
	}
	s := NewService(b, config.TargetsConfig{}, func() time.Time { return t0.Add(24*time.Hour + 30*time.Minute) }).WithGaps(gaps)
	tl, err := s.Timeline(context.Background(), "abc123")
	require.NoError(t, err)
	got, err := json.Marshal(tl)
	require.NoError(t, err)
	require.JSONEq(t, `{
	  "environment_id": "abc123", "environment_name": "test-env",
	  "timeline": [
	    {"event": "provisioning_started", "timestamp": "2025-01-07T10:00:00Z", "metadata": {"repository": "backend-api", "branch": "main"}},
	    {"event": "ready", "timestamp": "2025-01-07T10:03:45Z", "metadata": {"provisioning_duration_seconds": 225, "readiness_summary": "All checks passed"}}
	  ],
	  "summary": {"provisioning_duration_seconds": 225, "total_lifetime_hours": 24.5, "queue_duration_seconds": null,
	              "termination_duration_seconds": null, "outcome": "ready"},
	  "gaps": [
	    {"from": "2025-01-07T10:02:00Z", "to": "2025-01-07T10:02:06Z", "source": "argocd", "reason": "truncated"},
	    {"from": "2025-01-08T10:00:00Z", "to": "2025-01-08T10:30:00Z", "source": "argocd", "reason": "stalled", "ongoing": true}
	  ]
	}`, string(got))

	// Without a store of gaps, the shape keeps an empty list.
	tl, err = NewService(b, config.TargetsConfig{}, nil).Timeline(context.Background(), "abc123")
	require.NoError(t, err)
	got, err = json.Marshal(tl.Gaps)
	require.NoError(t, err)
	require.Equal(t, "[]", string(got))

	_, err = s.Timeline(context.Background(), "nope")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestTimelineLifetimeExact: a 13-second environment does not read 0 hours, and the
// summary agrees with its own terminated event to the second.
func TestTimelineLifetimeExact(t *testing.T) {
	b := sliceBackend{
		ev("short", event.ProvisioningStarted, 0, nil),
		ev("short", event.Ready, 9*time.Second, map[string]any{"provisioning_duration_seconds": 9.0}),
		ev("short", event.Terminated, 13*time.Second, map[string]any{"total_lifetime_hours": event.Hours(13 * time.Second)}),
		ev("live", event.ProvisioningStarted, 0, nil),
	}
	s := NewService(b, config.TargetsConfig{}, func() time.Time { return t0.Add(time.Hour + time.Second + 700*time.Millisecond) })
	tl, err := s.Timeline(context.Background(), "short")
	require.NoError(t, err)
	require.Equal(t, 0.003611, *tl.Summary.TotalLifetimeHours)
	require.Equal(t, tl.Timeline[2].Metadata["total_lifetime_hours"], *tl.Summary.TotalLifetimeHours)
	tl, err = s.Timeline(context.Background(), "live")
	require.NoError(t, err)
	require.Equal(t, 1.000278, *tl.Summary.TotalLifetimeHours)
}

func TestPercentileNearestRank(t *testing.T) {
	xs := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, c := range []struct{ q, want float64 }{{50, 50}, {95, 100}, {99, 100}, {10, 10}, {11, 20}, {0, 10}} {
		require.Equal(t, c.want, Percentile(xs, c.q), "p%v", c.q)
	}
	require.Equal(t, 7.0, Percentile([]float64{7}, 99))
}

func TestPerformance(t *testing.T) {
	var b sliceBackend
	for i := 0; i < 20; i++ {
		d := float64(60 + 30*i) // 60 .. 630
		b = append(b, ev("e", event.Ready, time.Duration(i)*time.Minute, map[string]any{"provisioning_duration_seconds": d}))
	}
	b = append(b,
		ev("f1", event.ProvisioningFailed, time.Minute, map[string]any{"reason": "timeout"}),
		ev("f2", event.ProvisioningFailed, 2*time.Minute, map[string]any{"reason": "timeout"}),
		ev("l", event.Ready, 3*time.Minute, map[string]any{"provisioning_duration_seconds": 9000.0, "late": true}),
		ev("s", event.Ready, 3*time.Minute, map[string]any{"baseline": true}),
		ev("old", event.Ready, -30*24*time.Hour, map[string]any{"provisioning_duration_seconds": 1.0}),
		ev("t", event.Terminated, 4*time.Minute, map[string]any{"termination_duration_seconds": 90.0}),
	)
	s := NewService(b, config.DefaultTargetsConfig, func() time.Time { return t0.Add(time.Hour) })
	p, err := s.Performance(context.Background(), 7*24*time.Hour, "7d", "")
	require.NoError(t, err)
	pr := p.EnvironmentPerformance.Provisioning
	require.Equal(t, 22, pr.SampleSize)
	require.Equal(t, 20, pr.Successes)
	require.Equal(t, 1, pr.LateReadies)
	require.Equal(t, 90.91, *pr.SuccessRate)
	require.Equal(t, 345.0, *pr.AverageSeconds)
	require.Equal(t, 330.0, *pr.P50Seconds) // rank 10 of 20
	require.Equal(t, 600.0, *pr.P95Seconds) // rank 19
	require.Equal(t, 630.0, *pr.P99Seconds) // rank 20
	require.Equal(t, map[string]int{"timeout": 2}, pr.FailuresByReason)
	require.Equal(t, 1, p.EnvironmentPerformance.Termination.SampleSize)
	require.Equal(t, []string{"alert", "warn", "alert"}, []string{p.Targets[0].Status, p.Targets[1].Status, p.Targets[2].Status})
	titles := []string{}
	for _, r := range p.Recommendations {
		titles = append(titles, r.Title)
	}
	require.Equal(t, []string{"Slow provisioning", "Slow provisioning", "Low success rate", "Most common failure: timeout"}, titles)
	require.Contains(t, p.EnvironmentPerformance.ByType, "preview")
}
