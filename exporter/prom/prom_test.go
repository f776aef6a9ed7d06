package prom

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

func TestObserveLiveTransitionsOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	states := []tracker.State{{ID: "a", Phase: tracker.PhaseProvisioning, Type: "preview"}, {ID: "b", Phase: tracker.PhaseReady, Type: "preview"}}
	m := New("blueberry", false, phaseTypes(states), reg)
	at := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	m.Observe([]event.Event{
		{EnvironmentID: "a", Name: event.Ready, Type: "preview", Time: at, Metadata: map[string]any{"provisioning_duration_seconds": 45.0}},
		{EnvironmentID: "b", Name: event.Ready, Type: "preview", Time: at, Metadata: map[string]any{"provisioning_duration_seconds": 400.0, "late": true}},
		{EnvironmentID: "c", Name: event.Ready, Type: "preview", Time: at, Metadata: map[string]any{"provisioning_duration_seconds": 10.0, "backfill": true}},
		{EnvironmentID: "d", Name: event.ProvisioningFailed, Type: "preview", Time: at, Metadata: map[string]any{"reason": "timeout"}},
		{EnvironmentID: "e", Name: event.ProvisioningFailed, Type: "preview", Time: at, Metadata: map[string]any{"reason": "sync_failed", "failure_class": "user"}},
		{EnvironmentID: "web", Name: event.Deployed, Time: at, Metadata: map[string]any{"kind": "deployment", "status": "failed"}},
	})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP blueberry_environment_provisioning_duration_seconds Time from provisioning_started to ready, by environment type.
# TYPE blueberry_environment_provisioning_duration_seconds histogram
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="30"} 0
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="60"} 1
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="120"} 1
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="300"} 1
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="600"} 1
blueberry_environment_provisioning_duration_seconds_bucket{type="preview",le="+Inf"} 1
blueberry_environment_provisioning_duration_seconds_sum{type="preview"} 45
blueberry_environment_provisioning_duration_seconds_count{type="preview"} 1
# HELP blueberry_environment_provisioning_total Provisioning attempts that ended, by status (success, failed) and type.
# TYPE blueberry_environment_provisioning_total counter
blueberry_environment_provisioning_total{status="failed",type="preview"} 2
blueberry_environment_provisioning_total{status="success",type="preview"} 1
# HELP blueberry_environment_provisioning_failures_total Failed provisioning attempts by reason, type and class (user: what was asked cannot work; platform: it could not be provided).
# TYPE blueberry_environment_provisioning_failures_total counter
blueberry_environment_provisioning_failures_total{class="platform",reason="timeout",type="preview"} 1
blueberry_environment_provisioning_failures_total{class="user",reason="timeout",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="platform",reason="sync_failed",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="user",reason="sync_failed",type="preview"} 1
blueberry_environment_provisioning_failures_total{class="platform",reason="degraded",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="user",reason="degraded",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="platform",reason="url_unreachable",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="user",reason="url_unreachable",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="platform",reason="deleted_before_ready",type="preview"} 0
blueberry_environment_provisioning_failures_total{class="user",reason="deleted_before_ready",type="preview"} 0
# HELP blueberry_deployments_total Deployments: deployment markers pushed by CI and deployed events seen in Argo CD, by status.
# TYPE blueberry_deployments_total counter
blueberry_deployments_total{status="failed"} 1
# HELP blueberry_environment_provisioning_in_progress Environments provisioning now (the current provisioning queue), by type.
# TYPE blueberry_environment_provisioning_in_progress gauge
blueberry_environment_provisioning_in_progress{type="preview"} 1
`), "blueberry_environment_provisioning_duration_seconds", "blueberry_environment_provisioning_total",
		"blueberry_environment_provisioning_failures_total", "blueberry_deployments_total", "blueberry_environment_provisioning_in_progress"))
	require.Equal(t, 2.0, testutil.ToFloat64(m.events.WithLabelValues("ready")), "history (backfill) is no live event")
}

// phaseTypes is Tracker.PhaseTypes over a fixed set of states.
func phaseTypes(states []tracker.State) func(func(tracker.Phase, string) bool) {
	return func(yield func(tracker.Phase, string) bool) {
		for _, s := range states {
			if !yield(s.Phase, s.Type) {
				return
			}
		}
	}
}

// TestStuckTerminationsGauge (issue 19, item 5): the environments terminating longer than
// readiness.termination_timeout are counted by type, every known type from 0.
func TestStuckTerminationsGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	states := []tracker.State{
		{ID: "a", Phase: tracker.PhaseTerminating, Type: "preview", TerminationStuckAt: time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)},
		{ID: "b", Phase: tracker.PhaseTerminating, Type: "preview"},
		{ID: "c", Phase: tracker.PhaseReady, Type: "staging"},
	}
	m := New("blueberry", false, phaseTypes(states), reg)
	m.CountStuck(func(yield func(string) bool) {
		for _, s := range states {
			if s.Phase == tracker.PhaseTerminating && !s.TerminationStuckAt.IsZero() && !yield(s.Type) {
				return
			}
		}
	})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP blueberry_environment_terminations_stuck Environments terminating for longer than readiness.termination_timeout (finalizers that never finish), by type.
# TYPE blueberry_environment_terminations_stuck gauge
blueberry_environment_terminations_stuck{type="preview"} 1
blueberry_environment_terminations_stuck{type="staging"} 0
`), "blueberry_environment_terminations_stuck"))
}

// Each SLO latency threshold is a classic bucket boundary: the share within it is exact.
func TestThresholdBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewWithThresholds("blueberry", false, phaseTypes(nil), reg, nil, []float64{300, 450})
	m.Observe([]event.Event{{EnvironmentID: "a", Name: event.Ready, Type: "preview", Metadata: map[string]any{"provisioning_duration_seconds": 400.0}}})
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var les []float64
	for _, mf := range mfs {
		if mf.GetName() == "blueberry_environment_provisioning_duration_seconds" {
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				les = append(les, b.GetUpperBound())
			}
		}
	}
	require.Equal(t, []float64{30, 60, 120, 300, 450, 600}, les)
}
