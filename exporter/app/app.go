// Package app is the envtrack daemon. It never touches signals or flags, so tests start
// the whole daemon in-process: New, then Run until the context ends.
package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/ingest"
	"github.com/blueberry-idp/envtrack/exporter/journal"
	"github.com/blueberry-idp/envtrack/exporter/labels"
	"github.com/blueberry-idp/envtrack/exporter/prom"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/server"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// Options configure an App. Only ConfigFile is required.
type Options struct {
	ConfigFile string
	Logger     log.Logger
	// Registry receives every metric; nil means a new registry.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now. Tests pass a controlled clock.
	Now func() time.Time
	// ListenAddress overrides listen_address (tests use "127.0.0.1:0").
	ListenAddress string
	// EnableLifecycle enables POST /-/reload (the --web.enable-lifecycle flag, as in
	// Prometheus: an HTTP endpoint that changes the daemon is off unless asked for).
	EnableLifecycle bool
	// WebConfigFile is the exporter toolkit's web configuration (--web.config.file): TLS
	// and basic auth on every endpoint. Empty means plain HTTP.
	WebConfigFile string
	// Sinks build the sinks beyond InfluxDB's, per configuration (cmd wires annotate's
	// Grafana sink).
	Sinks []sink.Func

	// clock, when set, is the time the sources live on, Now included: this package's
	// tests play it (internal/testclock) to step the sources' loops.
	clock argocd.Clock // probe.Clock is a part of it
}

// App is a running envtrack.
type App struct {
	opts   Options
	logger log.Logger
	reg    *prometheus.Registry
	now    func() time.Time

	mu  sync.RWMutex
	gen *generation // the configuration in force and what it built, swapped on reload

	store       *journal.Opened
	tracker     *tracker.Tracker
	metrics     *metrics
	lifecycle   *prom.Metrics // DESIGN §4, observed on live transitions only
	labels      *labels.Bound // bounds the label values that come from input
	sinkMetrics *sink.Metrics
	journalQ    *query.CachedJournal // the query layer's journal backend, kept across reloads

	pushes *ingest.Recorder // POST /api/events: group commit, repeats

	srv   *server.Server
	ready atomic.Bool // store open and first Argo CD poll finished

	loopsMu sync.Mutex      // serialises starting and stopping generations (Run, reload)
	runCtx  context.Context // Run's, while it runs: a reload starts the next generation in it
}

// New loads the configuration, opens the store and rebuilds the tracker's state. It
// fails fast on any configuration or store problem.
func New(opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.clock != nil {
		opts.Now = opts.clock.Now
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	cfg, err := config.Load(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	if err := server.CheckWebConfig(opts.WebConfigFile); err != nil {
		return nil, err
	}
	a := &App{opts: opts, logger: opts.Logger, reg: opts.Registry, now: opts.Now}
	a.metrics = newMetrics(a.reg)
	a.sinkMetrics = sink.NewMetrics(a.reg)
	a.reg.MustRegister(
		versioncollector.NewCollector("envtrack"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	a.labels = labels.New(a.reg, log.With(a.logger, "component", "labels"))
	a.labels.SetTypes(cfg.Types, cfg.OwnTypes(), cfg.Metrics.MaxTypes)
	// The clients first: a configuration they refuse must not create or touch the store.
	if a.gen, err = newGeneration(cfg, a.logger, a.now, opts.clock, a.labels.TypeLabel, opts.Sinks); err != nil {
		return nil, err
	}
	if a.store, err = journal.Open(cfg, a.logger, a.now, a.reg); err != nil {
		a.gen.close()
		return nil, err
	}
	a.gen.since = a.store.LastSeq()
	states, err := a.store.Environments()
	if err != nil {
		a.gen.close()
		a.store.Close()
		return nil, err
	}
	a.tracker = tracker.New(tracker.ConfigOf(cfg, a.store.CreatedAt()), states)
	a.store.Share(a.tracker)
	a.pushes = ingest.New(ingest.Options{Tracker: a.tracker, Journal: a.store.Pushes(), Now: a.now,
		Committed: func(evs []event.Event) {
			a.committed(evs, "pushed event", func(e *event.Event) (string, any) { return "marker", e.IsMarker() }, true)
		}})
	a.journalQ = query.NewCachedJournal(a.store)
	var types []string // one per environment: the labels in use survive a restart
	a.tracker.PhaseTypes(func(_ tracker.Phase, t string) bool { types = append(types, t); return true })
	a.labels.Seed(types)
	a.lifecycle = prom.NewWithThresholds(cfg.Metrics.Namespace, cfg.Metrics.NativeHistograms, a.tracker.PhaseTypes, a.reg, a.labels, cfg.SLOs.LatencyThresholds())
	a.lifecycle.CountStuck(a.tracker.StuckTypes)
	a.gen.query, a.gen.reader = a.newQuery(cfg)
	a.metrics.reloadSuccess.Set(1)
	a.metrics.reloadTimestamp.Set(float64(a.now().Unix()))
	level.Info(a.logger).Log("msg", "envtrack starting", "version", version.Info(), "environments", len(states),
		"journal_last_seq", a.store.LastSeq())
	return a, nil
}

// Check makes every check of a loaded configuration (and of opts' web configuration,
// when given) that New makes with opts, without opening the store or starting anything:
// it builds the clients and sinks New builds and drops them. check-config calls it, so
// that whatever serve would reject, check-config rejects with the same message. The
// store is not looked at: it may be in use by the running daemon.
func Check(cfg *config.Config, opts Options) error {
	if err := server.CheckWebConfig(opts.WebConfigFile); err != nil {
		return err
	}
	g, err := newGeneration(cfg, log.NewNopLogger(), time.Now, nil, nil, opts.Sinks)
	if err != nil {
		return err
	}
	g.close()
	return nil
}

// Config returns the configuration in force.
func (a *App) Config() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.cfg
}

// Tracker is the environments' current state, and Journal the journal (the demo
// shows them).
func (a *App) Tracker() *tracker.Tracker { return a.tracker }
func (a *App) Journal() Journal          { return a.store }

// Addr is the address the HTTP server listens on, once Run has started listening.
func (a *App) Addr() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.srv == nil {
		return ""
	}
	return a.srv.Addr()
}

// Listen binds the HTTP listener; Run calls it when the caller did not.
func (a *App) Listen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return nil
	}
	addr := a.gen.cfg.ListenAddress
	if a.opts.ListenAddress != "" {
		addr = a.opts.ListenAddress
	}
	var err error
	a.srv, err = server.Listen(addr)
	return err
}

// Run serves HTTP and runs the sources until ctx ends, then drains: the HTTP server
// finishes its requests, the loops stop between two cycles, and the store is closed.
func (a *App) Run(ctx context.Context) error {
	defer a.store.Close()
	if r, ok := retention.ForJournal(a.store.Sole(), a.tracker, a.Config().Readiness, a.now, a.logger); ok {
		r.Expire() // before listening, so that no push races it
	}
	if err := a.Listen(); err != nil {
		return err
	}
	// With nothing to poll, ready before the first request: a client that reads
	// "listening" and asks /readyz at once must not see 503.
	if a.Config().ArgoCD == nil {
		a.markPolled()
	}
	srvErr := a.srv.Start(a.Config().API, a.handler(), a.opts.WebConfigFile, a.logger)
	level.Info(a.logger).Log("msg", "listening", "address", a.srv.Addr())

	a.loopsMu.Lock()
	a.runCtx = ctx
	a.start(ctx, a.current())
	a.loopsMu.Unlock()

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
		err = fmt.Errorf("http server: %w", err)
	}
	level.Info(a.logger).Log("msg", "shutting down")
	a.ready.Store(false)
	if serr := a.srv.Shutdown(); serr != nil && err == nil {
		err = serr
	}
	a.loopsMu.Lock()
	a.current().stop()
	a.runCtx = nil
	a.loopsMu.Unlock()
	a.current().close()
	level.Info(a.logger).Log("msg", "stopped")
	return err
}

func (a *App) markPolled() { a.ready.Store(true) }

// Ready reports whether the daemon is ready (GET /readyz): its journal answers, and, on
// the leader, the first Argo CD poll finished.
func (a *App) Ready() bool { return a.ready.Load() && a.store.Reachable() }

// SinkStatus reports each sink's state (the landing page, the demo).
func (a *App) SinkStatus() []sink.Status {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.runners.Status()
}

// Reload reads the configuration file again. A bad file keeps the configuration in
// force; either way the reload metrics say what happened.
func (a *App) Reload() error {
	err := a.reload()
	if err != nil {
		a.metrics.reloadSuccess.Set(0)
		level.Error(a.logger).Log("msg", "reload failed, keeping the previous configuration", "err", err)
		return err
	}
	a.metrics.reloadSuccess.Set(1)
	a.metrics.reloadTimestamp.Set(float64(a.now().Unix()))
	level.Info(a.logger).Log("msg", "configuration reloaded")
	return nil
}

func (a *App) reload() error {
	cfg, err := config.Load(a.opts.ConfigFile)
	if err != nil {
		return err
	}
	if err := config.NeedsRestart(a.Config(), cfg); err != nil {
		return err
	}
	g, err := newGeneration(cfg, a.logger, a.now, a.opts.clock, a.labels.TypeLabel, a.opts.Sinks)
	if err != nil {
		return err
	}
	g.since = a.store.LastSeq()
	g.query, g.reader = a.newQuery(cfg)
	a.loopsMu.Lock()
	defer a.loopsMu.Unlock()
	old := a.current()
	if a.runCtx != nil {
		old.stop()
	}
	a.mu.Lock()
	a.gen = g
	a.mu.Unlock()
	old.close()
	a.labels.SetTypes(cfg.Types, cfg.OwnTypes(), cfg.Metrics.MaxTypes)
	a.tracker.SetConfig(tracker.ConfigOf(cfg, a.store.CreatedAt()))
	if a.runCtx != nil {
		a.start(a.runCtx, g)
	}
	return nil
}

// newQuery builds the query service for cfg: InfluxDB's read path when configured (with
// the reader, to close), else the embedded journal.
func (a *App) newQuery(cfg *config.Config) (*query.Service, influxdb.Reader) {
	b, r := influxdb.Backend(cfg.InfluxDB, a.journalQ, a.logger, a.reg)
	// The windows not observed are the store's whatever answers the events: the three
	// read paths show the same gaps.
	return query.NewService(b, cfg.Targets, a.now).WithGaps(a.store).WithSLOs(cfg.SLOs), r
}

// currentQuery returns the query service in force.
func (a *App) currentQuery() *query.Service {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.query
}

// metrics are envtrack's own (the envtrack_ namespace), never labelled by environment.
type metrics struct {
	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
	transitions     *prometheus.CounterVec
	handlerPanics   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		reloadSuccess:   metric.ConfigLastReloadSuccessful.NewGauge(reg),
		reloadTimestamp: metric.ConfigLastReloadSuccessTimestamp.NewGauge(reg),
		transitions:     metric.TrackerEvents.NewCounterVec(reg),
		handlerPanics:   metric.HTTPHandlerPanics.NewCounter(reg),
	}
}
