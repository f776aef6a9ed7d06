package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/journal"
	"github.com/blueberry-idp/envtrack/exporter/probe"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/sink"
)

// generation is what one configuration builds and runs: the sources, the sinks, the
// query service, and the metrics registry of their clients (its own, so a reload's
// re-registration never collides). A reload builds the next generation before it
// stops this one.
type generation struct {
	cfg     *config.Config
	reg     *prometheus.Registry
	argo    *argocd.Source // nil without an argocd section
	prober  *probe.Prober
	sinks   []sink.Sink
	query   *query.Service
	reader  influxdb.Reader // the query service's InfluxDB read path, nil without InfluxDB
	runners sink.Group      // the sinks' runners, once started
	// since is the journal's last sequence when this configuration was loaded: a sink
	// new to the journal starts there, so that a push accepted after the configuration
	// took effect reaches it however late its runner starts (the leader elected later).
	since uint64
	stop  func() // stops what start started
}

// newGeneration builds the clients and the sinks of cfg; nothing runs yet.
func newGeneration(cfg *config.Config, logger log.Logger, now func() time.Time, clk argocd.Clock, typeTag func(string) string, sinks []sink.Func) (*generation, error) {
	g := &generation{reg: prometheus.NewRegistry(), cfg: cfg}
	ua := "envtrack/" + version.Version
	var err error
	if ac := cfg.ArgoCD; ac != nil {
		if g.argo, err = argocd.New(*ac, argocd.Options{UserAgent: ua, Clock: clk, Now: now}, log.With(logger, "component", "argocd"), g.reg); err != nil {
			return nil, fmt.Errorf("argocd: %w", err)
		}
	}
	g.prober, err = probe.New(cfg.Readiness.URL, probe.Options{UserAgent: ua, Clock: clk}, log.With(logger, "component", "probe"), g.reg, now)
	if err != nil {
		return nil, fmt.Errorf("readiness.url: %w", err)
	}
	influx := sink.FromSection("influxdb", func(c *config.Config) *config.InfluxDBConfig { return c.InfluxDB },
		func(c config.InfluxDBConfig, l log.Logger, _ prometheus.Registerer) (*influxdb.Sink, error) {
			s, err := influxdb.New(c, l)
			if err == nil {
				s.SetTypeTag(typeTag)
			}
			return s, err
		})
	if g.sinks, err = sink.Build(cfg, logger, g.reg, append([]sink.Func{influx}, sinks...)); err != nil {
		return nil, err
	}
	return g, nil
}

// close releases what a generation holds (idle connections of its clients).
func (g *generation) close() {
	if g.reader != nil {
		g.reader.Close()
	}
	for _, sk := range g.sinks {
		if c, ok := sk.(interface{ Close() }); ok {
			c.Close()
		}
	}
}

func (a *App) current() *generation {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen
}

// start runs g's loops until g.stop: on the replica that leads (journal.Lead: always
// with bbolt), the sources, which hand their observations to the tracker, retention,
// and the sinks, which only read the journal, all writing through the leader's journal;
// on every replica, the tracker following the others' commits, and a new InfluxDB read
// path asked once whether InfluxDB answers it (influxdb.Announce logs the answer).
// Callers hold loopsMu.
func (a *App) start(ctx context.Context, g *generation) {
	var names []string // retention keeps what they have not delivered
	for _, s := range g.sinks {
		names = append(names, s.Name())
	}
	lead := func(ctx context.Context, j journal.Leader) {
		t := tracking{a.tracker, a, j.Commit, j.Gap}
		runners := sink.NewGroup(g.sinks, j, a.sinkMetrics, g.cfg.Delivery, sink.Options{Logger: a.logger,
			MaxUndelivered: time.Duration(g.cfg.Retention.MaxUndelivered), Now: a.now, JournalEnd: func() uint64 { return g.since }})
		a.mu.Lock()
		g.runners = runners
		a.mu.Unlock()
		loops := []func(context.Context){
			func(ctx context.Context) { g.prober.Run(ctx, g.cfg.Environments, t) },
			retention.New(j, a.tracker, time.Duration(g.cfg.Retention.Events), names, a.now, a.logger).Run,
			runners.Run,
		}
		if g.argo != nil {
			loops = append(loops, func(ctx context.Context) { g.argo.Run(ctx, t) })
		}
		if r, ok := retention.ForJournal(j, a.tracker, g.cfg.Readiness, a.now, a.logger); ok {
			loops = append(loops, r.Run)
		}
		runAll(ctx, loops)
	}
	loops := []func(context.Context){
		func(ctx context.Context) { a.store.Lead(ctx, a.markPolled, lead) }, // a follower is ready
		func(ctx context.Context) { a.store.Follow(ctx, a.tracker) },
	}
	if g.reader != nil {
		loops = append(loops, func(ctx context.Context) { influxdb.Announce(ctx, g.reader, *g.cfg.InfluxDB, a.logger) })
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); runAll(ctx, loops) }()
	a.mu.Lock()
	g.stop = func() { cancel(); <-done }
	a.mu.Unlock()
}

// runAll runs each loop in its own goroutine until all have returned.
func runAll(ctx context.Context, loops []func(context.Context)) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l(ctx) }()
	}
	wg.Wait()
}
