package query

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// BurnWindow is the window the insights' current burn rate is measured over: the short
// window of the page alert that burns fastest (Sloth's 1h at 14.4).
const BurnWindow = time.Hour

// WithSLOs sets the objectives per type that Performance reports on (slos:); without
// them it reports none.
func (s *Service) WithSLOs(o config.SLOs) *Service {
	s.slos = o
	return s
}

// addSLOs sets p.SLOs: each type's SLOs over its own window up to to.
func (s *Service) addSLOs(ctx context.Context, p *apitypes.Performance, to time.Time, typ string) error {
	fs, err := s.sloFacts(ctx, to, typ)
	if err != nil {
		return err
	}
	p.SLOs = s.sloStatus(fs, to, typ)
	if p.SLOs == nil {
		p.SLOs = []apitypes.SLOStatus{}
	}
	return nil
}

// sloFacts returns the facts of the longest SLO window up to to (nil without SLOs).
func (s *Service) sloFacts(ctx context.Context, to time.Time, typ string) ([]fact, error) {
	if len(s.slos) == 0 {
		return nil, nil
	}
	var longest time.Duration
	for _, o := range s.slos {
		longest = max(longest, time.Duration(o.Window))
	}
	return s.facts(ctx, to.Add(-longest), to, typ, event.Ready, event.ProvisioningFailed)
}

// Days writes a window of whole days as slos: does ("30d", not model.Duration's "4w2d").
func Days(d time.Duration) string { return strconv.Itoa(int(d/(24*time.Hour))) + "d" }

// sli counts one SLI's events over a window and over the burn window.
type sli struct{ events, bad, recentEvents, recentBad int }

func (c *sli) add(bad, recent bool) {
	c.events++
	if recent {
		c.recentEvents++
	}
	if bad {
		c.bad++
		if recent {
			c.recentBad++
		}
	}
}

// status is where objective (percent) stands on c.
func (c *sli) status(objective float64) apitypes.ObjectiveStatus {
	st := apitypes.ObjectiveStatus{Objective: objective, Events: c.events, Bad: c.bad}
	budget := config.ErrorBudget(objective)
	if c.events > 0 {
		miss := float64(c.bad) / float64(c.events)
		actual, left := round2(100*(1-miss)), round2(100*(1-miss/budget))
		st.Actual, st.ErrorBudgetRemaining = &actual, &left
	}
	if c.recentEvents > 0 {
		burn := round2(float64(c.recentBad) / float64(c.recentEvents) / budget)
		st.BurnRate = &burn
	}
	return st
}

// sloStatus computes each type's objectives over its own window up to to, from fs (the
// facts of the longest window): the types with attempts, and those slos: names.
func (s *Service) sloStatus(fs []fact, to time.Time, typ string) []apitypes.SLOStatus {
	if len(s.slos) == 0 {
		return nil
	}
	type acc struct {
		latency, success sli
		user, platform   int
	}
	byType := map[string]*acc{}
	get := func(t string) *acc {
		a := byType[t]
		if a == nil {
			a = &acc{}
			byType[t] = a
		}
		return a
	}
	for _, t := range s.slos.Types() {
		if typ == "" || t == typ {
			get(t)
		}
	}
	recent := to.Add(-BurnWindow)
	for i := range fs {
		e := &fs[i]
		if typ != "" && e.Type != typ {
			continue
		}
		o := s.slos.For(e.Type)
		if e.Time.Before(to.Add(-time.Duration(o.Window))) {
			continue
		}
		isRecent := !e.Time.Before(recent)
		switch e.Name {
		case event.Ready:
			if e.Late || e.Baseline || !e.HasSeconds {
				continue // no attempt that ended here (a late ready's attempt failed before)
			}
			a := get(e.Type)
			a.success.add(false, isRecent)
			// Within the threshold, as the histogram's le bucket counts it.
			a.latency.add(e.Seconds > time.Duration(o.Latency.Threshold).Seconds(), isRecent)
		case event.ProvisioningFailed:
			a := get(e.Type)
			a.success.add(!e.User, isRecent) // a user failure is a success of the platform (002)
			if e.User {
				a.user++
			} else {
				a.platform++
			}
		}
	}
	out := make([]apitypes.SLOStatus, 0, len(byType))
	for t, a := range byType {
		o := s.slos.For(t)
		st := apitypes.SLOStatus{Type: t, Window: Days(time.Duration(o.Window)), Latency: a.latency.status(o.Latency.Objective),
			Success: a.success.status(o.Success.Objective), UserFailures: a.user, PlatformFailures: a.platform}
		th := time.Duration(o.Latency.Threshold).Seconds()
		st.Latency.ThresholdSeconds = &th
		if st.Type == "" {
			st.Type = "default"
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
