package query

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Each type is judged by its own objectives over its own window; a user failure is a
// success of the platform, counted on its own; the burn rate is the last hour's.
func TestSLOStatus(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	at := func(ago time.Duration) time.Duration { return now.Sub(t0) - ago }
	var b sliceBackend
	for i := range 18 {
		d := 60.0
		if i < 2 {
			d = 400 // over preview's 5m threshold
		}
		b = append(b, ev("r", event.Ready, at(time.Duration(i+2)*time.Hour), map[string]any{"provisioning_duration_seconds": d}))
	}
	b = append(b,
		ev("u", event.ProvisioningFailed, at(3*time.Hour), map[string]any{"reason": "sync_failed", "failure_class": "user"}),
		ev("p", event.ProvisioningFailed, at(30*time.Minute), map[string]any{"reason": "timeout", "failure_class": "platform"}),
		ev("old", event.ProvisioningFailed, at(8*24*time.Hour), map[string]any{"reason": "timeout"}), // outside preview's 7d window
		ev("l", event.Ready, at(10*time.Minute), map[string]any{"provisioning_duration_seconds": 9000.0, "late": true}),
		event.Event{EnvironmentID: "s", Name: event.Ready, Time: now.Add(-time.Hour), Type: "staging", Metadata: map[string]any{"provisioning_duration_seconds": 30.0}},
	)
	slos := config.SLOs{
		config.SLODefault: config.DefaultSLO,
		"preview": {Latency: config.LatencyObjective{Objective: 90, Threshold: model.Duration(5 * time.Minute)},
			Success: config.SuccessObjective{Objective: 95}, Window: model.Duration(7 * 24 * time.Hour)},
		"prod": config.DefaultSLO,
	}
	s := NewService(b, config.DefaultTargetsConfig, func() time.Time { return now }).WithSLOs(slos)
	p, err := s.Performance(context.Background(), 24*time.Hour, "24h", "")
	require.NoError(t, err)
	require.Len(t, p.SLOs, 3)
	pv, prod, st := p.SLOs[0], p.SLOs[1], p.SLOs[2]
	require.Equal(t, []string{"preview", "prod", "staging"}, []string{pv.Type, prod.Type, st.Type})

	require.Equal(t, "7d", pv.Window)
	require.Equal(t, 1, pv.UserFailures)
	require.Equal(t, 1, pv.PlatformFailures)
	// Success: 18 readies + 1 user failure good, 1 platform failure bad, of 20.
	require.Equal(t, 20, pv.Success.Events)
	require.Equal(t, 1, pv.Success.Bad)
	require.Equal(t, 95.0, *pv.Success.Actual)
	require.Equal(t, 0.0, *pv.Success.ErrorBudgetRemaining, "a 5 % miss ratio spends a 5 % budget")
	// The last hour: the platform failure alone.
	require.Equal(t, 20.0, *pv.Success.BurnRate)
	// Latency: 2 of 18 readies over 5m; budget 10 %: 11.11 % missed, overspent.
	require.Equal(t, 18, pv.Latency.Events)
	require.Equal(t, 88.89, *pv.Latency.Actual)
	require.Equal(t, -11.11, *pv.Latency.ErrorBudgetRemaining)
	require.Equal(t, 300.0, *pv.Latency.ThresholdSeconds)
	require.Nil(t, pv.Latency.BurnRate, "no ready in the last hour")

	// A type slos: names without attempts is shown, with no data.
	require.Equal(t, 0, prod.Success.Events)
	require.Nil(t, prod.Success.Actual)
	require.Equal(t, 98.0, prod.Success.Objective)

	// A type slos: does not name is judged by the default.
	require.Equal(t, "30d", st.Window)
	require.Equal(t, 100.0, *st.Success.ErrorBudgetRemaining)
	require.Equal(t, 0.0, *st.Success.BurnRate)

	pr := p.EnvironmentPerformance.Provisioning
	require.Equal(t, 1, pr.UserFailures)
	require.Equal(t, 1, pr.PlatformFailures)

	// One type asked for: only its SLO.
	p, err = s.Performance(context.Background(), 24*time.Hour, "24h", "staging")
	require.NoError(t, err)
	require.Len(t, p.SLOs, 1)
	require.Equal(t, "staging", p.SLOs[0].Type)

	// Without slos, none (the answer keeps an empty list).
	p, err = NewService(b, config.DefaultTargetsConfig, func() time.Time { return now }).Performance(context.Background(), 24*time.Hour, "24h", "")
	require.NoError(t, err)
	require.Empty(t, p.SLOs)
	require.NotNil(t, p.SLOs)
}
