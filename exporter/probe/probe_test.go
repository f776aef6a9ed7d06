package probe

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// section is the readiness.url section config.Load gives for a file that sets c's
// nonzero fields only: the others keep their defaults.
func section(c config.URLConfig) config.URLConfig {
	d := config.DefaultURLConfig
	if c.Interval != 0 {
		d.Interval = c.Interval
	}
	if c.Timeout != 0 {
		d.Timeout = c.Timeout
	}
	if !c.ExpectedStatus.IsZero() {
		d.ExpectedStatus = c.ExpectedStatus
	}
	if c.Concurrency != 0 {
		d.Concurrency = c.Concurrency
	}
	d.TLS = c.TLS
	return d
}

func newProber(t *testing.T, cfg config.URLConfig, reg prometheus.Registerer) *Prober {
	t.Helper()
	p, err := New(section(cfg), Options{UserAgent: "envtrack-test"}, nil, reg, fixedNow)
	require.NoError(t, err)
	return p
}

// refusedURL returns a URL on which nothing listens.
func refusedURL(t *testing.T, userinfo string) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return "http://" + userinfo + addr + "/healthz"
}

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != "envtrack-test" {
			http.Error(w, "bad user agent "+r.UserAgent(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, strings.Repeat("x", 1<<20)) // more than is read
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/notfound", http.NotFound)
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	withUser := strings.Replace(srv.URL, "http://", "http://alice:s3cr3t-pw@", 1)
	// A redirect to a URL with credentials, on which nothing listens.
	mux.HandleFunc("/redirect-creds", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, refusedURL(t, "bob:hunter2@"), http.StatusFound)
	})

	only404, err := config.ParseStatusMatcher("404")
	require.NoError(t, err)
	tests := []struct {
		name      string
		url       string
		match     config.StatusMatcher
		timeout   time.Duration
		wantOK    bool
		wantCode  int
		wantErr   string
		forbidden []string // must not appear in Err
	}{
		{name: "200 ok", url: srv.URL + "/ok", wantOK: true, wantCode: 200},
		{name: "503 fails with its class", url: srv.URL + "/unavailable", wantCode: 503, wantErr: "status 5xx"},
		{name: "404 fails by default", url: srv.URL + "/notfound", wantCode: 404, wantErr: "status 4xx"},
		{name: "custom match accepts 404", url: srv.URL + "/notfound", match: only404, wantOK: true, wantCode: 404},
		{name: "custom match rejects 200", url: srv.URL + "/ok", match: only404, wantCode: 200, wantErr: "status 2xx"},
		{name: "redirect followed", url: srv.URL + "/redirect", wantOK: true, wantCode: 200},
		{name: "redirect loop", url: srv.URL + "/loop", wantErr: "too many redirects"},
		{name: "connection refused", url: refusedURL(t, ""), wantErr: "unreachable"},
		{name: "timeout", url: srv.URL + "/hang", timeout: 100 * time.Millisecond, wantErr: "timeout"},
		{name: "unsupported scheme", url: "ftp://alice:s3cr3t-pw@example.com/", wantErr: "unreachable", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "invalid URL with credentials", url: "http://alice:s3cr3t-pw@exa mple.com:x/", wantErr: "invalid URL", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "credentials: refused", url: refusedURL(t, "alice:s3cr3t-pw@"), wantErr: "unreachable", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "credentials: status", url: withUser + "/unavailable", wantCode: 503, wantErr: "status 5xx", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "credentials: timeout", url: withUser + "/hang", timeout: 100 * time.Millisecond, wantErr: "timeout", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "credentials: redirect loop", url: withUser + "/loop", wantErr: "too many redirects", forbidden: []string{"alice", "s3cr3t-pw"}},
		{name: "credentials in redirect target", url: srv.URL + "/redirect-creds", wantErr: "unreachable", forbidden: []string{"bob", "hunter2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			p := newProber(t, config.URLConfig{Timeout: model.Duration(timeout), ExpectedStatus: tt.match}, nil)
			res := p.Probe(context.Background(), Target{EnvironmentID: "env", URL: tt.url})
			t.Logf("err: %q", res.Err)
			require.Equal(t, tt.url, res.URL)
			require.Equal(t, t0, res.At)
			require.Equal(t, tt.wantOK, res.OK, "err: %s", res.Err)
			require.Equal(t, tt.wantCode, res.StatusCode)
			if tt.wantOK {
				require.Empty(t, res.Err)
			} else {
				require.Equal(t, tt.wantErr, res.Err, "the class only")
			}
			for _, s := range append(tt.forbidden, "http://", "/healthz") {
				require.NotContains(t, res.Err, s)
			}
		})
	}
}

func TestProbeTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	tests := []struct {
		name    string
		cfg     config.URLConfig
		wantOK  bool
		wantErr string
	}{
		{"system roots reject the test CA", config.URLConfig{}, false, "tls"},
		{"ca_file", config.URLConfig{TLS: config.TLSConfig{CAFile: caFile}}, true, ""},
		{"insecure_skip_verify", config.URLConfig{TLS: config.TLSConfig{InsecureSkipVerify: true}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newProber(t, tt.cfg, nil).Probe(context.Background(), Target{URL: srv.URL})
			require.Equal(t, tt.wantOK, res.OK, "err: %s", res.Err)
			require.Equal(t, tt.wantErr, res.Err)
		})
	}
}

// TestNewInvalid: New takes its section as config.Load validated it (the interval, the
// timeout, the concurrency and the TLS settings are checked there once); what can still
// fail is the CA file, read again when the client is built.
func TestNewInvalid(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	tests := []struct {
		name    string
		tls     config.TLSConfig
		wantErr string
	}{
		{"missing ca file", config.TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing.pem")}, "probe: tls.ca_file: open "},
		{"ca file without certificates", config.TLSConfig{CAFile: notPEM}, "no PEM certificate found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultURLConfig
			cfg.TLS = tt.tls
			p, err := New(cfg, Options{}, nil, nil, nil)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, p)
		})
	}

	p, err := New(config.DefaultURLConfig, Options{}, nil, nil, nil)
	require.NoError(t, err)
	require.Equal(t, time.Duration(config.DefaultURLConfig.Interval), p.cfg.interval)
}

func TestProbeAllConcurrencyBound(t *testing.T) {
	const concurrency, n = 3, 12
	var current, maxSeen atomic.Int64
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c := current.Add(1)
		defer current.Add(-1)
		for {
			m := maxSeen.Load()
			if c <= m || maxSeen.CompareAndSwap(m, c) {
				break
			}
		}
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()

	p := newProber(t, config.URLConfig{Concurrency: concurrency, Timeout: model.Duration(time.Minute), Interval: model.Duration(time.Minute)}, nil)
	targets := make([]Target, n)
	for i := range targets {
		targets[i] = Target{EnvironmentID: fmt.Sprint(i), URL: fmt.Sprintf("%s/%d", srv.URL, i)}
	}
	done := make(chan []tracker.ProbeResult)
	go func() { done <- p.ProbeAll(context.Background(), targets) }()
	// The barrier: the first wave fills every worker, then everything is let through.
	for range concurrency {
		<-entered
	}
	close(release)
	results := <-done
	require.Len(t, results, n)
	for i, r := range results {
		require.True(t, r.OK, "target %d: %s", i, r.Err)
	}
	require.Equal(t, int64(concurrency), maxSeen.Load(), "never more than Concurrency probes at once, and the bound is reached")
}

func TestProbeAllOrder(t *testing.T) {
	// Handler i waits for handler i+1 to finish, so the probes complete in reverse order.
	const n = 8
	finished := make([]chan struct{}, n+1)
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	close(finished[n])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		_, err := fmt.Sscanf(r.URL.Path, "/%d", &i)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		<-finished[i+1]
		if i%2 == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		w.(http.Flusher).Flush()
		close(finished[i])
	}))
	defer srv.Close()

	p := newProber(t, config.URLConfig{Concurrency: n}, nil)
	var targets []Target
	for i := range n {
		targets = append(targets, Target{EnvironmentID: fmt.Sprint(i), URL: fmt.Sprintf("%s/%d", srv.URL, i)})
	}
	results := p.ProbeAll(context.Background(), targets)
	require.Len(t, results, n)
	for i, r := range results {
		require.Equal(t, targets[i].URL, r.URL)
		require.Equal(t, i%2 == 0, r.OK, "target %d", i)
		if i%2 == 1 {
			require.Equal(t, http.StatusInternalServerError, r.StatusCode)
		}
	}
	require.Empty(t, p.ProbeAll(context.Background(), nil))
}

func TestProbeAllCancel(t *testing.T) {
	var hits atomic.Int64
	entered := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		entered <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	targets := []Target{{URL: srv.URL + "/a"}, {URL: srv.URL + "/b"}, {URL: srv.URL + "/c"}}

	t.Run("canceled before", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		p := newProber(t, config.URLConfig{Concurrency: 1}, reg)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		results := p.ProbeAll(ctx, targets)
		require.Len(t, results, len(targets))
		for i, r := range results {
			require.False(t, r.OK)
			require.Equal(t, targets[i].URL, r.URL)
			require.True(t, strings.HasPrefix(r.Err, "canceled"), r.Err)
		}
		require.Zero(t, hits.Load())
		require.Equal(t, 0.0, testutil.ToFloat64(p.results.WithLabelValues("failure")), "a cancellation is not a failed probe")
	})

	t.Run("canceled during", func(t *testing.T) {
		p := newProber(t, config.URLConfig{Concurrency: 1, Timeout: model.Duration(time.Minute), Interval: model.Duration(time.Minute)}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan []tracker.ProbeResult)
		go func() { done <- p.ProbeAll(ctx, targets) }()
		<-entered // the first probe is running (Concurrency 1: the only one)
		cancel()
		results := <-done
		require.Len(t, results, len(targets))
		require.Equal(t, t0, results[0].At, "the first was probed")
		require.Contains(t, results[0].Err, "canceled")
		for _, r := range results[1:] {
			require.False(t, r.OK)
			require.Equal(t, "canceled: not probed", r.Err)
			require.True(t, r.At.IsZero())
		}
		require.Equal(t, int64(1), hits.Load())
	})
}

func TestMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	reg := prometheus.NewPedanticRegistry()
	p := newProber(t, config.URLConfig{}, reg)
	results := p.ProbeAll(context.Background(), []Target{
		{EnvironmentID: "a", URL: srv.URL + "/up"},
		{EnvironmentID: "b", URL: srv.URL + "/down"},
		{EnvironmentID: "c", URL: srv.URL + "/up"},
		{EnvironmentID: "d", URL: refusedURL(t, "")},
	})
	require.Len(t, results, 4)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_probe_results_total URL probes of environments by result (success: answered with an expected status code).
# TYPE envtrack_probe_results_total counter
envtrack_probe_results_total{result="failure"} 2
envtrack_probe_results_total{result="success"} 2
# HELP envtrack_probes_in_flight URL probes currently running.
# TYPE envtrack_probes_in_flight gauge
envtrack_probes_in_flight 0
`), "envtrack_probe_results_total", "envtrack_probes_in_flight"))
	require.Equal(t, 1, testutil.CollectAndCount(p.duration, "envtrack_probe_duration_seconds"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "envtrack_probe_duration_seconds" {
			require.Equal(t, uint64(4), mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				require.NotContains(t, l.GetValue(), "http", "no label takes a URL")
			}
		}
	}

	// A second Prober on the same registry (a reload) shares the collectors.
	p2 := newProber(t, config.URLConfig{}, reg)
	p2.Probe(context.Background(), Target{URL: srv.URL + "/up"})
	require.Equal(t, 3.0, testutil.ToFloat64(p.results.WithLabelValues("success")))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestLogRedactsURL: a failed probe is logged with its URL as redact.URL shows it.
func TestLogRedactsURL(t *testing.T) {
	var buf strings.Builder
	p, err := New(config.DefaultURLConfig, Options{}, log.NewLogfmtLogger(&buf), nil, fixedNow)
	require.NoError(t, err)
	url := refusedURL(t, "alice:s3cr3t-pw@") + "?access_token=tok-123456&region=eu"
	res := p.Probe(context.Background(), Target{EnvironmentID: "env", URL: url})
	require.False(t, res.OK)
	require.Contains(t, buf.String(), "url=\"http://alice:<secret>@")
	require.Contains(t, buf.String(), "/healthz?access_token=<secret>&region=eu\"")
	require.NotContains(t, buf.String(), "s3cr3t-pw")
	require.NotContains(t, buf.String(), "tok-123456")
}

// countingServer listens on addr (host:0) and counts the requests it answers 200.
func countingServer(t *testing.T, addr string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestProbeRedirectsStayOnHost: a redirect to another host is not followed unless
// follow_cross_host_redirects says so: the redirect is the answer (its 3xx matched by
// expected_status) and the other host is never contacted. Redirects on the same host
// (another port or scheme included) are followed.
func TestProbeRedirectsStayOnHost(t *testing.T) {
	other, otherHits := countingServer(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
	elsewhere := "http://localhost:" + port + "/internal" // another host name, same machine
	sameHost := other.URL + "/ok"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := elsewhere
		if r.URL.Path == "/same" {
			to = sameHost // 127.0.0.1, another port
		}
		http.Redirect(w, r, to, http.StatusFound)
	}))
	defer origin.Close()

	only200, err := config.ParseStatusMatcher("200")
	require.NoError(t, err)
	for _, c := range []struct {
		name     string
		follow   bool
		match    config.StatusMatcher
		path     string
		wantOK   bool
		wantCode int
		wantErr  string
		wantHits int64
	}{
		{"cross-host: the redirect is the answer", false, config.StatusMatcher{}, "/", true, 302, "", 0},
		{"cross-host: a 302 not expected", false, only200, "/", false, 302, "status 3xx", 0},
		{"same host, another port: followed", false, config.StatusMatcher{}, "/same", true, 200, "", 1},
		{"cross-host allowed", true, config.StatusMatcher{}, "/", true, 200, "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			otherHits.Store(0)
			cfg := section(config.URLConfig{ExpectedStatus: c.match})
			cfg.FollowCrossHostRedirects = c.follow
			p, err := New(cfg, Options{}, nil, nil, fixedNow)
			require.NoError(t, err)
			res := p.Probe(context.Background(), Target{URL: origin.URL + c.path})
			require.Equal(t, c.wantOK, res.OK, res.Err)
			require.Equal(t, c.wantCode, res.StatusCode)
			require.Equal(t, c.wantErr, res.Err)
			require.Equal(t, c.wantHits, otherHits.Load(), "requests to the other host")
		})
	}
}

// TestProbeDenyNetworks: with deny_networks the probe never connects to an address in
// them, however it got there: a literal address, a name that resolves into them (as a
// rebound DNS name would), or a redirect; the failure says only "unreachable", the
// debug log says why.
func TestProbeDenyNetworks(t *testing.T) {
	allowed, allowedHits := countingServer(t, "127.0.0.1:0")
	denied, deniedHits := countingServer(t, "127.0.0.2:0") // Linux answers all of 127/8
	_, deniedPort, _ := net.SplitHostPort(denied.Listener.Addr().String())
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, denied.URL+"/", http.StatusFound)
	}))
	defer redirector.Close()
	deny := config.Networks{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}
	var logs strings.Builder
	cfg := section(config.URLConfig{})
	cfg.DenyNetworks, cfg.FollowCrossHostRedirects = deny, true
	p, err := New(cfg, Options{}, log.NewLogfmtLogger(&logs), nil, fixedNow)
	require.NoError(t, err)

	for _, c := range []struct {
		name, url string
		wantOK    bool
	}{
		{"an allowed address", allowed.URL + "/", true},
		{"a denied address", denied.URL + "/", false},
		{"a denied address, IPv4-mapped", "http://[::ffff:127.0.0.2]:" + deniedPort + "/", false},
		{"a redirect into a denied network", redirector.URL + "/", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := p.Probe(context.Background(), Target{URL: c.url})
			require.Equal(t, c.wantOK, res.OK, res.Err)
			if !c.wantOK {
				require.Equal(t, ErrUnreachable, res.Err)
			}
		})
	}
	require.Equal(t, int64(1), allowedHits.Load())
	require.Zero(t, deniedHits.Load(), "nothing reached the denied network")
	require.Contains(t, logs.String(), "denied: address in readiness.url.deny_networks")

	// A name is checked on what it resolves to, when the probe connects: localhost
	// resolves into a denied loopback network.
	cfg.DenyNetworks = config.Networks{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	p, err = New(cfg, Options{}, nil, nil, fixedNow)
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(allowed.Listener.Addr().String())
	res := p.Probe(context.Background(), Target{URL: "http://localhost:" + port + "/"})
	require.Equal(t, ErrUnreachable, res.Err)
	require.Equal(t, int64(1), allowedHits.Load())
}
