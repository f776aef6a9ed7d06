package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/probe"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// sources is one generation of the configured sources. A reload builds a new one (and
// its own metrics registry, so re-registration never collides) before the old stops.
type sources struct {
	reg     *prometheus.Registry
	argo    *argocd.Client // nil without an argocd section
	mapping argocd.Mapping
	prober  *probe.Prober
	sinks   []sink.Sink
	cfg     *config.Config
}

func newSources(cfg *config.Config, logger log.Logger, now func() time.Time, typeTag func(string) string, sinks []sink.Func) (*sources, error) {
	s := &sources{reg: prometheus.NewRegistry(), cfg: cfg}
	ua := "envtrack/" + version.Version
	if ac := cfg.ArgoCD; ac != nil {
		var err error
		s.argo, err = argocd.New(*ac, argocd.Options{UserAgent: ua}, log.With(logger, "component", "argocd"), s.reg)
		if err != nil {
			return nil, fmt.Errorf("argocd: %w", err)
		}
		s.mapping = argocd.NewMapping(*ac, s.argo.BadAnnotations())
	}
	var err error
	s.prober, err = probe.New(cfg.Readiness.URL, probe.Options{UserAgent: ua}, log.With(logger, "component", "probe"), s.reg, now)
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

// PollOnce lists the Argo CD Applications once and tracks what the answer shows. A
// failed, timed-out, truncated or non-JSON answer changes nothing.
func (a *App) PollOnce(ctx context.Context) error {
	src := a.currentSources()
	if src.argo == nil {
		return nil
	}
	defer a.markPolled()
	// Item by item: only the evidence of each Application is kept, never the answer
	// (and, for reading histories, its HistoryRef).
	n := int(a.listed.Load()) // last time's count: no regrowing of 10,000-item slices
	var (
		evidence = make([]tracker.AppEvidence, 0, n)
		apps     = make([]argocd.HistoryRef, 0, n)
	)
	_, err := src.argo.Each(ctx, func(app *argocd.Application) error {
		evidence = append(evidence, src.mapping.Evidence(*app))
		apps = append(apps, argocd.RefOf(app))
		return nil
	})
	if err != nil {
		a.metrics.polls.WithLabelValues("error").Inc()
		return err
	}
	a.listed.Store(int64(len(evidence)))
	at := a.now()
	if evidence, err = a.readHistory(ctx, src, apps, evidence); err != nil {
		return err
	}
	return a.trackListed(evidence, at)
}

// trackListed tracks what a complete list of the Applications shows at at (a poll, or
// a watch's view that says none is there).
func (a *App) trackListed(evidence []tracker.AppEvidence, at time.Time) error {
	obs, inconclusive := a.tracker.PollObservations(evidence, at)
	if inconclusive {
		a.metrics.polls.WithLabelValues("inconclusive").Inc()
		level.Warn(a.logger).Log("msg", "Argo CD listed no Applications while live environments are tracked; not taken as evidence of deletion")
	} else {
		a.metrics.polls.WithLabelValues("success").Inc()
	}
	return a.processInBatches(obs, nil)
}

// processInBatches tracks a poll's (or a watch evaluation's) observations maxBatch at a
// time, each batch in its own commit: the first sight of 10,000 Applications (their
// histories, 40,000 events) in one transaction held ~270 MiB at its peak. Each
// environment's observation is independent of the others', and one that a crash left
// untracked is derived again, with the same evidence times, from the next answer.
// tracked, if not nil, is called with each batch once it is tracked.
func (a *App) processInBatches(obs []tracker.Observation, tracked func([]tracker.Observation)) error {
	for len(obs) > 0 {
		n := min(len(obs), maxBatch)
		if err := a.process(obs[:n]); err != nil {
			return err
		}
		if tracked != nil {
			tracked(obs[:n])
		}
		obs = obs[n:]
	}
	return nil
}

// ProbeOnce probes every environment's URL once (bounded concurrency) and tracks the
// results; it also ticks environments that only pushed events describe.
func (a *App) ProbeOnce(ctx context.Context) error {
	src := a.currentSources()
	at := a.now()
	type target struct {
		probe.Target
		name, typ string
	}
	byID := map[string]target{}
	for id, u := range a.tracker.URLs() {
		byID[id] = target{Target: probe.Target{EnvironmentID: id, URL: u}}
	}
	for _, e := range src.cfg.Environments {
		byID[e.ID] = target{Target: probe.Target{EnvironmentID: e.ID, URL: e.URL}, name: e.Name, typ: e.Type}
	}
	targets := make([]target, 0, len(byID))
	for _, t := range byID {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].EnvironmentID < targets[j].EnvironmentID })
	plain := make([]probe.Target, len(targets))
	for i, t := range targets {
		plain[i] = t.Target
	}
	results := src.prober.ProbeAll(ctx, plain)
	if ctx.Err() != nil {
		return ctx.Err() // a cancelled round proves nothing about the URLs
	}
	obs := make([]tracker.Observation, 0, len(results)+1)
	for i := range results {
		r := results[i]
		obs = append(obs, tracker.Observation{EnvironmentID: targets[i].EnvironmentID, At: r.At, Probe: &r,
			Name: targets[i].name, Type: targets[i].typ})
	}
	obs = append(obs, a.tracker.Ticks(at)...)
	return a.processInBatches(obs, nil)
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
	var loops []func(context.Context)
	if !a.opts.ManualSources {
		if src.argo != nil && src.cfg.ArgoCD.Mode == config.ArgoCDModePoll {
			loops = append(loops, func(ctx context.Context) { a.pollLoop(ctx, src) })
		} else if src.argo != nil {
			loops = append(loops, func(ctx context.Context) { a.watchLoop(ctx, src, false) })
		}
		loops = append(loops, func(ctx context.Context) {
			every(ctx, time.Duration(src.cfg.Readiness.URL.Interval), func() { _ = a.ProbeOnce(ctx) })
		})
	}
	loops = append(loops, retention.New(a.store, a.tracker, time.Duration(src.cfg.Journal.Retention), a.now, a.logger).Run)
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

// pollLoop polls every poll_interval; after an error it retries sooner, with capped
// exponential backoff and jitter (pollRetryWait), never later than one interval.
func (a *App) pollLoop(ctx context.Context, src *sources) {
	ac := src.cfg.ArgoCD
	interval := time.Duration(ac.PollInterval)
	b := backoff.New(time.Duration(ac.Backoff.Initial), time.Duration(ac.Backoff.Max), rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)))
	failing := false
	for {
		err := a.PollOnce(ctx)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				level.Error(a.logger).Log("msg", "Argo CD poll failed; no environment changes until it answers", "err", err)
			} else {
				level.Debug(a.logger).Log("msg", "Argo CD poll failed again", "err", err)
			}
			failing = true
			wait = pollRetryWait(interval, time.Duration(ac.Backoff.Initial), b)
		default:
			if failing {
				level.Info(a.logger).Log("msg", "Argo CD answers again; tracking resumed")
			}
			failing = false
			b.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
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
