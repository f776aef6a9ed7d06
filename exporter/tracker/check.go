package tracker

import (
	"fmt"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// RejectedError is a pushed event that contradicts what envtrack knows of the
// environment: it would move its time backwards, or it needs an environment that was
// never seen. Nothing of such a push is stored; the API answers 422 with Reason.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return e.Reason }

func rejectf(format string, args ...any) error {
	return &RejectedError{Reason: fmt.Sprintf(format, args...)}
}

// FullError is a push for a new environment while envtrack tracks
// Config.MaxEnvironments of them already: nothing of it is stored, and the API answers
// 429. Environments leave with retention (terminated) or expiry (requested).
type FullError struct{ Max int }

func (e *FullError) Error() string {
	return fmt.Sprintf("envtrack tracks %d environments, the most api.max_environments allows: no new environment is accepted until some are pruned", e.Max)
}

// rank orders the lifecycle events in time: an event must not be earlier than any
// known event of a lower rank, nor later than any known event of a higher rank.
// ready and provisioning_failed share a rank (a late ready follows a failure);
// deployed, degraded and recovered too (they happen in any order after ready).
func rank(n event.Name) int {
	switch n {
	case event.Created:
		return 0
	case event.ProvisioningStarted:
		return 1
	case event.Ready, event.ProvisioningFailed:
		return 2
	case event.Deployed, event.Degraded, event.Recovered:
		return 3
	case event.TerminationStarted:
		return 4
	case event.Terminated:
		return 5
	}
	return -1
}

// StartsEnvironment reports whether a pushed event may name an environment envtrack has
// never seen: only a request (created) or the start of provisioning can begin one.
func StartsEnvironment(n event.Name) bool {
	return n == event.Created || n == event.ProvisioningStarted
}

// CheckPush decides whether a push may apply to s (the zero State: an environment never
// seen). at is the observation time, the push's time when it has none. It is pure, and
// the tracker calls it under its lock with the state the push would change, so two
// concurrent pushes cannot slip past each other.
func CheckPush(s State, p Push, at time.Time) error {
	if s.ID == "" && !StartsEnvironment(p.Event) {
		return rejectf("unknown environment: %s needs an environment envtrack already tracks (push created or provisioning_started first)", p.Event)
	}
	t := norm(p.Time)
	if t.IsZero() {
		t = norm(at)
	}
	r := rank(p.Event)
	known := []struct {
		name event.Name
		at   time.Time
	}{
		{event.Created, s.CreatedAt},
		{event.ProvisioningStarted, s.ProvisioningStartedAt},
		{event.Ready, s.ReadyAt},
		{event.ProvisioningFailed, s.FailedAt},
		{event.TerminationStarted, s.TerminationStartedAt},
		{event.Terminated, s.TerminatedAt},
	}
	for _, k := range known {
		if k.at.IsZero() || k.name == p.Event {
			continue
		}
		kr := rank(k.name)
		switch {
		case kr < r && t.Before(k.at):
			return rejectf("%s at %s would be before %s at %s: time cannot go backwards", p.Event,
				t.Format(time.RFC3339), k.name, k.at.UTC().Format(time.RFC3339))
		case kr > r && t.After(k.at):
			return rejectf("%s at %s would be after %s at %s: time cannot go backwards", p.Event,
				t.Format(time.RFC3339), k.name, k.at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
