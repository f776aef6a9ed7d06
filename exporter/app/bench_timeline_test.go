package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/server"
	"github.com/blueberry-idp/envtrack/internal/proc"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// BenchmarkTimelineQuery: the latency of one timeline, as a client of envtrack's API sees
// it (GET /api/environments/{id}/timeline: the query to InfluxDB, decoding, shaping,
// JSON), against the bare query a user would send InfluxDB instead (the very statement
// envtrack sends, its whole answer read), for InfluxQL and for Flux, side by side in one
// run against one real InfluxDB 1.8.10 (Flux on, for the Flux rows). The history is a
// long one: 30 days of 10,000 environments (100,000 lifecycle events, scenario.Synthetic)
// plus a long-lived staging environment with 3,000 events (deployments, degradations).
// Two timelines are asked: a random ephemeral environment's (10 events) and staging's.
// The paths of a language take turns, request by request (the languages one after the
// other, on the same ids); each reports its p50 and p99 in ms, its
// answer's bytes and this process's CPU per request (the client's; for the API also
// envtrack's, read from /proc: each envtrack runs the binary in a process of its own),
// and the ratios are reported beside them (docs/benchmarks.md). The paths go in an
// order shuffled each turn: the first request for an id found InfluxDB colder than the
// ones after it (the API, always first, paid it alone: 0.16 ms of its p50), and the
// request right after the API's paid envtrack's process winding down on the shared
// cores (1.2 ms at p99), which a fixed order gave to one bare path alone. An op of
// the ephemeral timeline is ten environments for the InfluxQL paths (one for the Flux
// ones, ten times slower; of the long timeline, one request): a p99 is its hundredth's
// worst request, and 1,000 requests of about a millisecond left it to a handful of
// InfluxDB's pauses (three bare paths' p99s ranged from 3.6 to 4.7 ms in one run).
// Proxy_InfluxQL is the bare statement through a reverse proxy that does nothing else
// (testdata/proxy), in a process of its own: the least any second process on the path
// costs, against which envtrack's own cost is API over proxy. ProxyRaw_InfluxQL is the
// same through the proxy's -raw mode, which forwards without net/http: what the hop
// costs beneath the HTTP library every Go server and client uses.
func BenchmarkTimelineQuery(b *testing.B) {
	const envs = 10_000
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db := testinfra.StartInfluxDB(b, testinfra.WithFlux())
	evs, _ := scenario.Synthetic(end, 30*24*time.Hour, envs)
	evs = append(evs, longLived("staging", end, 3000)...)
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].ID = event.MakeID("bench", evs[i].Seq)
	}
	sinkCfg := config.DefaultInfluxDBConfig // as config.Load gives the section
	sinkCfg.URL, sinkCfg.Bucket = db.URL, db.Bucket
	sink, err := influxdb.New(sinkCfg, log.NewNopLogger())
	require.NoError(b, err)
	for i := 0; i < len(evs); i += 5000 {
		_, err := sink.Deliver(context.Background(), evs[i:min(i+5000, len(evs))])
		require.NoError(b, err)
	}
	sink.Close()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(req *http.Request) int {
		resp, err := hc.Do(req)
		if err != nil {
			panic(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			panic(fmt.Sprintf("%s: %s", req.URL.Redacted(), resp.Status))
		}
		return int(n)
	}
	// One envtrack per query language, reading the same InfluxDB: the binary, each in a
	// process of its own, as an operator runs it. In this process, the client's
	// garbage (three bare answers, gzipped, per API request) made envtrack's collector
	// run with the API requests.
	bin := os.Getenv("BENCH_ENVTRACK_BIN") // a build of one's own (a profiling one, say)
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "envtrack")
		out, err := exec.Command("go", "build", "-o", bin, "../../cmd/envtrack").CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	apis, pids := map[string]string{}, map[string]int{}
	for _, lang := range []string{config.QueryLanguageInfluxQL, config.QueryLanguageFlux} {
		dir := b.TempDir()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testinfra.FreePort(b)))
		cfg := filepath.Join(dir, "envtrack.yml")
		require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf("listen_address: %s\nstate_dir: %s\ninfluxdb: {url: %s, bucket: %s, query_language: %s}\n",
			addr, filepath.Join(dir, "data"), db.URL, db.Bucket, lang)), 0o600))
		p, err := proc.Start("envtrack", bin, []string{"serve", "--config", cfg, "--log.level=warn"}, io.Discard)
		require.NoError(b, err)
		b.Cleanup(func() { _ = p.Stop(time.Minute) })
		waitReady(b, addr)
		apis[lang], pids[lang] = "http://"+addr, p.Pid()
	}
	// The floor of any second process on the path: a bare reverse proxy before InfluxDB
	// (testdata/proxy), through which the bare statement goes as it is.
	proxyBin := filepath.Join(b.TempDir(), "proxy")
	out, err := exec.Command("go", "build", "-o", proxyBin, "./testdata/proxy").CombinedOutput()
	require.NoError(b, err, "%s", out)
	proxy := func(name string, args ...string) string {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testinfra.FreePort(b)))
		p, err := proc.Start(name, proxyBin, append([]string{"-listen", addr, "-target", db.URL}, args...), io.Discard)
		require.NoError(b, err)
		b.Cleanup(func() { _ = p.Stop(time.Minute) })
		waitAnswer(b, "the "+name, "http://"+addr+"/ping", http.StatusNoContent) // InfluxDB's /ping
		return addr
	}
	proxyAddr, rawProxyAddr := proxy("proxy"), proxy("raw proxy", "-raw")
	iq, err := influxdb.NewInfluxQL(sinkCfg, nil, nil)
	require.NoError(b, err)
	fx, err := influxdb.NewFlux(sinkCfg, nil, nil)
	require.NoError(b, err)

	bareInfluxQL := func(id, chunkSize string) *http.Request {
		stmt, err := iq.EnvironmentEventsQuery(id)
		if err != nil {
			panic(err)
		}
		q := url.Values{"db": {db.Database}, "rp": {"autogen"}, "epoch": {"ns"}, "chunked": {"true"}, "q": {stmt}}
		if chunkSize != "" {
			q.Set("chunk_size", chunkSize)
		}
		req, _ := http.NewRequest(http.MethodGet, db.URL+"/query?"+q.Encode(), nil)
		return req
	}
	perOp := func(kind string, phase []string) int {
		if kind == "ephemeral" && phase[0] == "API_InfluxQL" {
			return 10
		}
		return 1
	}
	ids := map[string]func(*rand.Rand) string{
		"ephemeral": func(r *rand.Rand) string { return fmt.Sprintf("env-%05d", r.IntN(envs)) },
		"long":      func(*rand.Rand) string { return "staging" },
	}
	requests := map[string]func(id string) *http.Request{
		"API_InfluxQL": func(id string) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, apis[config.QueryLanguageInfluxQL]+"/api/environments/"+id+"/timeline", nil)
			return req
		},
		"API_Flux": func(id string) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, apis[config.QueryLanguageFlux]+"/api/environments/"+id+"/timeline", nil)
			return req
		},
		// The statement envtrack sends, with the parameters it sends (db, rp, epoch=ns,
		// chunked, chunk_size), as `curl -G .../query --data-urlencode q=...` would.
		"Bare_InfluxQL": func(id string) *http.Request {
			return bareInfluxQL(id, strconv.Itoa(influxdb.ChunkSize))
		},
		// The same without gzip, as curl asks it (Go's client, above, asks for gzip; so
		// does envtrack, but of an InfluxDB on a loopback address, as here).
		"Bare_InfluxQL_identity": func(id string) *http.Request {
			req := bareInfluxQL(id, strconv.Itoa(influxdb.ChunkSize))
			req.Header.Set("Accept-Encoding", "identity")
			return req
		},
		// The same through the bare proxy.
		"Proxy_InfluxQL": func(id string) *http.Request {
			req := bareInfluxQL(id, strconv.Itoa(influxdb.ChunkSize))
			req.URL.Host = proxyAddr
			return req
		},
		// The same through the proxy without net/http.
		"ProxyRaw_InfluxQL": func(id string) *http.Request {
			req := bareInfluxQL(id, strconv.Itoa(influxdb.ChunkSize))
			req.URL.Host = rawProxyAddr
			return req
		},
		// The same with InfluxDB's own chunks (10,000 rows: the whole timeline at once).
		"Bare_InfluxQL_server_chunks": func(id string) *http.Request {
			return bareInfluxQL(id, "")
		},
		// The Flux envtrack sends, to /api/v2/query (annotated CSV).
		"Bare_Flux": func(id string) *http.Request {
			body := fmt.Sprintf(`{"query": %q, "type": "flux"}`, fx.EnvironmentEventsQuery(id))
			req, _ := http.NewRequest(http.MethodPost, db.URL+"/api/v2/query", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/csv")
			return req
		},
	}
	// The paths of one language take turns on the same id, so that a machine busy with
	// something else slows them alike: side by side in one run, request by request. The
	// languages run one after the other, on the same ids.
	phases := [][]string{{"API_InfluxQL", "Bare_InfluxQL", "Bare_InfluxQL_identity", "Bare_InfluxQL_server_chunks", "Proxy_InfluxQL", "ProxyRaw_InfluxQL"}, {"API_Flux", "Bare_Flux"}}
	var paths []string
	for _, ph := range phases {
		paths = append(paths, ph...)
	}
	for _, kind := range []string{"ephemeral", "long"} {
		b.Run(kind, func(b *testing.B) {
			lat := map[string][]time.Duration{}
			cpu := map[string]time.Duration{}
			bytes := map[string]int{}
			served := map[string]float64{} // envtrack's CPU seconds, by API path
			for _, ph := range phases {
				runtime.GC() // the phase before's garbage is not this one's
				api := ph[0]
				pid := pids[strings.ToLower(strings.TrimPrefix(api, "API_"))]
				cpu0 := procCPUSeconds(b, pid)
				rnd := rand.New(rand.NewPCG(1, 2))
				order := rand.New(rand.NewPCG(3, 4)) // apart, so that the ids stay the same
				for range b.N * perOp(kind, ph) {
					id := ids[kind](rnd)
					for _, j := range order.Perm(len(ph)) {
						path := ph[j]
						req := requests[path](id)
						t0, c0 := time.Now(), cpuTime()
						bytes[path] = get(req)
						lat[path] = append(lat[path], time.Since(t0))
						cpu[path] += cpuTime() - c0
					}
				}
				served[api] = procCPUSeconds(b, pid) - cpu0
			}
			p50, p99 := map[string]float64{}, map[string]float64{}
			for _, path := range paths {
				p50[path], p99[path] = percentiles(lat[path])
				unit := strings.ToLower(strings.ReplaceAll(path, "_", "-"))
				b.ReportMetric(p50[path], unit+"-p50-ms")
				b.ReportMetric(p99[path], unit+"-p99-ms")
				b.ReportMetric(float64(bytes[path]), unit+"-bytes")
				// This process's CPU per request: the client's (InfluxDB and envtrack
				// run in their own processes).
				b.ReportMetric(float64(cpu[path])/float64(len(lat[path]))/float64(time.Millisecond), unit+"-cpu-ms")
				if s, ok := served[path]; ok { // envtrack's, from /proc
					b.ReportMetric(1000*s/float64(len(lat[path])), unit+"-envtrack-cpu-ms")
				}
			}
			// Each ratio at p99 and at p50: "influxql-api/bare-p99" is API_InfluxQL's p99
			// over Bare_InfluxQL's.
			for _, r := range []struct{ of, over, name string }{
				{"API_InfluxQL", "Bare_InfluxQL", "influxql-api/bare"},
				{"API_InfluxQL", "Bare_InfluxQL_identity", "influxql-api/bare-identity"},
				{"API_InfluxQL", "Bare_InfluxQL_server_chunks", "influxql-api/bare-server-chunks"},
				{"Proxy_InfluxQL", "Bare_InfluxQL", "influxql-proxy/bare"},
				{"ProxyRaw_InfluxQL", "Bare_InfluxQL", "influxql-proxy-raw/bare"},
				{"API_InfluxQL", "Proxy_InfluxQL", "influxql-api/proxy"},
			} {
				b.ReportMetric(p99[r.of]/p99[r.over], r.name+"-p99")
				b.ReportMetric(p50[r.of]/p50[r.over], r.name+"-p50")
			}
			b.ReportMetric(p99["API_Flux"]/p99["API_InfluxQL"], "api-flux/influxql-p99")
		})
	}
}

// longLived is a long-lived environment's history: ready once, then n-2 events over 30
// days before end, deployments with an occasional degradation and recovery.
func longLived(id string, end time.Time, n int) []event.Event {
	start := end.Add(-30 * 24 * time.Hour)
	base := event.Event{EnvironmentID: id, EnvironmentName: "Staging", Type: "staging", Repository: "platform-app", Branch: "main", Source: "argocd"}
	out := make([]event.Event, 0, n)
	add := func(name event.Name, at time.Time, meta map[string]any) {
		e := base
		e.Name, e.Time, e.Metadata = name, at, meta
		out = append(out, e)
	}
	add(event.ProvisioningStarted, start, map[string]any{"evidence": "creationTimestamp"})
	add(event.Ready, start.Add(3*time.Minute), map[string]any{"provisioning_duration_seconds": 180.0})
	step := 30 * 24 * time.Hour / time.Duration(n)
	for i := 2; i < n; i++ {
		at := start.Add(time.Duration(i) * step).Truncate(time.Second)
		switch {
		case i%20 == 0:
			add(event.Degraded, at, map[string]any{"cause": "health", "message": `pod "api-7f9" CrashLoopBackOff`})
		case i%20 == 1:
			add(event.Recovered, at, nil)
		default:
			add(event.Deployed, at, map[string]any{"revision": fmt.Sprintf("%040x", i), "status": "success"})
		}
	}
	return out
}

// percentiles are the p50 and p99 of lat, in milliseconds.
func percentiles(lat []time.Duration) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// BenchmarkTimelineWork: envtrack's own work for a timeline, without InfluxDB and
// without other load: GET /api/environments/{id}/timeline from envtrack's HTTP surface
// (server.Handler's middleware included, over a loopback connection as a client sees it)
// reading InfluxDB 1.8's chunked answer (500-row chunks, metadata as the sink writes it)
// from a canned server (gzipped to a client that asks for it, as InfluxDB sends it),
// against a bare client (Go's, which asks for gzip) reading the same answer. Two timelines:
// an ephemeral environment's (10 events: what a request costs whatever its size) and the
// long-lived one (3,000 events). ns/op, B/op and allocs/op are the CPU and memory per
// request that BenchmarkTimelineQuery's timings, taken on a shared machine, cannot
// separate from the load.
func BenchmarkTimelineWork(b *testing.B) {
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	synthetic, _ := scenario.Synthetic(end, 30*24*time.Hour, 10)
	var ephemeral []event.Event
	for _, e := range synthetic {
		if e.EnvironmentID == "env-00003" {
			ephemeral = append(ephemeral, e)
		}
	}
	for _, tc := range []struct {
		name, id string
		evs      []event.Event
	}{
		{"ephemeral", "env-00003", ephemeral},
		{"long", "staging", longLived("staging", end, 3000)},
	} {
		b.Run(tc.name, func(b *testing.B) { benchTimelineWork(b, end, tc.id, tc.evs) })
	}
}

func benchTimelineWork(b *testing.B, end time.Time, id string, evs []event.Event) {
	cols := []string{"time", influxdb.FieldEnvName, influxdb.FieldBranch, influxdb.FieldCommitSHA, influxdb.FieldEventID,
		influxdb.FieldMetadata, influxdb.TagEnvironmentID, influxdb.TagEvent, influxdb.TagType, influxdb.TagRepository}
	var answer []byte
	for at := 0; at < len(evs); at += influxdb.ChunkSize {
		chunk := evs[at:min(at+influxdb.ChunkSize, len(evs))]
		values := make([][]any, len(chunk))
		for i, e := range chunk {
			meta := "{}"
			if len(e.Metadata) > 0 {
				m, _ := json.Marshal(e.Metadata)
				meta = string(m)
			}
			values[i] = []any{e.Time.UnixNano(), e.EnvironmentName, e.Branch, e.CommitSHA, event.MakeID("bench", uint64(at+i+1)),
				meta, e.EnvironmentID, string(e.Name), e.Type, e.Repository}
		}
		more := at+influxdb.ChunkSize < len(evs)
		series := map[string]any{"name": "environment_lifecycle", "columns": cols, "values": values}
		result := map[string]any{"statement_id": 0, "series": []any{series}}
		if more {
			series["partial"], result["partial"] = true, true
		}
		c, err := json.Marshal(map[string]any{"results": []any{result}})
		require.NoError(b, err)
		answer = append(append(answer, c...), '\n')
	}
	// Compressed once, as InfluxDB 1.8 sends it to a client that asks for gzip (its
	// compressing is InfluxDB's CPU, not this process's).
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(answer)
	require.NoError(b, zw.Close())
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
			return
		}
		_, _ = w.Write(answer)
	}))
	b.Cleanup(influx.Close)
	cfg := config.DefaultInfluxDBConfig
	cfg.URL, cfg.Bucket = influx.URL, "envtrack/autogen"
	reader, err := influxdb.NewInfluxQL(cfg, nil, nil)
	require.NoError(b, err)
	b.Cleanup(reader.Close)
	svc := query.NewService(reader, config.DefaultTargetsConfig, func() time.Time { return end })
	conf := &config.Config{API: config.DefaultAPIConfig}
	envtrack := httptest.NewServer(server.Handler(server.Routes{
		Config: func() *config.Config { return conf }, Query: func() *query.Service { return svc },
		Panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "panics"}), Logger: log.NewNopLogger(),
	}))
	b.Cleanup(envtrack.Close)
	get := func(url string) {
		resp, err := http.Get(url)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
	b.Run("API", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(envtrack.URL + "/api/environments/" + id + "/timeline")
		}
	})
	b.Run("Bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			get(influx.URL + "/query")
		}
	})
}
