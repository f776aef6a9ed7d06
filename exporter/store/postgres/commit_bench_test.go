package postgres

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/proc"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// benchMarker is a CI pipeline's deployment marker n as the push path commits it.
func benchMarker(n int) event.Event {
	return event.Event{EnvironmentID: []string{"test", "test", "staging", "prod"}[n%4], Name: event.Deployed,
		Time: t0.Add(-time.Duration(n) * time.Second), Source: "push",
		Metadata: map[string]any{event.MetaKind: event.KindDeployment, event.MetaHost: fmt.Sprintf("ci-%d", n%8),
			event.MetaApplication: fmt.Sprintf("app-%d", n%50), event.MetaActivity: fmt.Sprintf("deploy-app-%d-%d", n%50, n),
			event.MetaStatus: "success", event.MetaPushed: true, event.MetaDetectedAt: t0.Format(time.RFC3339Nano)}}
}

// BenchmarkCommitChecked: the push path's commit of a group of markers (CommitChecked,
// every identity checked absent), one committer as the push path's group commit, into a
// journal that holds 20,000 events already: its duration (ms/commit) and the server's
// CPU per event (PostgreSQL's processes, when the benchmark started the server).
func BenchmarkCommitChecked(b *testing.B) {
	pg := testinfra.StartPostgres(b)
	for _, group := range []int{1, 7, 50} {
		b.Run("group="+strconv.Itoa(group), func(b *testing.B) {
			s, err := Open(context.Background(), pg.NewDatabase(b), Options{Holder: "a", NoListen: true, PollInterval: time.Hour})
			require.NoError(b, err)
			b.Cleanup(func() { _ = s.Close() })
			n := 0
			for range 20 {
				evs := make([]event.Event, 1000)
				for i := range evs {
					n++
					evs[i] = benchMarker(n)
				}
				_, err := s.Commit(nil, evs)
				require.NoError(b, err)
			}
			groups := make([][]event.Event, b.N)
			ids := make([][]event.Fingerprint, b.N)
			for g := range groups {
				for range group {
					n++
					ev := benchMarker(n)
					id, _ := ev.Identity()
					groups[g] = append(groups[g], ev)
					ids[g] = append(ids[g], id)
				}
			}
			cpu0 := procTreeCPU(pg.Pid())
			b.ResetTimer()
			for g := range groups {
				if _, err := s.CommitChecked(nil, groups[g], nil, nil, ids[g]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/commit")
			if pg.Pid() != 0 {
				b.ReportMetric(1e6*(procTreeCPU(pg.Pid())-cpu0)/float64(b.N*group), "pg-µs/event")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// procTreeCPU is the CPU seconds of process pid and its children (PostgreSQL's
// postmaster and backends); 0 without pid.
func procTreeCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	var sum float64
	_ = proc.Family(pid, func(_ int, f []string) {
		for _, v := range f[11:13] { // utime, stime
			t, _ := strconv.ParseFloat(v, 64)
			sum += t / 100
		}
	})
	return sum
}
