package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/testclock"
)

const benchEnvs = 10000

// benchSource builds the source polling a fake Argo CD that lists n Applications, each
// ready with a URL-less readiness (Argo CD evidence alone), tracking into a real tracker
// and journal as the daemon wires them (no loop runs: the benchmark polls).
func benchSource(b *testing.B, n int) *harness {
	b.Helper()
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	h := &harness{t: b, clock: &testclock.Clock{}, dir: b.TempDir()}
	h.clock.Set(start.Add(10 * time.Minute))
	h.argo = fakeargocd.NewServer(b, fakeargocd.WithToken("t"))
	apps := make([]fakeargocd.Application, n)
	for i := range apps {
		a := fakeargocd.NewApp(fmt.Sprintf("pr-%05d", i), start, fakeargocd.WithType("preview"))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", start.Add(5*time.Second))
		fakeargocd.SyncSucceeded(&a, "1a2b3c4d5e6f", start.Add(2*time.Minute))
		fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, start.Add(3*time.Minute))
		apps[i] = a
	}
	h.argo.SetApps(apps)
	h.cfg = filepath.Join(h.dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(h.cfg, []byte(fmt.Sprintf(`state_dir: %s
argocd: {server: %s, token: t, request_timeout: 1m, mode: poll}
`, filepath.Join(h.dir, "data"), h.argo.URL())), 0o600))
	h.start()
	return h
}

func reportPerEnv(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/env")
}

// BenchmarkPollTrack10000Steady: one poll-and-track cycle of 10,000 tracked environments
// when nothing changed (the steady state: decode, map, compare, no store write).
func BenchmarkPollTrack10000Steady(b *testing.B) {
	h := benchSource(b, benchEnvs)
	require.NoError(b, h.poll()) // first sight: every environment becomes ready
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.poll(); err != nil {
			b.Fatal(err)
		}
	}
	reportPerEnv(b, benchEnvs)
}

// BenchmarkPollTrack10000FirstSight: the cycle that meets 10,000 new environments and
// appends 30,000 events (provisioning_started, ready and, from status.history, the
// backfilled deployment of the first sync), committed 1,000 environments at a time.
func BenchmarkPollTrack10000FirstSight(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := benchSource(b, benchEnvs)
		b.StartTimer()
		if err := h.poll(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		require.Equal(b, uint64(3*benchEnvs), h.store.LastSeq())
		b.StartTimer()
	}
	reportPerEnv(b, benchEnvs)
}

// BenchmarkTrackedEnvironmentMemory: heap held per tracked environment (tracker state).
func BenchmarkTrackedEnvironmentMemory(b *testing.B) {
	h := benchSource(b, benchEnvs)
	require.NoError(b, h.poll())
	b.ResetTimer()
	var perEnv float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// What a restart holds: every state decoded fresh from the store.
		m, err := h.store.Environments()
		require.NoError(b, err)
		n := len(m) // New takes the map's states (it empties it)
		tr := tracker.New(h.trackerConfig(), m)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEnv = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		runtime.KeepAlive(tr)
	}
	b.ReportMetric(perEnv, "B/tracked-env")
}
