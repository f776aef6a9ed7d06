package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchEnvs = 10000

// BenchmarkPages renders each page from a journal of 10,000 environments and 100,000
// events over 30 days (no InfluxDB: the query layer answers from the journal, the
// heavier of its two backends), as an operator's browser asks for it. The JSON insights,
// what a user would read instead, is measured beside it. bytes/page is the page weight.
func BenchmarkPages(b *testing.B) {
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	evs, states := scenario.Synthetic(end, 30*24*time.Hour, benchEnvs)
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(b, os.MkdirAll(data, 0o750))
	st, err := store.Open(filepath.Join(data, StoreFile), store.Options{Now: func() time.Time { return end }})
	require.NoError(b, err)
	_, err = st.Commit(states, evs)
	require.NoError(b, err)
	require.NoError(b, st.Close())
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\n", data)), 0o600))
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: func() time.Time { return end }})
	require.NoError(b, err)
	b.Cleanup(func() { a.store.Close() })
	a.markPolled()
	h := a.handler()
	// The first query decodes the journal into the query layer's cache (CachedJournal):
	// measured once here, then every page is measured warm, as a running daemon serves it.
	b.Run("cache_fill", func(b *testing.B) {
		// The heap the cache holds once filled (the decoded statistics' events).
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		c := query.NewCachedJournal(a.store)
		_, err := c.Range(context.Background(), end.Add(-time.Hour), end, "", event.Ready)
		require.NoError(b, err)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(c)
		held := float64(m1.HeapAlloc-m0.HeapAlloc) / (1 << 20)
		for b.Loop() {
			a.journalQ = query.NewCachedJournal(a.store)
			a.gen.query, _ = a.newQuery(a.Config())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/insights?window=24h", nil))
		}
		b.ReportMetric(held, "cache-MiB")
	})
	// The pages read the markers of the query service in force: fill its cache too.
	h = a.handler()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/?window=24h", nil))
	for _, page := range []struct{ name, path string }{
		{"landing_24h", "/?window=24h"},
		{"landing_30d", "/?window=30d"},
		{"environment", "/environments/" + states[len(states)/2].ID},
		{"insights_30d", "/insights?window=30d"},
		{"api_insights_30d_json", "/api/insights/performance-detailed?window=30d"},
	} {
		b.Run(page.name, func(b *testing.B) {
			var size int
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, page.path, nil)) // warm
			cpu0 := cpuTime()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, page.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", page.path, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
			// CPU time is what the operator pays; on a shared machine it is also steadier
			// than the wall-clock ns/op.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
		})
	}
}
