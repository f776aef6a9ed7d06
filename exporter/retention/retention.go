// Package retention applies journal.retention: the journal drops the events recorded
// before the cutoff, and the tracker forgets the environments terminated before it.
package retention

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Journal is what retention needs of the journal.
type Journal interface {
	Prune(recordedBefore time.Time) (int, error)
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
	now     func() time.Time
	logger  log.Logger
}

// New returns a Pruner that keeps what is younger than keep (journal.retention).
func New(j Journal, t Tracker, keep time.Duration, now func() time.Time, logger log.Logger) *Pruner {
	return &Pruner{journal: j, tracker: t, keep: keep, now: now, logger: logger}
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
	n, err := p.journal.Prune(cutoff)
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
