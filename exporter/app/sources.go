package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/probe"
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

func newSources(cfg *config.Config, logger log.Logger, now func() time.Time, clk sourceClock, typeTag func(string) string) (*sources, error) {
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
	if s.sinks, err = newSinks(cfg, logger, s.reg, typeTag); err != nil {
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
		func(ctx context.Context) { every(ctx, time.Hour, a.prune) })
	// Sinks deliver whatever drives the sources: they only read the journal.
	runners := make([]*sink.Runner, 0, len(src.sinks))
	for _, s := range src.sinks {
		r := sink.NewRunner(s, a.store, a.sinkMetrics, src.cfg.Delivery, sink.Options{Logger: a.logger})
		runners = append(runners, r)
		loops = append(loops, func(ctx context.Context) {
			if err := r.Run(ctx); err != nil {
				level.Error(a.logger).Log("msg", "sink stopped", "sink", r.Name(), "err", err)
			}
		})
	}
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

// every runs f now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune applies the journal retention.
func (a *App) prune() {
	cutoff := a.now().Add(-time.Duration(a.Config().Journal.Retention))
	n, err := a.store.Prune(cutoff)
	if err != nil {
		level.Error(a.logger).Log("msg", "journal retention failed", "err", err)
		return
	}
	gone := a.tracker.TerminatedBefore(cutoff)
	a.tracker.Forget(gone...)
	if n > 0 {
		level.Info(a.logger).Log("msg", "journal retention", "events_pruned", n, "environments_forgotten", len(gone))
	}
}
