// Package demo runs envtrack's whole pipeline on one machine: a simulated platform on a
// fake Argo CD, envtrack, a real InfluxDB 1.8, a real Prometheus with the generated
// rules and a real Alertmanager, and a fake Grafana that records annotations. `make
// demo` runs it through cmd/envtrack-demo; its test runs it at high speed.
//
// Time. The simulated world and envtrack share one virtual clock (Clock) that replays
// the recent past (Options.History) Speed times faster than real time and then runs at
// real time. envtrack runs in-process with app.Options.Now set to that clock: its
// observation times, detected_at, the provisioning timeout and the store's creation
// time are on the same time line as Argo CD's evidence, so a timeout is 30 simulated
// minutes and an environment created during the replay is live, not history. Because
// the clock is never ahead of real time, nothing reaches InfluxDB, Grafana or the API
// with a timestamp in the future. (envtrack as a child process on the real clock would
// see evidence up to a day old: every environment would be history (backfill) and
// every provisioning would time out at once.)
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/exporter/logging"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/exporter/webhook"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/proc"
)

// Ports are the 127.0.0.1 ports the demo uses when they are free; a taken port is
// replaced by a free one (and the banner says which).
type Ports struct {
	Envtrack, Prometheus, Alertmanager, InfluxDB, InfluxRPC, Simulator, Grafana int
}

// DefaultPorts are each server's usual port; the simulated Argo CD takes 8080.
var DefaultPorts = Ports{Envtrack: 9465, Prometheus: 9090, Alertmanager: 9093, InfluxDB: 8086, InfluxRPC: 8088,
	Simulator: 8080, Grafana: 3000}

// Options configure the demo. The zero value of a field means its default.
type Options struct {
	// Dir holds every server's data, configuration and log (default .demo). Each run
	// starts clean: the demo's subdirectories are removed first.
	Dir string
	// ToolsDir holds influxd, prometheus, promtool and alertmanager (default .cache/bin,
	// as `make tools` builds them).
	ToolsDir string
	// RulesFile is Prometheus's rule file (default deploy/prometheus/envtrack.rules.yml).
	// When it is absent or promtool rejects it, Prometheus runs without it (a warning).
	RulesFile string
	// EnvtrackBin is the CLI shown in the commands to try (default bin/envtrack).
	EnvtrackBin string
	// Speed: the simulated clock runs this many times faster than real time while it
	// replays History (default 240: a day in six minutes).
	Speed float64
	// History is how much simulated time is replayed before the present (default 24h).
	History time.Duration
	// PerHour is the mean number of environments requested per simulated hour (20).
	PerHour float64
	// Seed of the simulated world (0: from the time).
	Seed uint64
	// Ports to use when free (default DefaultPorts); AnyPorts takes free ports only.
	Ports    Ports
	AnyPorts bool
	// ScrapeInterval of Prometheus (and its rule evaluation), default 5s.
	ScrapeInterval time.Duration
	// PollInterval: envtrack's Argo CD poll and URL probe interval while the clock
	// replays (default 250ms: one simulated minute at 240×); 5s once it runs live.
	PollInterval time.Duration
	// Timeout is readiness.provisioning_timeout (default 30m, simulated time).
	Timeout time.Duration
	// Out receives the progress lines, the banner and the alerts (default os.Stdout).
	Out io.Writer
	// LogLevel of envtrack's log, .demo/logs/envtrack.log (default info).
	LogLevel string
	// Started, when set, is called by Run once everything runs (a command uses it to
	// kill the servers on a second Ctrl-C).
	Started func(*Demo)
}

const livePoll = 5 * time.Second

func (o *Options) defaults() error {
	if o.Dir == "" {
		o.Dir = ".demo"
	}
	if o.ToolsDir == "" {
		o.ToolsDir = filepath.Join(".cache", "bin")
	}
	if o.RulesFile == "" {
		o.RulesFile = filepath.Join("deploy", "prometheus", "envtrack.rules.yml")
	}
	if o.EnvtrackBin == "" {
		o.EnvtrackBin = filepath.Join("bin", "envtrack")
	}
	if o.Speed == 0 {
		o.Speed = 240
	}
	if o.Speed < 1 {
		return fmt.Errorf("speed must be at least 1, got %g", o.Speed)
	}
	if o.History == 0 {
		o.History = 24 * time.Hour
	}
	if o.History < 0 {
		return fmt.Errorf("history must not be negative, got %s", o.History)
	}
	if o.PerHour == 0 {
		o.PerHour = 20
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Ports == (Ports{}) {
		o.Ports = DefaultPorts
	}
	if o.AnyPorts {
		o.Ports = Ports{}
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = 5 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = time.Duration(config.DefaultReadinessConfig.ProvisioningTimeout)
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	var err error
	for _, p := range []*string{&o.Dir, &o.ToolsDir, &o.RulesFile} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	return nil
}

// URLs says where everything is.
type URLs struct {
	Envtrack, Prometheus, Alertmanager, InfluxDB, ArgoCD, Grafana string
}

// Demo is a running demo. Stop it exactly once.
type Demo struct {
	opts  Options
	urls  URLs
	clock *Clock
	sim   atomic.Pointer[Sim]
	argo  *fakeargocd.Server
	graf  *fakegrafana.Server
	app   *app.App

	lock        *os.File
	logFile     *os.File
	servers     []*http.Server
	procs       []*proc.Process
	envtrackCfg string
	cfgParams   envtrackParams
	rulesFile   string // "" when Prometheus runs without rules

	appCancel context.CancelFunc
	appDone   chan error
	bgCancel  context.CancelFunc
	bg        sync.WaitGroup

	alertsMu sync.Mutex
	firing   map[string]bool

	stopOnce sync.Once
	stopErr  error
}

// demoSubdirs are what a run owns inside Dir, removed at the start of the next.
var demoSubdirs = []string{"envtrack", "influxdb", "prometheus", "alertmanager", "secrets", "logs"}

// Start starts everything and returns once envtrack runs. On error, whatever started is
// stopped again. ctx bounds the start only; Stop ends the demo.
func Start(ctx context.Context, opts Options) (d *Demo, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	d = &Demo{opts: opts, firing: map[string]bool{}}
	defer func() {
		if err != nil {
			_ = d.Stop()
			d = nil
		}
	}()
	if err := d.prepareDir(); err != nil {
		return d, err
	}
	bins := map[string]string{}
	for _, name := range []string{"influxd", "prometheus", "promtool", "alertmanager"} {
		p := filepath.Join(opts.ToolsDir, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return d, fmt.Errorf("%s not found in %s: run `make tools` (it builds the servers from the Go module proxy)", name, opts.ToolsDir)
		}
		bins[name] = p
	}

	// Ports: the usual ones when free, distinct free ones otherwise.
	ports, err := pickPorts(opts.Ports)
	if err != nil {
		return d, err
	}
	host := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	d.urls = URLs{
		Envtrack: "http://" + host(ports.Envtrack), Prometheus: "http://" + host(ports.Prometheus),
		Alertmanager: "http://" + host(ports.Alertmanager), InfluxDB: "http://" + host(ports.InfluxDB),
		ArgoCD: "http://" + host(ports.Simulator), Grafana: "http://" + host(ports.Grafana),
	}

	// Tokens: random per run, in files only (envtrack reads them with *_file).
	secrets := filepath.Join(opts.Dir, "secrets")
	argoToken, grafToken, writeToken := randomToken(), randomToken(), randomToken()
	for name, tok := range map[string]string{"argocd.token": argoToken, "grafana.token": grafToken, "write.tokens": writeToken} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(tok+"\n"), 0o600); err != nil {
			return d, err
		}
	}

	// The in-process fakes: Argo CD with the simulated platform (and its URLs, and the
	// Alertmanager webhook) on one listener, Grafana on another.
	d.argo = fakeargocd.New(fakeargocd.WithToken(argoToken))
	simMux := http.NewServeMux()
	simMux.Handle("/api/", d.argo)
	simMux.HandleFunc("GET /env/", func(w http.ResponseWriter, r *http.Request) {
		if s := d.sim.Load(); s != nil {
			s.URLHandler().ServeHTTP(w, r)
			return
		}
		http.Error(w, "not yet", http.StatusServiceUnavailable)
	})
	simMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	simMux.HandleFunc("POST /alerts", d.alertWebhook)
	d.graf = fakegrafana.New(fakegrafana.WithToken(grafToken))
	if err := d.serve(ports.Simulator, simMux); err != nil {
		return d, err
	}
	if err := d.serve(ports.Grafana, d.graf); err != nil {
		return d, err
	}

	// The real servers, started together.
	d.rulesFile = d.checkRules(ctx, bins["promtool"])
	influxDir := filepath.Join(opts.Dir, "influxdb")
	promDir := filepath.Join(opts.Dir, "prometheus")
	amDir := filepath.Join(opts.Dir, "alertmanager")
	files := map[string]string{
		filepath.Join(influxDir, "influxdb.conf"): influxConfig(influxDir, ports.InfluxDB, ports.InfluxRPC),
		filepath.Join(promDir, "prometheus.yml"):  prometheusConfig(opts.ScrapeInterval, d.rulesFile, host(ports.Envtrack), host(ports.Prometheus), host(ports.Alertmanager)),
		filepath.Join(amDir, "alertmanager.yml"):  alertmanagerConfig(d.urls.ArgoCD + "/alerts"),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return d, err
		}
	}
	type server struct {
		name, bin string
		args      []string
		ready     string
		want      int
	}
	servers := []server{
		{"influxd", bins["influxd"], []string{"run", "-config", filepath.Join(influxDir, "influxdb.conf")},
			d.urls.InfluxDB + "/ping", http.StatusNoContent},
		{"prometheus", bins["prometheus"], []string{
			"--config.file=" + filepath.Join(promDir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(promDir, "data"),
			"--web.listen-address=" + host(ports.Prometheus),
			"--web.enable-lifecycle",
			"--enable-feature=exemplar-storage",
		}, d.urls.Prometheus + "/-/ready", http.StatusOK},
		{"alertmanager", bins["alertmanager"], []string{
			"--config.file=" + filepath.Join(amDir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(amDir, "data"),
			"--web.listen-address=" + host(ports.Alertmanager),
			"--cluster.listen-address=",
		}, d.urls.Alertmanager + "/-/ready", http.StatusOK},
	}
	d.progress("starting InfluxDB, Prometheus and Alertmanager (data and logs in %s)", opts.Dir)
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		logPath := filepath.Join(opts.Dir, "logs", s.name+".log")
		p, err := startProcess(s.name, s.bin, s.args, logPath)
		if err != nil {
			return d, err
		}
		d.procs = append(d.procs, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitReady(ctx, p, s.ready, s.want, logPath)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return d, err
	}
	if err := influxExec(ctx, d.urls.InfluxDB, "CREATE DATABASE envtrack"); err != nil {
		return d, err
	}
	// Prometheus hands its scrape targets to the scrape loops only at its discovery
	// manager's first update, about five seconds after it is ready: the replay (an hour
	// in six seconds at 600×) had mostly passed by envtrack's first scrape, and what
	// envtrack counted before it never showed in a rate (the dashboards' termination
	// percentiles had no data when every termination of the replay came first). The
	// clock starts once Prometheus scrapes envtrack's address.
	if err := waitScrapeTarget(ctx, d.urls.Prometheus, "envtrack"); err != nil {
		d.warn("Prometheus does not list envtrack's scrape target yet (%v): the replay's first minutes may not show in its rates", err)
	}

	// The clock starts now, just before envtrack opens its store: the store's creation
	// time is the simulated start, so every simulated environment is tracked live.
	d.clock = NewClock(opts.History, opts.Speed, nil)
	d.cfgParams = envtrackParams{
		listen: host(ports.Envtrack), stateDir: filepath.Join(opts.Dir, "envtrack"),
		argocd: d.urls.ArgoCD, argocdTokenFile: filepath.Join(secrets, "argocd.token"),
		influx: d.urls.InfluxDB, bucket: "envtrack/autogen",
		grafana: d.urls.Grafana, grafanaToken: filepath.Join(secrets, "grafana.token"),
		writeTokensFile: filepath.Join(secrets, "write.tokens"),
		staticURL:       d.urls.ArgoCD + "/healthz",
		timeout:         opts.Timeout,
		pollInterval:    opts.PollInterval, probeEvery: opts.PollInterval,
	}
	if d.clock.CaughtUp() {
		d.cfgParams.pollInterval, d.cfgParams.probeEvery = livePoll, livePoll
	}
	d.envtrackCfg = filepath.Join(opts.Dir, "envtrack", "envtrack.yml")
	if err := os.WriteFile(d.envtrackCfg, []byte(envtrackConfig(d.cfgParams)), 0o600); err != nil {
		return d, err
	}

	d.logFile, err = os.OpenFile(filepath.Join(opts.Dir, "logs", "envtrack.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return d, err
	}
	logger, err := logging.New(d.logFile, opts.LogLevel, "logfmt")
	if err != nil {
		return d, err
	}
	// The Grafana sink wired in as cmd/envtrack wires it.
	grafana := sink.FromSection("grafana", func(c *config.Config) *config.GrafanaConfig { return c.Grafana }, annotate.New)
	d.app, err = app.New(app.Options{ConfigFile: d.envtrackCfg, Logger: logger, Now: d.clock.Now, Sinks: []sink.Func{grafana, webhook.Sinks}})
	if err != nil {
		return d, fmt.Errorf("envtrack: %w", err)
	}
	if err := d.app.Listen(); err != nil {
		return d, fmt.Errorf("envtrack: %w", err)
	}
	// The simulated platform starts after envtrack's store exists: its first Application
	// arrives after the store's creation time however long opening took, so none is
	// history (at 600x, 33 ms of a loaded machine are 20 simulated seconds).
	sim := NewSim(SimConfig{PerHour: opts.PerHour, Timeout: opts.Timeout, URLBase: d.urls.ArgoCD, Seed: opts.Seed,
		MinPhase: func() time.Duration {
			poll := opts.PollInterval
			if d.clock.CaughtUp() {
				poll = livePoll
			}
			return time.Duration(2 * float64(poll) * d.clock.Rate())
		}}, d.clock.Now, d.argo)
	d.sim.Store(sim)
	appCtx, appCancel := context.WithCancel(context.Background())
	d.appCancel, d.appDone = appCancel, make(chan error, 1)
	go func() { d.appDone <- d.app.Run(appCtx) }()

	bgCtx, bgCancel := context.WithCancel(context.Background())
	d.bgCancel = bgCancel
	d.bg.Add(2)
	go func() { defer d.bg.Done(); d.simLoop(bgCtx, sim) }()
	go func() { defer d.bg.Done(); d.goLive(bgCtx, logger) }()
	return d, nil
}

// waitScrapeTarget waits until Prometheus at base has an active scrape target of job
// (at most targetTimeout).
func waitScrapeTarget(ctx context.Context, base, job string) error {
	ctx, cancel := context.WithTimeout(ctx, targetTimeout)
	defer cancel()
	for {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels map[string]string `json:"labels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/targets?state=active", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r)
			resp.Body.Close()
			if err == nil {
				for _, t := range r.Data.ActiveTargets {
					if t.Labels["job"] == job {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// targetTimeout bounds the wait for Prometheus's first scrape targets (its discovery
// manager updates them every five seconds).
const targetTimeout = 30 * time.Second

// prepareDir creates Dir, takes its lock (one demo per directory) and removes what the
// previous run left.
func (d *Demo) prepareDir() error {
	if err := os.MkdirAll(d.opts.Dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.opts.Dir, "demo.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another demo is running with its data in %s (%v): stop it first", d.opts.Dir, err)
	}
	d.lock = f
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	for _, sub := range demoSubdirs {
		p := filepath.Join(d.opts.Dir, sub)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cleaning %s: %w", p, err)
		}
		if err := os.MkdirAll(p, 0o750); err != nil {
			return err
		}
	}
	return nil
}

func pickPorts(want Ports) (Ports, error) {
	used := map[int]bool{}
	pick := func(p int) (int, error) {
		for range 20 {
			got, err := pickPort(p)
			if err != nil {
				return 0, err
			}
			if !used[got] {
				used[got] = true
				return got, nil
			}
			p = 0
		}
		return 0, errors.New("no distinct free port on 127.0.0.1")
	}
	var out Ports
	var err error
	for _, f := range []struct {
		dst  *int
		want int
	}{{&out.Envtrack, want.Envtrack}, {&out.Prometheus, want.Prometheus}, {&out.Alertmanager, want.Alertmanager},
		{&out.InfluxDB, want.InfluxDB}, {&out.InfluxRPC, want.InfluxRPC}, {&out.Simulator, want.Simulator}, {&out.Grafana, want.Grafana}} {
		if *f.dst, err = pick(f.want); err != nil {
			return out, err
		}
	}
	return out, nil
}

// serve serves h on 127.0.0.1:port (or a free port) and fixes the URL that names it.
func (d *Demo) serve(port int, h http.Handler) error {
	l, err := listen(port)
	if err != nil {
		return err
	}
	if got := l.Addr().(*net.TCPAddr).Port; got != port {
		// Taken between pickPorts and now: follow the listener.
		old := ":" + strconv.Itoa(port)
		for _, u := range []*string{&d.urls.ArgoCD, &d.urls.Grafana} {
			if strings.HasSuffix(*u, old) {
				*u = strings.TrimSuffix(*u, old) + ":" + strconv.Itoa(got)
			}
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.servers = append(d.servers, srv)
	go func() { _ = srv.Serve(l) }()
	return nil
}

// checkRules returns the rule file when promtool accepts it, else "" with a warning.
func (d *Demo) checkRules(ctx context.Context, promtool string) string {
	f := d.opts.RulesFile
	if _, err := os.Stat(f); err != nil {
		d.warn("%s is not there (yet): Prometheus runs without envtrack's alert rules; `make generate` writes them", f)
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "check", "rules", f).CombinedOutput()
	if err != nil {
		d.warn("promtool rejects %s, so Prometheus runs without it: %v\n%s", f, err, strings.TrimSpace(string(out)))
		return ""
	}
	return f
}

func (d *Demo) simLoop(ctx context.Context, sim *Sim) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		sim.Tick()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// goLive waits until the clock meets the present, then reloads envtrack with the live
// poll and probe intervals (as SIGHUP would).
func (d *Demo) goLive(ctx context.Context, logger log.Logger) {
	if d.cfgParams.pollInterval == livePoll {
		return
	}
	t := time.NewTimer(time.Until(d.clock.CatchUp()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	d.cfgParams.pollInterval, d.cfgParams.probeEvery = livePoll, livePoll
	if err := os.WriteFile(d.envtrackCfg, []byte(envtrackConfig(d.cfgParams)), 0o600); err != nil {
		level.Error(logger).Log("msg", "demo: cannot write the live configuration", "err", err)
		return
	}
	if err := d.app.Reload(); err != nil {
		d.warn("reloading envtrack with the live intervals failed: %v", err)
		return
	}
	d.progress("caught up with the present: the simulated platform now runs in real time, envtrack polls every %s", livePoll)
}

// Stop stops everything: the simulator, envtrack (which drains), the servers (SIGTERM,
// then SIGKILL after a hang guard) and the fakes. It is safe to call more than once.
func (d *Demo) Stop() error {
	d.stopOnce.Do(func() {
		var errs []error
		if d.bgCancel != nil {
			d.bgCancel()
			d.bg.Wait()
		}
		if d.appCancel != nil {
			d.appCancel()
			if err := <-d.appDone; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("envtrack: %w", err))
			}
		}
		var wg sync.WaitGroup
		perr := make([]error, len(d.procs))
		for i, p := range d.procs {
			wg.Add(1)
			go func() { defer wg.Done(); perr[i] = p.Stop(stopTimeout) }()
		}
		wg.Wait()
		errs = append(errs, perr...)
		for _, s := range d.servers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.Shutdown(ctx); err != nil {
				_ = s.Close()
			}
			cancel()
		}
		if d.argo != nil {
			d.argo.Close()
		}
		if d.graf != nil {
			d.graf.Close()
		}
		if d.logFile != nil {
			_ = d.logFile.Close()
		}
		if d.lock != nil {
			_ = d.lock.Close() // releases the flock
		}
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}

// Kill kills the servers at once (a second Ctrl-C); the process exits right after.
func (d *Demo) Kill() {
	for _, p := range d.procs {
		p.Kill()
	}
}

// URLs says where everything listens.
func (d *Demo) URLs() URLs { return d.urls }

// PIDs are the process ids of the servers the demo started (each also a process group).
func (d *Demo) PIDs() []int {
	out := make([]int, len(d.procs))
	for i, p := range d.procs {
		out[i] = p.Pid()
	}
	return out
}

// App is the in-process envtrack.
func (d *Demo) App() *app.App { return d.app }

// Grafana is the fake Grafana, with the annotations envtrack posted.
func (d *Demo) Grafana() *fakegrafana.Server { return d.graf }

// Clock is the virtual clock.
func (d *Demo) Clock() *Clock { return d.clock }

// Sim is the simulated platform.
func (d *Demo) Sim() *Sim { return d.sim.Load() }

// Dir is where the demo keeps its data.
func (d *Demo) Dir() string { return d.opts.Dir }

// RulesFile is the rule file Prometheus runs with ("" for none).
func (d *Demo) RulesFile() string { return d.rulesFile }

func (d *Demo) progress(format string, args ...any) {
	fmt.Fprintf(d.opts.Out, ">> "+format+"\n", args...)
}

func (d *Demo) warn(format string, args ...any) {
	fmt.Fprintf(d.opts.Out, ">> WARNING: "+format+"\n", args...)
}

// alertWebhook is Alertmanager's receiver: it prints each alert as it fires and resolves.
func (d *Demo) alertWebhook(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d.alertsMu.Lock()
	defer d.alertsMu.Unlock()
	for _, a := range msg.Alerts {
		key := alertKey(a.Labels)
		was := d.firing[key]
		switch {
		case a.Status == "firing" && !was:
			d.firing[key] = true
			d.progress("alert firing: %s %s", key, a.Annotations["summary"])
		case a.Status == "resolved" && was:
			delete(d.firing, key)
			d.progress("alert resolved: %s", key)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func alertKey(labels map[string]string) string {
	var extra []string
	for k, v := range labels {
		if k != "alertname" && k != "job" && k != "instance" && k != "severity" {
			extra = append(extra, k+"="+v)
		}
	}
	sort.Strings(extra)
	s := labels["alertname"]
	if sev := labels["severity"]; sev != "" {
		s += " (" + sev + ")"
	}
	if len(extra) > 0 {
		s += " {" + strings.Join(extra, ", ") + "}"
	}
	return s
}

// Firing returns how many alerts fire now.
func (d *Demo) Firing() int {
	d.alertsMu.Lock()
	defer d.alertsMu.Unlock()
	return len(d.firing)
}

// influxExec runs an InfluxQL statement (POST /query).
func influxExec(ctx context.Context, base, stmt string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query",
		strings.NewReader(url.Values{"q": {stmt}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb %q: %w", stmt, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("influxdb %q: %s: %s", stmt, resp.Status, body)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}

// Status is a one-line summary of where the demo stands.
func (d *Demo) Status() string {
	counts := map[tracker.Phase]int{}
	for _, s := range d.app.Tracker().States() {
		counts[s.Phase]++
	}
	var phases []string
	for _, p := range tracker.Phases {
		if counts[p] > 0 {
			phases = append(phases, fmt.Sprintf("%d %s", counts[p], p))
		}
	}
	var sinks []string
	for _, s := range d.app.SinkStatus() {
		state := ""
		if s.Failing {
			state = " (failing)"
		}
		sinks = append(sinks, fmt.Sprintf("%s lag %d%s", s.Name, s.Lag, state))
	}
	when := "live"
	if !d.clock.CaughtUp() {
		done := float64(d.clock.Now().Sub(d.clock.Start())) / float64(d.opts.History)
		when = fmt.Sprintf("replaying %.0f%%", 100*min(done, 1))
	}
	return fmt.Sprintf("[%s, simulated %s] environments: %s · journal %d events · %s · alerts firing: %d",
		when, d.clock.Now().UTC().Format("Jan 2 15:04"), strings.Join(phases, ", "),
		d.app.Journal().Stats().Events, strings.Join(sinks, ", "), d.Firing())
}
