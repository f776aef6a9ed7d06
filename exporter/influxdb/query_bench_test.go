package influxdb

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// BenchmarkTimelineQuery measures one timeline lookup among 10,000 environments of 3
// events each: Backend is EnvironmentEvents for a random id (query, decoding, events),
// BareFlux the same Flux text through the client's QueryAPI with the rows only read.
// Their ratio is the backend's own overhead.
func BenchmarkTimelineQuery(b *testing.B) {
	const envs, batch = 10_000, 5_000
	f := newFixture(b, "")
	names := []event.Name{event.ProvisioningStarted, event.Ready, event.Deployed}
	evs := make([]event.Event, 0, batch)
	for i := range envs {
		id := fmt.Sprintf("env-%05d", i)
		start := t0.Add(time.Duration(i) * time.Minute)
		for j, n := range names {
			var meta map[string]any
			switch n {
			case event.Ready:
				meta = map[string]any{"provisioning_duration_seconds": 180.0, "detected_at": "2025-01-07T10:04:10Z"}
			case event.Deployed:
				meta = map[string]any{"revision": "9f8e7d6c", "status": "success"}
			}
			evs = append(evs, ev(id, n, start.Add(time.Duration(j)*4*time.Minute), "preview", meta))
			if len(evs) == batch {
				f.deliver(b, evs)
				evs = evs[:0]
			}
		}
	}
	if len(evs) > 0 {
		f.deliver(b, evs)
	}
	ctx := context.Background()
	id := func(rnd *rand.Rand) string { return fmt.Sprintf("env-%05d", rnd.IntN(envs)) }

	var backend, bare time.Duration
	b.Run("Backend", func(b *testing.B) {
		rnd := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		defer func() { reportLatency(b, lat) }()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			got, err := f.flux.EnvironmentEvents(ctx, id(rnd))
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != len(names) {
				b.Fatalf("got %d events, want %d", len(got), len(names))
			}
		}
		backend = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("BareFlux", func(b *testing.B) {
		rnd := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		defer func() { reportLatency(b, lat) }()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			res, err := f.flux.query.Query(ctx, f.flux.EnvironmentEventsQuery(id(rnd)))
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for res.Next() {
				rows++
			}
			if err := res.Err(); err != nil {
				b.Fatal(err)
			}
			if rows != len(names) {
				b.Fatalf("got %d rows, want %d", rows, len(names))
			}
			lat = append(lat, time.Since(t0))
		}
		bare = b.Elapsed() / time.Duration(b.N)
	})
	if backend > 0 && bare > 0 {
		b.Logf("Backend/BareFlux = %.3f (%s vs %s per timeline)", float64(backend)/float64(bare), backend, bare)
	}
}

// reportLatency reports the p50 and p99 of the per-query latencies, in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
