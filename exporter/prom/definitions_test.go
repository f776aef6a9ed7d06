package prom

import (
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// TestCollectorsAreBuiltFromTheDefinitions: after one observation of each event kind
// (and a deployment marker), every lifecycle metric the definitions declare is exposed,
// with their help, type, labels and buckets, and nothing else is.
func TestCollectorsAreBuiltFromTheDefinitions(t *testing.T) {
	for _, native := range []bool{false, true} {
		for _, ns := range []string{"blueberry", "acme"} {
			reg := prometheus.NewRegistry()
			states := []tracker.State{{ID: "a", Phase: tracker.PhaseProvisioning, Type: "preview"}}
			m := New(ns, native, phaseTypes(states), reg)
			at := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
			var evs []event.Event
			for _, name := range event.Names {
				meta := map[string]any{}
				switch name {
				case event.Ready:
					meta[event.MetaProvisioningDuration] = 225.0
				case event.ProvisioningFailed:
					meta["reason"] = event.ReasonTimeout
				case event.Terminated:
					meta[event.MetaTerminationDuration] = 42.0
				}
				evs = append(evs, event.Event{EnvironmentID: "e", Name: name, Type: "preview", Time: at, Metadata: meta})
			}
			evs = append(evs, event.Event{EnvironmentID: "web", Name: event.Deployed, Time: at, Metadata: map[string]any{"kind": event.KindDeployment, "status": "success"}})
			m.Observe(evs)

			mfs, err := reg.Gather()
			require.NoError(t, err)
			got := map[string]*dto.MetricFamily{}
			for _, mf := range mfs {
				got[mf.GetName()] = mf
			}
			want := 0
			for _, l := range metric.LifecycleMetrics {
				d := l.In(ns)
				want++
				mf, ok := got[d.Name]
				require.True(t, ok, "%s is defined but not exposed", d.Name)
				require.Equal(t, d.Help, mf.GetHelp(), d.Name)
				require.Equal(t, map[metric.Type]dto.MetricType{
					metric.Counter: dto.MetricType_COUNTER, metric.Gauge: dto.MetricType_GAUGE, metric.Histogram: dto.MetricType_HISTOGRAM,
				}[d.Type], mf.GetType(), d.Name)
				wantLabels := append([]string(nil), d.Labels...)
				sort.Strings(wantLabels)
				for _, series := range mf.GetMetric() {
					var names []string
					for _, lp := range series.GetLabel() {
						names = append(names, lp.GetName())
					}
					sort.Strings(names)
					require.Equal(t, wantLabels, names, d.Name)
					if d.Type == metric.Histogram {
						h := series.GetHistogram()
						var bounds []float64
						for _, b := range h.GetBucket() {
							bounds = append(bounds, b.GetUpperBound())
						}
						require.Equal(t, d.Buckets, bounds, d.Name)
						require.Equal(t, native && d.NativeHistogram, h.Schema != nil, "%s: native buckets", d.Name)
					}
				}
			}
			require.Len(t, got, want, "every exposed family is defined")
			require.Equal(t, 9, want)
		}
	}
}

// A type's attempt counters and histograms exist at zero before its first attempt ends,
// so that rate() and increase() count that attempt.
func TestTypesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	states := []tracker.State{{ID: "a", Phase: tracker.PhaseReady, Type: "preview"}}
	m := New("blueberry", false, phaseTypes(states), reg)
	m.Observe([]event.Event{{EnvironmentID: "b", Name: event.ProvisioningStarted, Type: "staging", Time: time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)}})
	mfs, err := reg.Gather()
	require.NoError(t, err)
	zeros := map[string]int{}
	for _, mf := range mfs {
		for _, series := range mf.GetMetric() {
			var typ string
			for _, lp := range series.GetLabel() {
				if lp.GetName() == "type" {
					typ = lp.GetValue()
				}
			}
			switch mf.GetName() {
			case "blueberry_environment_provisioning_total":
				require.Zero(t, series.GetCounter().GetValue())
				zeros[mf.GetName()+"/"+typ]++
			case "blueberry_environment_provisioning_duration_seconds", "blueberry_environment_termination_duration_seconds":
				require.Zero(t, series.GetHistogram().GetSampleCount())
				zeros[mf.GetName()+"/"+typ]++
			}
		}
	}
	require.Equal(t, map[string]int{
		"blueberry_environment_provisioning_total/preview":            2,
		"blueberry_environment_provisioning_total/staging":            2,
		"blueberry_environment_provisioning_duration_seconds/preview": 1,
		"blueberry_environment_provisioning_duration_seconds/staging": 1,
		"blueberry_environment_termination_duration_seconds/preview":  1,
		"blueberry_environment_termination_duration_seconds/staging":  1,
	}, zeros)
}
