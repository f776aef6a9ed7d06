package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// A collector is built with the definition's name, help, labels and buckets, and asking
// for the wrong kind of collector is a programming error.
func TestBuild(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	SinkDeliveryDuration.NewHistogramVec(reg)
	ArgoCDRequests.NewCounterVec(reg)
	JournalPruned.NewCounter(reg)
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n != 1 { // the vectors have no series yet
		t.Fatalf("gathered %d series, %v", n, err)
	}
	for name, build := range map[string]func(){
		"counter from a gauge":     func() { ArgoCDApplications.NewCounter(nil) },
		"vector without labels":    func() { JournalPruned.NewCounterVec(nil) },
		"scalar of a labelled one": func() { SinkLag.NewGauge(nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			build()
		}()
	}
}

// Building a definition's collector again on the same registry (a reload) returns the
// collector registered first, so its series keep counting; a nil registry registers
// nothing.
func TestBuildRegistersOnce(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	first := JournalPruned.NewCounter(reg)
	first.Add(2)
	again := JournalPruned.NewCounter(reg)
	again.Inc()
	require.Equal(t, 3.0, testutil.ToFloat64(first))
	require.Same(t, first, again)

	unregistered := ProbesInFlight.NewGauge(nil)
	unregistered.Set(1)
	n, err := testutil.GatherAndCount(reg, ProbesInFlight.Name)
	require.NoError(t, err)
	require.Zero(t, n)
	// Another metric under a registered name is a programming error.
	clash := Def{Name: JournalPruned.Name, Help: "other", Type: Gauge}
	require.Panics(t, func() { clash.NewGauge(reg) })
}

// A lifecycle metric's definition carries the namespace; its histogram exposes native
// buckets only when the definition asks for them.
func TestLifecycleIn(t *testing.T) {
	d := ProvisioningDuration.In("acme")
	require.Equal(t, "acme_environment_provisioning_duration_seconds", d.Name)
	require.Equal(t, "acme_environment_provisioning_duration_seconds_bucket", d.Bucket())
	require.Equal(t, SourceLifecycle, d.Source)
	require.Equal(t, ExemplarLabel, d.Exemplar)
	for _, native := range []bool{false, true} {
		reg := prometheus.NewPedanticRegistry()
		d.NativeHistogram = native
		d.NewHistogramVec(reg).WithLabelValues("preview").Observe(45)
		mfs, err := reg.Gather()
		require.NoError(t, err)
		require.Len(t, mfs, 1)
		require.Equal(t, dto.MetricType_HISTOGRAM, mfs[0].GetType())
		h := mfs[0].GetMetric()[0].GetHistogram()
		require.Len(t, h.GetBucket(), len(ProvisioningBuckets))
		require.Equal(t, native, h.Schema != nil)
	}
}
