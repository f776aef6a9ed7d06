package retention

import (
	"context"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// RequestedTracker forgets the environments still requested before cutoff, through forget.
type RequestedTracker interface {
	ExpireRequested(cutoff time.Time, forget func(ids []string) error) ([]string, error)
}

// Requested applies readiness.requested_expiry: environments still requested
// (created, never provisioning) that long after their created event are forgotten, so
// abandoned requests do not hold api.max_environments forever.
type Requested struct {
	Journal interface{ ForgetStates(ids []string) error }
	Tracker RequestedTracker
	Expiry  time.Duration
	Now     func() time.Time
	Logger  log.Logger
}

// ForJournal is the expiry of readiness for a journal that can forget tracker states
// (the bbolt store, the PostgreSQL leader's), false for one that cannot.
func ForJournal(journal any, t RequestedTracker, readiness config.ReadinessConfig, now func() time.Time, logger log.Logger) (Requested, bool) {
	j, ok := journal.(interface{ ForgetStates(ids []string) error })
	return Requested{Journal: j, Tracker: t, Expiry: time.Duration(readiness.RequestedExpiry), Now: now, Logger: logger}, ok
}

// Run expires every Interval until ctx ends; the daemon expires once before it listens
// (Expire), so a push is never forgotten in the moment after it was accepted.
func (r Requested) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Expire()
		}
	}
}

// Expire applies the expiry once; an error is logged and changes nothing.
func (r Requested) Expire() {
	cutoff := r.Now().Add(-r.Expiry)
	ids, err := r.Tracker.ExpireRequested(cutoff, r.Journal.ForgetStates)
	if err != nil {
		level.Error(r.Logger).Log("msg", "expiring requested environments failed", "err", err)
		return
	}
	if len(ids) > 0 {
		level.Info(r.Logger).Log("msg", "forgot environments requested and never provisioned", "environments", len(ids),
			"created_before", cutoff.UTC().Format(time.RFC3339), "requested_expiry", r.Expiry)
	}
}
