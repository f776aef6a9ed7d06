package store

import (
	"strconv"
	"testing"

	"github.com/blueberry-idp/envtrack/exporter/event"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
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
