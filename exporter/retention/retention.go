// Package retention applies retention.events: the journal drops the events recorded
// before the cutoff that every sink has delivered, and the Idempotency-Keys recorded
// before it, and the tracker forgets the environments terminated before it. An event a
// sink has not delivered stays (a sink that is down lags; it loses nothing) until the
// sink's runner sets it aside past retention.max_undelivered (exporter/sink).
package retention

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Journal is what retention needs of the journal.
type Journal interface {
	// Prune deletes, in seq order from the start of the journal (which stays
	// contiguous: it stops at the first event that must stay):
	//   - the events recorded (RecordedAt) before recordedBefore whose seq every sink
	//     named in sinks has passed: its durable cursor (sink.Journal's Cursor, a cursor
	//     saved lazily made durable first, in the same transaction) is at or past the
	//     seq. A named sink without a cursor has delivered nothing and keeps everything;
	//     a sink not named holds nothing back. Each event leaves with its
	//     per-environment index entry and its identity (ingest.Journal's Known), unless
	//     a later event holds the same identity;
	//   - the Idempotency-Keys recorded before recordedBefore (ingest.Journal's
	//     IdempotencyKeys no longer returns them, before or after a restart);
	//   - the states of environments terminated (TerminatedAt) before recordedBefore.
	// It returns the number of events deleted. A store may split the work into several
	// transactions, each leaving a consistent journal.
	Prune(recordedBefore time.Time, sinks []string) (int, error)
}

// Tracker is what retention needs of the tracker.
type Tracker interface {
	TerminatedBefore(cutoff time.Time) []string
	Forget(ids ...string)
}

// Interval is how often Run applies the retention.
const Interval = time.Hour

// Pruner applies one retention period.
type Pruner struct {
	journal Journal
	tracker Tracker
	keep    time.Duration
	sinks   []string
	now     func() time.Time
	logger  log.Logger
}

// New returns a Pruner that keeps what is younger than keep (retention.events), and
// what the named sinks (those configured) have not delivered.
func New(j Journal, t Tracker, keep time.Duration, sinks []string, now func() time.Time, logger log.Logger) *Pruner {
	return &Pruner{journal: j, tracker: t, keep: keep, sinks: sinks, now: now, logger: logger}
}

// Run prunes now, then every Interval until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		p.Prune()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune applies the retention once. A journal error is logged and changes nothing: the
// tracker forgets an environment only once its events are gone.
func (p *Pruner) Prune() {
	cutoff := p.now().Add(-p.keep)
	n, err := p.journal.Prune(cutoff, p.sinks)
	if err != nil {
		level.Error(p.logger).Log("msg", "journal retention failed", "err", err)
		return
	}
	gone := p.tracker.TerminatedBefore(cutoff)
	p.tracker.Forget(gone...)
	if n > 0 {
		level.Info(p.logger).Log("msg", "journal retention", "events_pruned", n, "environments_forgotten", len(gone))
	}
}
