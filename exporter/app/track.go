package app

import (
	"context"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
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
