package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkPushHistory: what a push costs into an environment with a long history,
// against one without (issue 18: each marker push read and decoded every stored event of
// its environment, so a push into 5,000 markers took 40 times as long as into a fresh
// environment, and the 5th batch of 1,000 markers 485 times as long as the 1st). One
// in-process envtrack over HTTP, no sink, one client:
//
//   - single: each op pushes 200 markers one per request, alternately into an
//     environment holding benchHistory markers and into a new environment, timed apart;
//   - batches: each op pushes 10 NDJSON batches of 1,000 new markers into one new
//     environment, and compares the 10th batch with the 1st.
//
// The ratios are printed at the end (see docs/benchmarks.md).
func BenchmarkPushHistory(b *testing.B) {
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	clk := &clock{}
	clk.Set(start)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\napi: {write_tokens: [bench]}\n%s",
		filepath.Join(dir, "data"), quietSources)), 0o600))
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: clk.Now, ListenAddress: "127.0.0.1:0"})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	post := func(ct string, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer bench")
		resp, err := hc.Do(req)
		if err != nil {
			panic(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			panic(fmt.Sprintf("%s: %s", resp.Status, msg))
		}
	}
	n := 0
	marker := func(env string) []byte {
		n++
		return fmt.Appendf(nil, `{"kind":"deployment","environment":%q,"host":"ci-%d","application":"app-%d","activity":"deploy-%d","status":"success","timestamp":%q}`,
			env, n%8, n%50, n, start.Add(-time.Duration(n)*time.Second).Format(time.RFC3339))
	}
	batch := func(env string) []byte {
		var body bytes.Buffer
		for range 1000 {
			body.Write(marker(env))
			body.WriteByte('\n')
		}
		return body.Bytes()
	}
	for range benchHistory / 1000 {
		post("application/x-ndjson", batch("busy"))
	}
	evs, err := a.store.EnvironmentEvents("busy")
	require.NoError(b, err)
	require.Len(b, evs, benchHistory)

	var singleBusy, singleFresh float64
	decoded := a.store.Stats().Decoded
	b.Run("single", func(b *testing.B) {
		var busy, fresh time.Duration
		for i := 0; i < b.N*100; i++ {
			t0 := time.Now()
			post("application/json", marker("busy"))
			t1 := time.Now()
			post("application/json", marker(fmt.Sprintf("fresh-%d", n)))
			busy, fresh = busy+t1.Sub(t0), fresh+time.Since(t1)
		}
		singleBusy, singleFresh = ms(busy)/float64(b.N*100), ms(fresh)/float64(b.N*100)
		b.ReportMetric(singleBusy, "ms/push-into-history")
		b.ReportMetric(singleFresh, "ms/push-into-new")
	})
	// Journal events read and decoded by the pushes (none: repeats are index lookups).
	decoded = a.store.Stats().Decoded - decoded
	var first, tenth float64
	b.Run("batches", func(b *testing.B) {
		var d1, d10 time.Duration
		for i := 0; i < b.N; i++ {
			env := fmt.Sprintf("growing-%d", i)
			for k := 1; k <= 10; k++ {
				if k == 1 || k == 10 {
					// A read waits for the commits before it to reach the store file: each
					// timed batch starts with the file caught up, as the 1st does, so the
					// two differ by the history alone, not by the 9th's apply under way.
					_, err := a.store.EnvironmentEvents(env)
					require.NoError(b, err)
				}
				t0 := time.Now()
				post("application/x-ndjson", batch(env))
				switch k {
				case 1:
					d1 += time.Since(t0)
				case 10:
					d10 += time.Since(t0)
				}
			}
		}
		first, tenth = ms(d1)/float64(b.N), ms(d10)/float64(b.N)
		b.ReportMetric(first, "ms/1st-batch")
		b.ReportMetric(tenth, "ms/10th-batch")
	})
	if singleFresh > 0 && first > 0 {
		fmt.Printf("push into %d markers %.2f ms, into a new environment %.2f ms: %.2fx (journal events decoded: %d); 10th batch of 1,000 %.1f ms, 1st %.1f ms: %.2fx\n",
			benchHistory, singleBusy, singleFresh, singleBusy/singleFresh, decoded, tenth, first, tenth/first)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
