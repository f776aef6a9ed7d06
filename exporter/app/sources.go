package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/probe"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/sink"
)

// sources is one generation of the configured sources. A reload builds a new one (and
// its own metrics registry, so re-registration never collides) before the old stops.
type sources struct {
	reg    *prometheus.Registry
	argo   *argocd.Source // nil without an argocd section
	prober *probe.Prober
	sinks  []sink.Sink
	cfg    *config.Config
}

func newSources(cfg *config.Config, logger log.Logger, now func() time.Time, clk sourceClock, typeTag func(string) string, sinks []sink.Func) (*sources, error) {
	s := &sources{reg: prometheus.NewRegistry(), cfg: cfg}
	ua := "envtrack/" + version.Version
	if ac := cfg.ArgoCD; ac != nil {
		var err error
		s.argo, err = argocd.New(*ac, argocd.Options{UserAgent: ua, Clock: clk, Now: now}, log.With(logger, "component", "argocd"), s.reg)
		if err != nil {
			return nil, fmt.Errorf("argocd: %w", err)
		}
	}
	var err error
	s.prober, err = probe.New(cfg.Readiness.URL, probe.Options{UserAgent: ua, Clock: clk}, log.With(logger, "component", "probe"), s.reg, now)
	if err != nil {
		return nil, fmt.Errorf("readiness.url: %w", err)
	}
	if s.sinks, err = newSinks(cfg, logger, s.reg, typeTag, sinks); err != nil {
		return nil, err
	}
	return s, nil
}

// close releases what a generation holds (idle connections of the sinks' clients).
func (s *sources) close() {
	for _, sk := range s.sinks {
		if c, ok := sk.(interface{ Close() }); ok {
			c.Close()
		}
	}
}

func (a *App) currentSources() *sources {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.sources
}

func (a *App) startLoops(ctx context.Context) {
	a.loopsMu.Lock()
	defer a.loopsMu.Unlock()
	a.baseCtx = ctx
	a.startLoopsLocked()
}

func (a *App) stopLoops() {
	a.loopsMu.Lock()
	defer a.loopsMu.Unlock()
	a.stopLoopsLocked()
}

func (a *App) startLoopsLocked() {
	ctx, cancel := context.WithCancel(a.baseCtx)
	done := make(chan struct{})
	a.loopsCancel, a.loopsDone = cancel, done
	src := a.currentSources()
	// The sources run their own loops; they only hand observations to the tracker.
	t := tracking{a.tracker, a}
	var loops []func(context.Context)
	if src.argo != nil {
		loops = append(loops, func(ctx context.Context) { src.argo.Run(ctx, t) })
	}
	loops = append(loops,
		func(ctx context.Context) { src.prober.Run(ctx, src.cfg.Environments, t) },
		retention.New(a.store, a.tracker, time.Duration(src.cfg.Journal.Retention), a.now, a.logger).Run)
	// Sinks deliver whatever drives the sources: they only read the journal.
	runners := sink.NewGroup(src.sinks, a.store, a.sinkMetrics, src.cfg.Delivery, sink.Options{Logger: a.logger})
	loops = append(loops, runners.Run)
	a.mu.Lock()
	a.runners = runners
	a.mu.Unlock()
	go func() {
		defer close(done)
		finished := make(chan struct{}, len(loops))
		for _, l := range loops {
			go func() { l(ctx); finished <- struct{}{} }()
		}
		for range loops {
			<-finished
		}
	}()
}

func (a *App) stopLoopsLocked() {
	if a.loopsCancel == nil {
		return
	}
	a.loopsCancel()
	<-a.loopsDone
	a.loopsCancel, a.loopsDone = nil, nil
}
