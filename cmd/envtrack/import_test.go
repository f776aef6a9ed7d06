package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// history is a generated past: envs environments, five events each (created,
// provisioning_started, ready or provisioning_failed, termination_started, terminated),
// with the provisioning durations it implies.
type history struct {
	csv       []byte
	durations []float64 // ready - provisioning_started, seconds
	failures  int
	ready     map[string]float64
}

func makeHistory(envs int, end time.Time) history {
	rng := rand.New(rand.NewPCG(11, 12))
	h := history{ready: map[string]float64{}}
	var lines []string
	base := end.Add(-6 * 24 * time.Hour).Truncate(time.Second)
	for i := range envs {
		id := fmt.Sprintf("hist-%05d", i)
		created := base.Add(time.Duration(i) * 3 * time.Minute)
		started := created.Add(time.Duration(10+rng.IntN(110)) * time.Second)
		d := time.Duration(30+rng.IntN(870)) * time.Second
		ts := func(t time.Time) string { return t.Format(time.RFC3339) }
		row := func(ev string, at time.Time, reason string) {
			lines = append(lines, fmt.Sprintf("%s,%s,%s,preview,backend-api,main,%s", id, ev, ts(at), reason))
		}
		row("created", created, "")
		row("provisioning_started", started, "")
		if rng.IntN(10) == 0 {
			row("provisioning_failed", started.Add(d), "timeout")
			h.failures++
		} else {
			row("ready", started.Add(d), "")
			h.durations = append(h.durations, d.Seconds())
			h.ready[id] = d.Seconds()
		}
		row("termination_started", started.Add(d+2*time.Hour), "")
		row("terminated", started.Add(d+2*time.Hour+time.Minute), "")
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] }) // import sorts by time
	h.csv = []byte("environment_id,event,timestamp,type,repository,branch,reason\n" + strings.Join(lines, "\n") + "\n")
	return h
}

// quietSources is the readiness section of the daemons the imports go to: the sources
// run their loops as in production, but change nothing imported (no provisioning
// deadline passes while a history of provisionings arrives, and after the first round
// at start no URL is probed).
const quietSources = "readiness: {provisioning_timeout: 876000h, url: {interval: 1h}}\n"

// nearestRank is the smallest value with at least p% of the values at or below it.
func nearestRank(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[max(0, int(math.Ceil(p/100*float64(len(s))))-1)]
}

// TestImportHistory: `envtrack import` of a 10,000-line history twice: everything
// accepted, then everything unchanged; InfluxDB has every event once; the timelines and
// /api/insights/performance-detailed over the window equal what the history implies;
// the live Prometheus counters did not move.
func TestImportHistory(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: ./data
api: {write_tokens: [ci-token]}
influxdb: {url: %s, bucket: %s}
%s`, db.URL, db.Bucket, quietSources)), 0o600))
	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t0 := time.Now()
	lap := func(what string) { t.Logf("%s: %s", what, time.Since(t0).Round(time.Millisecond)) }
	defer func() { cancel(); require.NoError(t, <-done); lap("stopped") }()
	server := "http://" + a.Addr()

	lap("influxdb and envtrack up")
	h := makeHistory(2000, time.Now())
	file := filepath.Join(dir, "history.csv")
	require.NoError(t, os.WriteFile(file, h.csv, 0o600))

	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"import", "--server", server, "--token", "ci-token", "--dry-run", file}, &out, &errb), errb.String())
	require.Equal(t, file+": 10000 events would be imported, 0 lines rejected (dry run: nothing sent)\n", out.String())
	require.Zero(t, journalLastSeq(t, a), "a dry run sends nothing")

	out.Reset()
	require.Equal(t, 0, run([]string{"import", "--server", server, "--token", "ci-token", file}, &out, &errb), errb.String())
	require.Equal(t, file+": 10000 events imported: 10000 accepted, 0 unchanged; 0 lines rejected\n", out.String())
	require.Equal(t, uint64(10000), journalLastSeq(t, a))

	out.Reset()
	require.Equal(t, 0, run([]string{"import", "--server", server, "--token", "ci-token", file}, &out, &errb), errb.String())
	require.Equal(t, file+": 10000 events imported: 0 accepted, 10000 unchanged; 0 lines rejected\n", out.String())
	require.Equal(t, uint64(10000), journalLastSeq(t, a), "the second run changed nothing")
	lap("imported twice")

	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer wcancel()
	waitDelivered(wctx, t, a, 1)
	require.Equal(t, 10000, db.Count(t, "environment_lifecycle"))
	lap("delivered")

	// Insights over the imported window, from InfluxDB (Flux).
	var perf struct {
		EnvironmentPerformance struct {
			Provisioning struct {
				Average     *float64 `json:"average_seconds"`
				P50         *float64 `json:"p50_seconds"`
				P95         *float64 `json:"p95_seconds"`
				P99         *float64 `json:"p99_seconds"`
				SuccessRate *float64 `json:"success_rate"`
				SampleSize  int      `json:"sample_size"`
			} `json:"provisioning"`
		} `json:"environment_performance"`
	}
	getJSON(t, server+"/api/insights/performance-detailed?window=7d", &perf)
	p := perf.EnvironmentPerformance.Provisioning
	require.Equal(t, 2000, p.SampleSize)
	require.Equal(t, nearestRank(h.durations, 50), *p.P50)
	require.Equal(t, nearestRank(h.durations, 95), *p.P95)
	require.Equal(t, nearestRank(h.durations, 99), *p.P99)
	var sum float64
	for _, d := range h.durations {
		sum += d
	}
	require.InDelta(t, sum/float64(len(h.durations)), *p.Average, 0.006)
	require.InDelta(t, 100*float64(2000-h.failures)/2000, *p.SuccessRate, 0.006)

	lap("insights")
	// Timelines.
	var readyID string
	for id := range h.ready {
		if readyID == "" || id < readyID {
			readyID = id
		}
	}
	for _, id := range []string{readyID} { // each Flux timeline query costs seconds on a busy machine
		var tl struct {
			Timeline []struct{ Event string } `json:"timeline"`
			Summary  struct {
				Provisioning *float64 `json:"provisioning_duration_seconds"`
			} `json:"summary"`
		}
		getJSON(t, server+"/api/environments/"+id+"/timeline", &tl)
		require.Len(t, tl.Timeline, 5, id)
		if d, ok := h.ready[id]; ok {
			require.Equal(t, d, *tl.Summary.Provisioning, id)
		}
	}

	lap("timeline")
	// History moved no live counter.
	resp, err := http.Get(server + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "blueberry_environment_provisioning_total{") ||
			strings.HasPrefix(l, "blueberry_environment_lifecycle_events_total{") ||
			strings.HasPrefix(l, "blueberry_environment_provisioning_duration_seconds_count{") {
			require.True(t, strings.HasSuffix(l, " 0"), "a live counter moved: %s", l)
		}
	}
}

// TestImportRejects: bad lines are reported with their line numbers and nothing else
// is lost; the exit code says something was rejected.
func TestImportRejects(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\napi: {write_tokens: [ci-token]}\n"+quietSources), 0o600))
	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339) }
	ndjson := strings.Join([]string{
		fmt.Sprintf(`{"environment_id":"pr-1","event":"created","timestamp":%q}`, ts(0)),
		`{"environment_id":"pr-1","event":"ready"}`,
		``,
		fmt.Sprintf(`{"environment_id":"pr-1","event":"exploded","timestamp":%q}`, ts(time.Minute)),
		`not json`,
		fmt.Sprintf(`{"kind":"deployment","environment":"pr-1","application":"a","activity":"x","status":"success","timestamp":%q}`, ts(0)),
		fmt.Sprintf(`{"environment_id":"pr-1","event":"provisioning_started","timestamp":%q,"metadata":{"source":"ci"}}`, ts(time.Minute)),
	}, "\n")
	var out, errb bytes.Buffer
	file := filepath.Join(dir, "h.ndjson")
	require.NoError(t, os.WriteFile(file, []byte(ndjson), 0o600))
	require.Equal(t, 1, run([]string{"import", "--server", "http://" + a.Addr(), "--token", "ci-token", file}, &out, &errb), errb.String())
	require.Equal(t, file+`: 3 events imported: 3 accepted, 0 unchanged; 3 lines rejected
  line 2: missing field "timestamp": history needs the time of each event
  line 4: unknown event "exploded": want one of created, provisioning_started, ready, provisioning_failed, deployed, degraded, recovered, termination_started, terminated
  line 5: not one JSON object
`, out.String())
	// The deployment marker is history too: stored, no live counter moved.
	var metrics bytes.Buffer
	getText(t, "http://"+a.Addr()+"/metrics", &metrics)
	require.NotContains(t, metrics.String(), `blueberry_deployments_total{status="success"} 1`)
	var tl struct {
		Timeline []struct {
			Metadata map[string]any `json:"metadata"`
		} `json:"timeline"`
	}
	getJSON(t, "http://"+a.Addr()+"/api/environments/pr-1/timeline", &tl)
	evs := tl.Timeline
	require.Len(t, evs, 2)
	require.Equal(t, true, evs[1].Metadata["backfill"])
	require.Equal(t, "ci", evs[1].Metadata["source"])

	// A bad CSV header is one clear error.
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("environment_id,event,when\nx,created,now\n"), 0o600))
	out.Reset()
	errb.Reset()
	require.Equal(t, 2, run([]string{"import", "--server", "http://" + a.Addr(), file, bad}, &out, &errb), "one file at a time")
	require.Equal(t, 1, run([]string{"import", "--server", "http://" + a.Addr(), bad}, &out, &errb))
	require.Contains(t, errb.String(), `line 1: unknown column "when"`)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	require.NoError(t, json.Unmarshal(b, v))
}

// TestREADMEImportExample runs the README's import example as written (in bash, with the
// built binary on PATH), only pointed at this test's envtrack instead of localhost:9465.
func TestREADMEImportExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- import-example -->\n```sh\n")
	require.True(t, ok, "the README's import example")
	script, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)

	bin := buildEnvtrack(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\napi: {write_tokens: [readme-token]}\n"+quietSources), 0o600))
	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	script = strings.ReplaceAll(script, "http://localhost:9465", "http://"+a.Addr())
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "TOKEN=readme-token")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "history.csv: 3 events imported: 3 accepted, 0 unchanged; 0 lines rejected\n", string(out))
	st, ok := a.Tracker().Get("pr-90")
	require.True(t, ok)
	require.Equal(t, "ready", string(st.Phase))
}

func getText(t *testing.T, url string, w io.Writer) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	_, err = io.Copy(w, resp.Body)
	require.NoError(t, err)
}
