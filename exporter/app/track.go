package app

import (
	"context"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// tracking is the tracking side as the sources (argocd.Tracker, probe.Tracker) see it:
// the tracker, whose observations are committed to the journal by track.
type tracking struct {
	*tracker.Tracker
	a *App
}

func (t tracking) Track(_ context.Context, obs []tracker.Observation) error { return t.a.track(obs) }

// Polled: the first look at Argo CD finished, the daemon is ready.
func (t tracking) Polled() { t.a.markPolled() }

// Blind records a window in which a source could not see (DESIGN §3 gaps) in the
// store; a closed one is journaled there, for the sinks that draw it.
func (t tracking) Blind(_ context.Context, g event.Gap) error {
	closed, err := t.a.store.Gap(g)
	if err != nil {
		return err
	}
	if closed != nil {
		level.Warn(t.a.logger).Log("msg", "not observed", "source", closed.Source, "reason", closed.Reason,
			"from", closed.From.Format(time.RFC3339), "to", closed.To.Format(time.RFC3339), "seconds", closed.To.Sub(closed.From).Seconds())
	}
	return nil
}

// maxBatch bounds the observations tracked (and committed) together.
const maxBatch = 1000

// track tracks observations maxBatch at a time, each batch in its own commit: the first
// sight of 10,000 Applications (their histories, 40,000 events) in one transaction held
// ~270 MiB at its peak. Each environment's observation is independent of the others',
// and one that a crash left untracked is derived again, with the same evidence times,
// from the next answer.
func (a *App) track(obs []tracker.Observation) error {
	for len(obs) > 0 {
		n := min(len(obs), maxBatch)
		if err := a.process(obs[:n]); err != nil {
			return err
		}
		obs = obs[n:]
	}
	return nil
}
