package query

import (
	"context"
	"slices"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/event"
)

// Attempt is one provisioning attempt that ended in a window: a ready (not late, not a
// URL-only baseline) or a provisioning_failed, at its evidence time.
type Attempt struct {
	EnvironmentID string
	Type          string
	At            time.Time
	Seconds       float64 // provisioning duration; -1 when unknown (a failure before provisioning started)
	Failed        bool
	Reason        string
}

// Deploy is one Argo CD deployed event in a window (CI markers are not lifecycle events
// and come from the journal, see Chart's callers).
type Deploy struct {
	EnvironmentID string
	At            time.Time
	Revision      string
}

// Chart is what the landing page draws for a window: the attempts one by one, the
// deployments, and the window's Performance computed from the very same events, so the
// chart's p50/p95 lines are the numbers of GET /api/insights/performance-detailed.
type Chart struct {
	Performance *Performance
	Attempts    []Attempt
	Deploys     []Deploy
}

// Chart fetches the window's events once and shapes them into a Chart.
func (s *Service) Chart(ctx context.Context, window time.Duration, windowText, typ string) (*Chart, error) {
	to := s.now().UTC()
	from := to.Add(-window)
	names := []event.Name{event.Ready, event.ProvisioningFailed, event.Terminated, event.ProvisioningStarted, event.Deployed}
	evs, err := s.backend.Range(ctx, from, to, typ, names...)
	if err != nil {
		return nil, err
	}
	// Performance over the same events: one fetch, the same numbers as the API.
	perf, err := NewService(fixedBackend(evs), s.targets, func() time.Time { return to }).Performance(ctx, window, windowText, typ)
	if err != nil {
		return nil, err
	}
	c := &Chart{Performance: perf}
	for _, e := range evs {
		if e.IsMarker() {
			continue // a backend returns none; the same rule as Performance regardless
		}
		switch e.Name {
		case event.Ready:
			d, ok := event.Number(e.Meta(event.MetaProvisioningDuration))
			if e.Late() || e.Baseline() || !ok {
				continue // the same rule as Performance: not an attempt
			}
			c.Attempts = append(c.Attempts, Attempt{EnvironmentID: e.EnvironmentID, Type: e.Type, At: e.Time, Seconds: d})
		case event.ProvisioningFailed:
			d, ok := event.Number(e.Meta(event.MetaProvisioningDuration))
			if !ok {
				d = -1
			}
			c.Attempts = append(c.Attempts, Attempt{EnvironmentID: e.EnvironmentID, Type: e.Type, At: e.Time, Seconds: d, Failed: true, Reason: e.Reason()})
		case event.Deployed:
			rev, _ := e.Meta(event.MetaRevision).(string)
			c.Deploys = append(c.Deploys, Deploy{EnvironmentID: e.EnvironmentID, At: e.Time, Revision: rev})
		}
	}
	return c, nil
}

// fixedBackend answers Range from events already fetched.
type fixedBackend []event.Event

func (f fixedBackend) EnvironmentEvents(context.Context, string) ([]event.Event, error) {
	return nil, nil
}

func (f fixedBackend) Range(_ context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	out := make([]event.Event, 0, len(f))
	for _, e := range f {
		if e.Time.Before(from) || !e.Time.Before(to) || (typ != "" && e.Type != typ) || (len(names) > 0 && !slices.Contains(names, e.Name)) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
