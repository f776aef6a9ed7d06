package app

import (
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// process tracks observations of the sources: the tracker commits what they change,
// then recorded reports it. The one way the sources' evidence reaches the journal.
func (a *App) process(obs []tracker.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	events, err := a.tracker.Process(obs, a.store.Commit)
	if err != nil {
		level.Error(a.logger).Log("msg", "recording transitions failed; they will be derived again", "err", err)
		return err
	}
	a.recorded("lifecycle event", events)
	return nil
}

// recorded reports committed events, tracked (process) or pushed (ingest): the
// lifecycle metrics observe them (live transitions only: never a replay), they are
// counted and logged.
func (a *App) recorded(msg string, events []event.Event) {
	a.lifecycle.Observe(events)
	for _, e := range events {
		a.metrics.transitions.WithLabelValues(string(e.Name)).Inc()
		level.Info(a.logger).Log("msg", msg, "environment_id", e.EnvironmentID, "event", e.Name,
			"time", e.Time.Format(time.RFC3339), "seq", e.Seq, "reason", e.Meta(event.MetaReason), "marker", e.IsMarker())
	}
}
