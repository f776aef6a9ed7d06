package retention

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Requested applies readiness.requested_expiry: environments still requested
// (created, never provisioning) that long after their created event are forgotten, so
// abandoned requests do not hold api.max_environments forever.
type Requested struct {
	Journal interface{ ForgetStates(ids []string) error }
	Tracker interface {
		ExpireRequested(cutoff time.Time, forget func(ids []string) error) ([]string, error)
	}
	Expiry time.Duration
	Now    func() time.Time
	Logger log.Logger
}

// Run expires now, then every Interval until ctx ends.
func (r Requested) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		r.Expire()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
