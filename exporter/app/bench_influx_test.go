package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

const benchBatch = 2000

// BenchmarkPushToInfluxDB: events per second from POST /api/events until InfluxDB has
// them (through the journal and the sink), against writing the same points straight to
// the same InfluxDB with the same client (batches of 500, as the sink writes) in the
// same run. Each op is benchBatch events; see docs/benchmarks.md.
func BenchmarkPushToInfluxDB(b *testing.B) {
	db := testinfra.StartInfluxDB(b)
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	clk := &clock{}
	clk.Set(start)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
api: {write_tokens: [bench]}
%s`, filepath.Join(dir, "data"), influxConfig(db))), 0o600))
	a, err := New(Options{ConfigFile: cfg, Now: clk.Now, ManualSources: true, ListenAddress: "127.0.0.1:0"})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	// Keep-alive for every poster: the default transport keeps only two idle connections
	// per host, and dialling per request would measure the client, not envtrack.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	n := 0
	b.Run("API", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			jobs := make(chan int)
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range jobs {
						body := fmt.Sprintf(`{"environment_id":"bench-%d","event":"created","timestamp":"%s"}`,
							j, start.Add(-time.Duration(j)*time.Second).Format(time.RFC3339))
						req, _ := http.NewRequest("POST", srv.URL+"/api/events", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer bench")
						resp, err := hc.Do(req)
						if err != nil || resp.StatusCode != http.StatusAccepted {
							panic(fmt.Sprint(err, resp))
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			for j := 0; j < benchBatch; j++ {
				jobs <- n
				n++
			}
			close(jobs)
			wg.Wait()
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
			require.NoError(b, a.WaitDelivered(wctx))
			wcancel()
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})

	client := influxdb2.NewClient(db.URL, db.Token)
	defer client.Close()
	w := client.WriteAPIBlocking("", db.Bucket)
	m := 0
	b.Run("Direct", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pts := make([]*write.Point, 0, 500)
			for j := 0; j < benchBatch; j++ {
				pts = append(pts, influxdb2.NewPoint("direct_lifecycle",
					map[string]string{"environment_id": fmt.Sprintf("bench-%d", m), "event": "created", "type": "default"},
					map[string]any{"environment_name": "x", "branch": "", "commit_sha": "", "event_id": fmt.Sprint(m),
						"metadata": `{"pushed":true}`},
					start.Add(time.Duration(m)*time.Second)))
				m++
				if len(pts) == 500 {
					require.NoError(b, w.WritePoint(context.Background(), pts...))
					pts = pts[:0]
				}
			}
			if len(pts) > 0 {
				require.NoError(b, w.WritePoint(context.Background(), pts...))
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})
}
