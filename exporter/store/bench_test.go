package store

import (
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

func benchmarkCommit(b *testing.B, batch int) {
	s, err := Open(tempPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	states := make([]tracker.State, batch)
	events := make([]event.Event, batch)
	for i := range batch {
		id := "env-" + strconv.Itoa(i)
		states[i] = tracker.State{ID: id, Phase: tracker.PhaseReady, Source: tracker.SourceArgoCD, ReadyAt: t0}
		events[i] = event.Event{EnvironmentID: id, Name: event.Deployed, Time: t0, Source: "argocd",
			Metadata: map[string]any{"detected_at": t0.Format("2006-01-02T15:04:05Z")}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Commit(states, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommit commits one state and one event per transaction, fsync'd.
func BenchmarkCommit(b *testing.B) { benchmarkCommit(b, 1) }

// BenchmarkCommitBatch100 commits 100 states and 100 events per transaction, fsync'd.
func BenchmarkCommitBatch100(b *testing.B) { benchmarkCommit(b, 100) }

// BenchmarkOpenLargeStore measures the start-up cost of the read-only check of an
// existing store (bbolt's consistency check plus the layout) on a store of 100,000
// events, against opening it without the check (what a start cost before).
func BenchmarkOpenLargeStore(b *testing.B) {
	path := tempPath(b)
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	const events, batch = 100_000, 1000
	for i := 0; i < events; i += batch {
		states := make([]tracker.State, 0, batch)
		evs := make([]event.Event, 0, batch)
		for j := range batch {
			id := "env-" + strconv.Itoa((i+j)%5000)
			states = append(states, tracker.State{ID: id, Phase: tracker.PhaseReady, Source: tracker.SourceArgoCD, ReadyAt: t0})
			evs = append(evs, event.Event{EnvironmentID: id, Name: event.Deployed, Time: t0, Source: "argocd",
				Metadata: map[string]any{"detected_at": t0.Format("2006-01-02T15:04:05Z")}})
		}
		if _, err := s.Commit(states, evs); err != nil {
			b.Fatal(err)
		}
	}
	size := s.Stats().FileBytes
	_ = s.Close()
	b.Run("with check", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
		b.ReportMetric(float64(size)/1e6, "MB")
	})
	b.Run("without check", func(b *testing.B) {
		for b.Loop() {
			db, err := bolt.Open(path, 0o600, &bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			_ = db.Close()
		}
	})
}
