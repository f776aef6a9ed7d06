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

func (a *App) process(obs []tracker.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	events, err := a.tracker.Process(obs, a.store.Commit)
	if err != nil {
		level.Error(a.logger).Log("msg", "recording transitions failed; they will be derived again", "err", err)
		return err
	}
	a.committed(events, "lifecycle event", func(e event.Event) []any { return []any{"reason", e.Meta(event.MetaReason)} })
	return nil
}

// committed does what follows every commit that stored events, the tracker's or pushed
// ones: the lifecycle metrics (DESIGN §4), the events counter, and one log line per
// event (msg, then what kv adds to the common keys).
func (a *App) committed(events []event.Event, msg string, kv func(event.Event) []any) {
	a.lifecycle.Observe(events)
	for _, e := range events {
		a.metrics.transitions.WithLabelValues(string(e.Name)).Inc()
		level.Info(a.logger).Log(append([]any{"msg", msg, "environment_id", e.EnvironmentID, "event", e.Name,
			"time", e.Time.Format(time.RFC3339), "seq", e.Seq}, kv(e)...)...)
	}
}
