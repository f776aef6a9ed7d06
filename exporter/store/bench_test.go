package store

import (
	"strconv"
	"syscall"
	"testing"
	"time"

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

// BenchmarkCommitMarkers500 commits batch pushes of 500 deployment markers spread over
// 20 environments (what a CI's NDJSON push stores) into a journal already holding
// 20,000 of them, without fsync: the CPU the transaction costs per marker. "backdated"
// dates each marker a second before the previous one, as the push benchmark in
// exporter/app does, so that the identity index takes its keys in descending order;
// "in order" dates them forwards, as live pipelines do.
func BenchmarkCommitMarkers500(b *testing.B) {
	for _, bc := range []struct {
		name string
		step time.Duration
	}{{"in order", time.Second}, {"backdated", -time.Second}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(tempPath(b), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			n := 0
			batch := func() []event.Event {
				evs := make([]event.Event, 500)
				for i := range evs {
					n++
					m := event.Marker{Host: "ci-" + strconv.Itoa(n%8), Application: "app-" + strconv.Itoa(n%50),
						Activity: "deploy-" + strconv.Itoa(n), Status: "success"}
					evs[i] = event.Event{EnvironmentID: "env-" + strconv.Itoa(n%20), Name: event.Deployed,
						Time: t0.Add(time.Duration(n) * bc.step), Source: "push", Metadata: m.Metadata()}
				}
				return evs
			}
			for range 40 {
				if _, err := s.Commit(nil, batch()); err != nil {
					b.Fatal(err)
				}
			}
			batches := make([][]event.Event, b.N)
			for i := range batches {
				batches[i] = batch()
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, w0 := cpuTime(), pagesWritten(s)
			for _, evs := range batches {
				if _, err := s.Commit(nil, evs); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU (rusage), which a busy machine's other load leaves alone.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*500), "cpu-µs/marker")
			b.ReportMetric(float64(pagesWritten(s)-w0)/float64(b.N), "writes/commit")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pagesWritten is how many writes (a page, or pages in a row, each) bbolt made.
func pagesWritten(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}
