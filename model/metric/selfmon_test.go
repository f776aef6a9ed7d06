package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A collector is built with the definition's name, help, labels and buckets, and asking
// for the wrong kind of collector is a programming error.
func TestBuild(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(SinkDeliveryDuration.NewHistogramVec(), ArgoCDRequests.NewCounterVec(), JournalPruned.NewCounter())
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n != 1 { // the vectors have no series yet
		t.Fatalf("gathered %d series, %v", n, err)
	}
	for name, build := range map[string]func(){
		"counter from a gauge":     func() { ArgoCDApplications.NewCounter() },
		"vector without labels":    func() { JournalPruned.NewCounterVec() },
		"scalar of a labelled one": func() { SinkLag.NewGauge() },
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
