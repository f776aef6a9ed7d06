package influxdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// BenchmarkWrite measures delivery throughput (events/s) of batches of 500 lifecycle
// events: Sink is Deliver (building the points, writing, classifying), Direct writes the
// same, prebuilt points with the client's WriteAPIBlocking. The difference is the sink's
// own cost.
func BenchmarkWrite(b *testing.B) {
	const batchSize, batches = 500, 16
	db := testinfra.StartInfluxDB(b)
	s := newSink(b, db)

	names := []event.Name{event.Created, event.ProvisioningStarted, event.Ready}
	evs := make([][]event.Event, batches)
	pts := make([][]*write.Point, batches)
	for i := range batches {
		for j := range batchSize {
			n := uint64(i*batchSize + j)
			meta := map[string]any{"detected_at": "2025-01-07T10:04:10Z"}
			if names[j%3] == event.Ready {
				meta["provisioning_duration_seconds"] = 180.0 + float64(j)
			}
			e := lifecycle(fmt.Sprintf("env-%05d", n/3), names[n%3], t0.Add(time.Duration(n)*time.Second), n+1, meta)
			evs[i] = append(evs[i], e)
		}
		var err error
		for j := range evs[i] {
			pts[i], err = s.appendPoints(pts[i], &evs[i][j])
			require.NoError(b, err)
		}
	}
	ctx := context.Background()

	b.Run("Sink", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.Deliver(ctx, evs[i%batches]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(batchSize*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("Direct", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.write.WritePoint(ctx, pts[i%batches]...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(batchSize*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
