package probe

import (
	"context"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/clock"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Clock is the time the URL checks live on: Now stamps the results, Every paces the
// rounds. who names the loop ("probe"). exporter/clock.Real is the real one; tests step
// a played one.
type Clock interface {
	Now() time.Time
	Every(ctx context.Context, who string, d time.Duration, f func())
}

// Tracker is the tracking side as the URL checks need it (the daemon wires the tracker
// and the journal behind it): the URLs to probe, where the results go, and the ticks of
// the environments that no source observes.
type Tracker interface {
	// Track records the observations (and the events their transitions emit) durably.
	Track(ctx context.Context, obs []tracker.Observation) error
	// URLs are the URLs of the tracked environments, by environment id.
	URLs() map[string]string
	// Ticks are the observations that only let time pass, for the environments whose
	// provisioning deadline no source would otherwise decide (pushed-only ones).
	Ticks(at time.Time) []tracker.Observation
}

// Run probes every environment's URL now and then every readiness.url.interval until
// ctx ends: the URLs the tracker knows and those of the static environments of the
// configuration (URL-only ones, described by their entry). Each round also hands over
// the tracker's ticks, so that the provisioning deadline of a pushed-only environment
// is decided on the same schedule.
func (p *Prober) Run(ctx context.Context, static []config.StaticEnvironment, t Tracker) {
	clk := p.clock
	if clk == nil {
		clk = clock.Real{NowFunc: p.now}
	}
	clk.Every(ctx, "probe", p.cfg.interval, func() { _ = p.round(ctx, static, t) })
}

// round probes every environment's URL once (bounded concurrency) and tracks the
// results with the tracker's ticks. A round cut short by ctx tracks nothing: it proves
// nothing about the URLs.
func (p *Prober) round(ctx context.Context, static []config.StaticEnvironment, t Tracker) error {
	at := p.now()
	type target struct {
		Target
		name, typ string
	}
	byID := map[string]target{}
	for id, u := range t.URLs() {
		byID[id] = target{Target: Target{EnvironmentID: id, URL: u}}
	}
	for _, e := range static {
		byID[e.ID] = target{Target: Target{EnvironmentID: e.ID, URL: e.URL}, name: e.Name, typ: e.Type}
	}
	targets := make([]target, 0, len(byID))
	for _, tg := range byID {
		targets = append(targets, tg)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].EnvironmentID < targets[j].EnvironmentID })
	plain := make([]Target, len(targets))
	for i, tg := range targets {
		plain[i] = tg.Target
	}
	results := p.ProbeAll(ctx, plain)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	obs := make([]tracker.Observation, 0, len(results)+1)
	for i := range results {
		r := results[i]
		obs = append(obs, tracker.Observation{EnvironmentID: targets[i].EnvironmentID, At: r.At, Probe: &r,
			Name: targets[i].name, Type: targets[i].typ})
	}
	obs = append(obs, t.Ticks(at)...)
	return t.Track(ctx, obs)
}
