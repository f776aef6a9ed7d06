package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// httpGet answers the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// waitLogged waits until logs hold a line containing s and returns the lines that do.
// The deadline only keeps a broken daemon from hanging the test.
func waitLogged(t *testing.T, logs *testinfra.SyncBuffer, s string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		var lines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, s) {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			return lines
		}
		time.Sleep(20 * time.Millisecond) // waiting for the probe, not timing it
	}
	t.Fatalf("never logged %q:\n%s", s, logs.String())
	return nil
}

// TestReadsFromInfluxDBAsItShips: InfluxDB 1.8 as it ships has Flux off. Configured to
// read with Flux, envtrack still starts and says in one log line what is wrong and how
// to fix it; every read answers 502 with that reason (JSON for the API), and the read
// failures counter counts them. Reloaded to InfluxQL (the default), the same InfluxDB
// answers the timeline; stopped, it makes reads answer 503. (On main, before InfluxQL,
// the reads answered 500 and nothing was said at start-up.)
func TestReadsFromInfluxDBAsItShips(t *testing.T) {
	db := testinfra.StartInfluxDB(t) // as shipped: flux-enabled = false
	influx := fmt.Sprintf("influxdb: {url: %s, bucket: %s, timeout: 5s, query_language: flux}\n", db.URL, db.Bucket)
	a, logs := runApp(t, "api: {write_tokens: [ci-token]}\n"+influx, Options{})
	base := "http://" + a.Addr()

	const fix = "InfluxDB answers 403 to Flux (Flux query service disabled. Verify flux-enabled=true in the [http] section of the InfluxDB config.): " +
		"set influxdb.query_language: influxql, or enable flux-enabled in InfluxDB"
	lines := waitLogged(t, logs, "component=influxdb")
	require.Len(t, lines, 1, "one line at start-up")
	require.Contains(t, lines[0], "level=warn")
	require.Contains(t, lines[0], fix)
	require.True(t, a.Ready(), "start-up went on")

	// Writes still work: a push lands in the journal and in InfluxDB.
	req, err := http.NewRequest(http.MethodPost, base+"/api/events",
		strings.NewReader(`{"environment_id":"pr-1","event":"created","timestamp":"2025-01-07T10:00:00Z","metadata":{"note":"it's \"quoted\" \\ too"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer ci-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	require.NoError(t, waitDelivered(ctx, a))

	for _, path := range []string{"/api/environments/pr-1/timeline", "/api/insights/performance-detailed?window=7d"} {
		code, body := httpGet(t, base+path)
		require.Equal(t, http.StatusBadGateway, code, path)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		require.Equal(t, fix, e.Error, path)
	}
	code, page := httpGet(t, base+"/environments/pr-1")
	require.Equal(t, http.StatusBadGateway, code)
	require.Contains(t, page, "set influxdb.query_language: influxql")
	_, metrics := httpGet(t, base+"/metrics")
	require.Contains(t, metrics, `envtrack_influxdb_read_failures_total{language="flux",reason="refused"} `)
	require.NotContains(t, metrics, `envtrack_influxdb_read_failures_total{language="flux",reason="refused"} 0`)

	// Reloaded to InfluxQL, the default: the same InfluxDB answers, metadata exact.
	influx = fmt.Sprintf("influxdb: {url: %s, bucket: %s, timeout: 5s}\n", db.URL, db.Bucket)
	require.NoError(t, os.WriteFile(a.opts.ConfigFile, []byte("state_dir: ./data\napi: {write_tokens: [ci-token]}\n"+influx), 0o600))
	require.NoError(t, a.Reload())
	waitLogged(t, logs, `msg="InfluxDB answers InfluxQL reads" database=envtrack retention_policy=autogen`)
	code, body := httpGet(t, base+"/api/environments/pr-1/timeline")
	require.Equal(t, http.StatusOK, code, body)
	var tl struct {
		Timeline []struct{ Metadata map[string]any }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &tl))
	require.Len(t, tl.Timeline, 1)
	require.Equal(t, `it's "quoted" \ too`, tl.Timeline[0].Metadata["note"])
	code, _ = httpGet(t, base+"/api/insights/performance-detailed?window=7d")
	require.Equal(t, http.StatusOK, code)

	// InfluxDB stopped: unreachable, 503.
	db.Stop()
	code, body = httpGet(t, base+"/api/environments/pr-1/timeline")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "InfluxDB is unreachable for InfluxQL reads")
	_, metrics = httpGet(t, base+"/metrics")
	require.Contains(t, metrics, `envtrack_influxdb_read_failures_total{language="influxql",reason="unreachable"} 1`)
}
