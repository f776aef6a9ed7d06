package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/logging"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

const benchBatch = 2000

// benchBatchPushes is how many events an op of the batch paths sends: 40 requests of
// 500. At 2,000 (4 requests) a turn lasted 40 ms against the per-point paths' 0.4-1 s, and
// envtrack's last delivery (one InfluxDB write after the last answer, which every stream
// waits for once) was a fifth of it.
const benchBatchPushes = 20000

// benchHistory is how many markers the busiest environment holds when the run starts
// (WORKLOADS.md: a busy test environment holds 3,000-10,000).
const benchHistory = 10000

// ciEnvironment is the environment of CI marker n: about 20 environments, the
// long-lived ones receiving most markers (test half of them, staging a quarter).
func ciEnvironment(n int64) string {
	switch r := n % 20; {
	case r < 10:
		return "test"
	case r < 15:
		return "staging"
	case r < 17:
		return "prod"
	default:
		return fmt.Sprintf("preview-%d", n%17)
	}
}

// BenchmarkPushToInfluxDB: events per second from CI pipelines until InfluxDB has them,
// side by side in one run against the same real InfluxDB, on 001's workload
// (WORKLOADS.md): deployment markers spread over 20 environments and 50 applications, a
// few long-lived environments receiving most of them, into a store that starts with
// benchHistory markers in the busiest environment and grows through the run:
//
//   - envtrack end to end, one marker per request (POST /api/events → journal, fsync →
//     sink → InfluxDB; an op ends when the sink delivered everything), at 1 and 8
//     keep-alive clients, against what 001 does instead: one point per request straight
//     to InfluxDB's write API, with the same number of clients;
//   - envtrack's batch push (500 markers per NDJSON request) end to end, against
//     InfluxDB's own 500-line batches;
//   - both of envtrack's runs again with the journal in PostgreSQL (store.driver:
//     postgres, one replica), against the same direct writes.
//
// Each op is benchBatch events (benchBatchPushes for the batch paths, so that their turns
// last about as long as the others'); the paths take turns over BENCH_PUSH_ROUNDS rounds
// (default 3). The ratios are printed at the end, the 8-client ones also round by round
// with their median (see docs/benchmarks.md).
func BenchmarkPushToInfluxDB(b *testing.B) {
	db := testinfra.StartInfluxDB(b)
	pg := testinfra.StartPostgres(b)
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	clk := &clock{}
	clk.Set(start)
	// daemon starts an envtrack on the journal store names (bbolt: "").
	daemon := func(store string) (*App, string) {
		dir := b.TempDir()
		cfg := filepath.Join(dir, "envtrack.yml")
		require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
api: {write_tokens: [bench]}
%s%s%s`, filepath.Join(dir, "data"), store, influxConfig(db), quietSources)), 0o600))
		// The daemon's own logger (info, logfmt) into a file: what it logs per push is
		// part of what a push costs.
		logFile, err := os.Create(filepath.Join(dir, "envtrack.log"))
		require.NoError(b, err)
		b.Cleanup(func() { logFile.Close() })
		logger, err := logging.New(logFile, "info", "logfmt")
		require.NoError(b, err)
		a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: clk.Now, ListenAddress: "127.0.0.1:0", Logger: logger})
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		srv := httptest.NewServer(a.handler())
		b.Cleanup(srv.Close)
		return a, srv.URL
	}
	a, srvURL := daemon("")
	// The same daemon on PostgreSQL (one replica: it leads at once).
	pa, pgURL := daemon(postgresStore(pg.NewDatabase(b)))

	// Keep-alive for every client: the default transport keeps only two idle connections
	// per host, and dialling per request would measure the client, not the server.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(u, ct, auth string, body []byte, want int) {
		req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			panic(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			panic(fmt.Sprintf("%s: %s: %s", u, resp.Status, msg))
		}
	}
	influxWrite := db.URL + "/api/v2/write?precision=ns&bucket=" + url.QueryEscape(db.Bucket)
	influxAuth := ""
	if db.Token != "" {
		influxAuth = "Token " + db.Token
	}
	var seq atomic.Int64 // distinct markers across sub-benchmarks
	// A CI pipeline's marker: 50 applications, 8 runners, one activity per deploy.
	eventJSON := func(n int64) []byte {
		return fmt.Appendf(nil, `{"kind":"deployment","environment":%q,"host":"ci-%d","application":"app-%d","activity":"deploy-app-%d-%d","status":"success","timestamp":%q}`,
			ciEnvironment(n), n%8, n%50, n%50, n, start.Add(-time.Duration(n)*time.Second).Format(time.RFC3339))
	}
	// The point envtrack's sink writes for the same marker (same tags and fields, other
	// measurement): what 001's curl wrote straight to InfluxDB.
	pointLine := func(n int64) []byte {
		at := start.Add(-time.Duration(n) * time.Second)
		return fmt.Appendf(nil, `direct_deployments,application=app-%d,environment=%s,host=ci-%d activity="deploy-app-%d-%d",event_id="0011223344556677-%d",failed=false,status="success" %d`,
			n%50, ciEnvironment(n), n%8, n%50, n, n, at.UnixNano())
	}
	// The history each run starts from: benchHistory markers in test, and as many again
	// spread over the others, in batches of 1,000, delivered before anything is timed.
	for _, d := range []struct {
		a   *App
		url string
	}{{a, srvURL}, {pa, pgURL}} {
		for i := int64(0); i < 2*benchHistory; {
			var body bytes.Buffer
			for range 1000 {
				env := "test" // every other marker
				if i%2 == 1 {
					if env = ciEnvironment(i); env == "test" {
						env = "staging"
					}
				}
				fmt.Fprintf(&body, `{"kind":"deployment","environment":%q,"host":"ci-%d","application":"app-%d","activity":"history-%d","status":"success","timestamp":%q}`+"\n",
					env, i%8, i%50, i, start.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339))
				i++
			}
			post(d.url+"/api/events", "application/x-ndjson", "Bearer bench", body.Bytes(), http.StatusAccepted)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Minute)
		require.NoError(b, waitDelivered(wctx, d.a))
		wcancel()
		evs, err := d.a.store.EnvironmentEvents("test")
		require.NoError(b, err)
		require.GreaterOrEqual(b, len(evs), benchHistory, "the history of test")
	}
	// parallel runs send(n) for benchBatch new events over clients goroutines.
	parallel := func(clients int, send func(n int64)) {
		jobs := make(chan int64)
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range jobs {
					send(n)
				}
			}()
		}
		for range benchBatch {
			jobs <- seq.Add(1)
		}
		close(jobs)
		wg.Wait()
	}
	delivered := func(a *App) {
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer wcancel()
		require.NoError(b, waitDeliveredEvery(wctx, a, time.Millisecond))
	}
	// CPU per event, which the load of a shared machine does not distort as it does the
	// rates: this process's (envtrack and the benchmark's clients), InfluxDB's, and
	// PostgreSQL's (its postmaster and backends; idle but for the runs on PostgreSQL).
	//
	// The paths take turns: benchPushRounds rounds, each running every path once (the
	// order rotated from round to round), each path's figures summed over its rounds. A
	// few seconds of one path and then of the next measured what else the two cores ran
	// in those seconds as much as the path (one path moved by a third between runs).
	// Each turn ends when the sink delivered everything, once: a turn's last events wait
	// for the sink's linger (delivery.linger, 100 ms) as the last events of any stream
	// do, not once per op.
	type total struct {
		events, seconds, self, influx, pg, commits, committed, drain, turns float64
		// roundEvents, roundSeconds: the turns of each round (testing runs a
		// sub-benchmark once with b.N 1 before b.N, so a round has two).
		roundEvents, roundSeconds []float64
	}
	totals := map[string]*total{}
	type path struct {
		name   string
		a      *App
		op     func()
		drain  bool // end the turn when a's sinks delivered everything
		events int  // per op; benchBatch when zero
	}
	batches := func(send func(body []byte)) {
		var body bytes.Buffer
		for range benchBatchPushes / 500 {
			body.Reset()
			for range 500 {
				n := seq.Add(1)
				body.Write(eventJSON(n))
				body.WriteByte('\n')
			}
			send(body.Bytes())
		}
	}
	var paths []path
	for _, clients := range []int{1, 8} {
		for _, d := range []struct {
			name string
			a    *App
			url  string
		}{{"envtrack", a, srvURL}, {"envtrack-postgres", pa, pgURL}} {
			paths = append(paths, path{fmt.Sprintf("%s/clients=%d", d.name, clients), d.a, func() {
				parallel(clients, func(n int64) {
					post(d.url+"/api/events", "application/json", "Bearer bench", eventJSON(n), http.StatusAccepted)
				})
			}, true, 0})
		}
		paths = append(paths, path{fmt.Sprintf("direct-per-point/clients=%d", clients), a, func() {
			parallel(clients, func(n int64) {
				post(influxWrite, "text/plain", influxAuth, pointLine(n), http.StatusNoContent)
			})
		}, false, 0})
	}
	paths = append(paths,
		path{"envtrack-batch500", a, func() {
			batches(func(body []byte) {
				post(srvURL+"/api/events", "application/x-ndjson", "Bearer bench", body, http.StatusAccepted)
			})
		}, true, benchBatchPushes},
		path{"envtrack-postgres-batch500", pa, func() {
			batches(func(body []byte) {
				post(pgURL+"/api/events", "application/x-ndjson", "Bearer bench", body, http.StatusAccepted)
			})
		}, true, benchBatchPushes},
		path{"influxdb-batch500", a, func() {
			var body bytes.Buffer
			for range benchBatchPushes / 500 {
				body.Reset()
				for range 500 {
					body.Write(pointLine(seq.Add(1)))
					body.WriteByte('\n')
				}
				post(influxWrite, "text/plain", influxAuth, body.Bytes(), http.StatusNoContent)
			}
		}, false, benchBatchPushes})
	rounds := 3
	if s := os.Getenv("BENCH_PUSH_ROUNDS"); s != "" {
		rounds = must(strconv.Atoi(s))
	}
	for round := range rounds {
		for i := range paths {
			p := paths[(i+round)%len(paths)]
			b.Run(p.name, func(b *testing.B) {
				c0, e0 := commitStats(b, p.a)
				self0, influx0 := cpuTime(), procCPUSeconds(b, db.Pid())
				pg0, _, _ := pgUsage(b, pg.Pid())
				for i := 0; i < b.N; i++ {
					p.op()
				}
				var drain time.Duration
				if p.drain {
					d0 := time.Now()
					delivered(p.a)
					drain = time.Since(d0)
				}
				perOp := p.events
				if perOp == 0 {
					perOp = benchBatch
				}
				events := float64(b.N * perOp)
				pg1, _, _ := pgUsage(b, pg.Pid())
				t := totals[p.name]
				if t == nil {
					t = &total{}
					totals[p.name] = t
				}
				t.events += events
				t.seconds += b.Elapsed().Seconds()
				t.self += (cpuTime() - self0).Seconds()
				t.influx += procCPUSeconds(b, db.Pid()) - influx0
				t.pg += pg1 - pg0
				t.drain += drain.Seconds()
				t.turns++
				for len(t.roundEvents) <= round {
					t.roundEvents, t.roundSeconds = append(t.roundEvents, 0), append(t.roundSeconds, 0)
				}
				t.roundEvents[round] += events
				t.roundSeconds[round] += b.Elapsed().Seconds()
				b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
				if c1, e1 := commitStats(b, p.a); c1 > c0 {
					t.commits += c1 - c0
					t.committed += e1 - e0
				}
			})
		}
	}
	rates, perCommit, cpus := map[string]float64{}, map[string]float64{}, map[string][3]float64{}
	for name, t := range totals {
		rates[name] = t.events / t.seconds
		cpus[name] = [3]float64{1e6 * t.self / t.events, 1e6 * t.influx / t.events, 1e6 * t.pg / t.events}
		if t.commits > 0 {
			perCommit[name] = t.committed / t.commits
		}
	}
	ratio := func(x, y string) string {
		if rates[y] == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", rates[x]/rates[y])
	}
	var names []string
	for n := range rates {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "  %-30s %9.0f events/s, CPU µs per event: %5.0f here + %4.0f influxd + %4.0f postgres", n, rates[n], cpus[n][0], cpus[n][1], cpus[n][2])
		if pc, ok := perCommit[n]; ok {
			fmt.Fprintf(&sb, " %6.1f events per journal commit", pc)
		}
		if t := totals[n]; t.drain > 0 {
			fmt.Fprintf(&sb, ", last delivery %.1f ms after the last answer", 1000*t.drain/t.turns)
		}
		sb.WriteByte('\n')
	}
	fmt.Printf("side by side:\n%s  end to end vs direct per-point: 1 client %s, 8 clients %s; batch push vs InfluxDB 500-line batches %s\n",
		sb.String(), ratio("envtrack/clients=1", "direct-per-point/clients=1"), ratio("envtrack/clients=8", "direct-per-point/clients=8"),
		ratio("envtrack-batch500", "influxdb-batch500"))
	fmt.Printf("  on PostgreSQL, end to end vs direct per-point: 1 client %s, 8 clients %s; batch push vs InfluxDB 500-line batches %s\n",
		ratio("envtrack-postgres/clients=1", "direct-per-point/clients=1"), ratio("envtrack-postgres/clients=8", "direct-per-point/clients=8"),
		ratio("envtrack-postgres-batch500", "influxdb-batch500"))
	// The 8-client ratios round by round (each round gives every path one turn), with
	// their median: their spread says how far one run's ratio may be from the next.
	turns := func(name string) []float64 { // events/s, round by round
		t := totals[name]
		if t == nil {
			return nil
		}
		rs := make([]float64, len(t.roundEvents))
		for i := range rs {
			rs[i] = t.roundEvents[i] / t.roundSeconds[i]
		}
		return rs
	}
	for _, x := range []string{"envtrack/clients=8", "envtrack-postgres/clients=8"} {
		if line := roundRatios(turns(x), turns("direct-per-point/clients=8")); line != "" {
			fmt.Printf("  %s vs direct per-point, each round: %s\n", x, line)
		}
	}
	for _, mf := range must(pa.reg.Gather()) {
		if mf.GetName() == "envtrack_store_commit_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			fmt.Printf("  postgres %s: %d, mean %.1f ms\n", mf.GetName(), h.GetSampleCount(), 1000*h.GetSampleSum()/float64(max(1, h.GetSampleCount())))
		}
	}
	for _, mf := range must(a.reg.Gather()) {
		if mf.GetName() == "envtrack_store_commit_duration_seconds" || mf.GetName() == "envtrack_sink_delivery_duration_seconds" {
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				fmt.Printf("  %s%v: %d, mean %.1f ms\n", mf.GetName(), m.GetLabel(), h.GetSampleCount(), 1000*h.GetSampleSum()/float64(max(1, h.GetSampleCount())))
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// commitStats reads the journal commits that appended events, and their events.
func commitStats(tb testing.TB, a *App) (commits, events float64) {
	mfs, err := a.reg.Gather()
	require.NoError(tb, err)
	for _, mf := range mfs {
		if mf.GetName() == "envtrack_store_commit_events" {
			h := mf.GetMetric()[0].GetHistogram()
			return float64(h.GetSampleCount()), h.GetSampleSum()
		}
	}
	return 0, 0
}

// roundRatios is "0.81x 0.86x ... (median 0.84x)": x's rate over y's in each round (the
// turns of one round pair up); "" without a round of both.
func roundRatios(x, y []float64) string {
	n := min(len(x), len(y))
	if n == 0 {
		return ""
	}
	rs := make([]float64, 0, n)
	var sb strings.Builder
	for i := range n {
		if y[i] == 0 {
			return ""
		}
		rs = append(rs, x[i]/y[i])
		fmt.Fprintf(&sb, "%.2fx ", x[i]/y[i])
	}
	sort.Float64s(rs)
	med := rs[n/2]
	if n%2 == 0 {
		med = (rs[n/2-1] + rs[n/2]) / 2
	}
	fmt.Fprintf(&sb, "(median %.2fx)", med)
	return sb.String()
}

func TestRoundRatios(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want string
	}{
		{"none", nil, []float64{1}, ""},
		{"odd", []float64{8, 9, 10}, []float64{10, 10, 10}, "0.80x 0.90x 1.00x (median 0.90x)"},
		{"even, unsorted", []float64{9, 8}, []float64{10, 10}, "0.90x 0.80x (median 0.85x)"},
		{"a round of one only", []float64{8, 9}, []float64{10}, "0.80x (median 0.80x)"},
		{"a direct turn of nothing", []float64{8}, []float64{0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundRatios(tc.x, tc.y); got != tc.want {
				t.Errorf("roundRatios(%v, %v) = %q, want %q", tc.x, tc.y, got, tc.want)
			}
		})
	}
}
