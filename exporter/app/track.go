package app

import (
	"context"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// tracking is the tracking side as the sources (argocd.Tracker, probe.Tracker) see it:
// the tracker, whose observations process commits through the leader's journal.
type tracking struct {
	*tracker.Tracker
	a      *App
	commit tracker.CommitFunc
	gap    func(event.Gap) (*event.Gap, error) // the leader's journal's
}

func (t tracking) Track(_ context.Context, obs []tracker.Observation) error {
	return t.a.process(obs, t.commit)
}

// Polled: the first look at Argo CD finished, the daemon is ready.
func (t tracking) Polled() { t.a.markPolled() }

// Blind records a window in which a source could not see (DESIGN §3 gaps) in the
// leader's journal, which journals (and logs) a closed one, for the sinks that draw it.
func (t tracking) Blind(_ context.Context, g event.Gap) error { _, err := t.gap(g); return err }

// process tracks observations of the sources: the tracker commits what they change
// (tracker.MaxBatch at a time), then committed reports it.
func (a *App) process(obs []tracker.Observation, commit tracker.CommitFunc) error {
	if len(obs) == 0 {
		return nil
	}
	events, err := a.tracker.Process(obs, commit) // the batches committed before an error too
	a.committed(events, "lifecycle event", func(e *event.Event) (string, any) { return "reason", e.Meta(event.MetaReason) }, false)
	if err != nil {
		level.Error(a.logger).Log("msg", "recording transitions failed; they will be derived again", "err", err)
	}
	return err
}

// committed does what follows every commit that stored events, the tracker's or pushed
// ones (ingest): the lifecycle metrics (DESIGN §4: live transitions only, never a
// replay), the events counter, and the log: a line per event (msg, then what kv adds to
// the common keys) at info, or, with perCommit, at debug and one line at info for the
// commit. A batch push commits hundreds of markers: a line each was hundreds of lines
// per request, at about 5.5 µs each (logfmt with its timestamp and caller, into a
// file); the journal, not the log, is their record.
func (a *App) committed(events []event.Event, msg string, kv func(*event.Event) (string, any), perCommit bool) {
	if len(events) == 0 {
		return
	}
	a.lifecycle.Observe(events)
	// The counter and the leveled logger are looked up once, not per event.
	each := level.Info(a.logger)
	if perCommit && len(events) > 1 {
		each = level.Debug(a.logger)
		first, last := &events[0], &events[len(events)-1]
		k, v := kv(first)
		level.Info(a.logger).Log("msg", msg+"s", "events", len(events), "first_seq", first.Seq, "last_seq", last.Seq,
			"first_environment_id", first.EnvironmentID, "first_event", first.Name, k, v)
	}
	var (
		counter prometheus.Counter
		counted event.Name
	)
	for i := range events {
		e := &events[i]
		if counter == nil || e.Name != counted {
			counter, counted = a.metrics.transitions.WithLabelValues(string(e.Name)), e.Name
		}
		counter.Inc()
		k, v := kv(e)
		each.Log("msg", msg, "environment_id", e.EnvironmentID, "event", e.Name,
			"time", e.Time.Format(time.RFC3339), "seq", e.Seq, k, v)
	}
}
