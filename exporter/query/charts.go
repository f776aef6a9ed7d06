package query

import (
	"context"
	"time"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
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
	Performance *apitypes.Performance
	Attempts    []Attempt
	Deploys     []Deploy
}

// Chart fetches the window's events once and shapes them into a Chart.
func (s *Service) Chart(ctx context.Context, window time.Duration, windowText, typ string) (*Chart, error) {
	to := s.now().UTC()
	from := to.Add(-window)
	fs, err := s.facts(ctx, from, to, typ, event.Ready, event.ProvisioningFailed, event.Terminated, event.ProvisioningStarted, event.Deployed)
	if err != nil {
		return nil, err
	}
	// Performance over the same facts: one fetch, the same numbers as the API.
	c := &Chart{Performance: s.performance(fs, from, to, windowText, typ)}
	if err := s.addSLOs(ctx, c.Performance, to, typ); err != nil {
		return nil, err
	}
	var attempts, deploys int
	for i := range fs {
		switch fs[i].Name {
		case event.Ready, event.ProvisioningFailed:
			attempts++
		case event.Deployed:
			deploys++
		}
	}
	c.Attempts = make([]Attempt, 0, attempts)
	c.Deploys = make([]Deploy, 0, deploys)
	for i := range fs {
		e := &fs[i]
		if typ != "" && e.Type != typ {
			continue
		}
		switch e.Name {
		case event.Ready:
			if e.Late || e.Baseline || !e.HasSeconds {
				continue // the same rule as Performance: not an attempt
			}
			c.Attempts = append(c.Attempts, Attempt{EnvironmentID: e.EnvironmentID, Type: e.Type, At: e.Time, Seconds: e.Seconds})
		case event.ProvisioningFailed:
			d := e.Seconds
			if !e.HasSeconds {
				d = -1
			}
			c.Attempts = append(c.Attempts, Attempt{EnvironmentID: e.EnvironmentID, Type: e.Type, At: e.Time, Seconds: d, Failed: true, Reason: e.Reason})
		case event.Deployed:
			c.Deploys = append(c.Deploys, Deploy{EnvironmentID: e.EnvironmentID, At: e.Time, Revision: e.Revision})
		}
	}
	return c, nil
}
