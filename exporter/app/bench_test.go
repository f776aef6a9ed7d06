package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

const benchEnvs = 10000

// benchApp starts an in-process envtrack polling a fake Argo CD that lists n
// Applications, each ready with a URL-less readiness (Argo CD evidence alone).
func benchApp(b *testing.B, n int) (*App, *fakeargocd.Server, *clock) {
	b.Helper()
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	clk := &clock{}
	clk.Set(start.Add(10 * time.Minute))
	argo := fakeargocd.NewServer(b, fakeargocd.WithToken("t"))
	apps := make([]fakeargocd.Application, n)
	for i := range apps {
		a := fakeargocd.NewApp(fmt.Sprintf("pr-%05d", i), start, fakeargocd.WithType("preview"))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", start.Add(5*time.Second))
		fakeargocd.SyncSucceeded(&a, "1a2b3c4d5e6f", start.Add(2*time.Minute))
		fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, start.Add(3*time.Minute))
		apps[i] = a
	}
	argo.SetApps(apps)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
argocd: {server: %s, token: t, request_timeout: 1m}
`, filepath.Join(dir, "data"), argo.URL())), 0o600))
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: clk.Now, ManualSources: true})
	require.NoError(b, err)
	b.Cleanup(func() { a.store.Close() })
	return a, argo, clk
}

func reportPerEnv(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/env")
}

// BenchmarkPollTrack10000Steady: one poll-and-track cycle of 10,000 tracked environments
// when nothing changed (the steady state: decode, map, compare, no store write).
func BenchmarkPollTrack10000Steady(b *testing.B) {
	a, _, _ := benchApp(b, benchEnvs)
	ctx := context.Background()
	require.NoError(b, a.PollOnce(ctx)) // first sight: every environment becomes ready
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.PollOnce(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportPerEnv(b, benchEnvs)
}

// BenchmarkPollTrack10000FirstSight: the cycle that meets 10,000 new environments and
// appends 20,000 events (provisioning_started and ready) in one fsync'd transaction.
func BenchmarkPollTrack10000FirstSight(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a, _, _ := benchApp(b, benchEnvs)
		b.StartTimer()
		if err := a.PollOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		require.Equal(b, uint64(2*benchEnvs), a.store.LastSeq())
		b.StartTimer()
	}
	reportPerEnv(b, benchEnvs)
}

// BenchmarkTrackedEnvironmentMemory: heap held per tracked environment (tracker state).
func BenchmarkTrackedEnvironmentMemory(b *testing.B) {
	a, _, _ := benchApp(b, benchEnvs)
	require.NoError(b, a.PollOnce(context.Background()))
	b.ResetTimer()
	var perEnv float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		// What a restart holds: every state decoded fresh from the store.
		m, err := a.store.Environments()
		require.NoError(b, err)
		tr := tracker.New(a.trackerConfig(a.Config()), m)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEnv = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(m))
		runtime.KeepAlive(tr)
	}
	b.ReportMetric(perEnv, "B/tracked-env")
}
