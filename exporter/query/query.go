package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// ErrNotFound: no event is known for the environment.
var ErrNotFound = errors.New("environment not found")

// Service shapes backend events into the API's documents.
type Service struct {
	backend Backend
	gaps    Gaps
	targets config.TargetsConfig
	slos    config.SLOs // objectives per type (WithSLOs); none: no SLO reported
	now     func() time.Time
}

// Gaps gives the windows in which a source could not be seen (the store keeps them,
// whatever backend answers the events).
type Gaps interface {
	Gaps(from, to time.Time) ([]event.Gap, error)
}

// WithGaps makes the timelines say what could not be observed during each environment's
// life: the windows of g that overlap it. It returns s.
func (s *Service) WithGaps(g Gaps) *Service {
	s.gaps = g
	return s
}

// NewService returns a Service over b, judging performance against the targets t.
func NewService(b Backend, t config.TargetsConfig, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{backend: b, targets: t, now: now}
}

// Timeline returns one environment's timeline.
func (s *Service) Timeline(ctx context.Context, id string) (*apitypes.Timeline, error) {
	evs, err := s.backend.EnvironmentEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.timeline(id, evs)
}

// TimelineRaw is Timeline for a document that is only encoded (the API's): where the
// backend kept metadata as the JSON it found stored (RawMetadataBackend), an entry
// carries that text (RawMetadata) instead of a map. Encoded, the document is Timeline's.
func (s *Service) TimelineRaw(ctx context.Context, id string) (*apitypes.Timeline, error) {
	rb, ok := s.backend.(RawMetadataBackend)
	if !ok {
		return s.Timeline(ctx, id)
	}
	var tl *apitypes.Timeline
	err := rb.EnvironmentEventsRaw(ctx, id, func(evs []event.Event) error {
		var err error
		tl, err = s.timeline(id, evs) // copies what it keeps
		return err
	})
	return tl, err
}

// timeline shapes one environment's events (by the backend, in time order) into its
// timeline.
func (s *Service) timeline(id string, evs []event.Event) (*apitypes.Timeline, error) {
	var err error
	evs = lifecycleOnly(evs)
	if len(evs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	tl := &apitypes.Timeline{EnvironmentID: id, Timeline: make([]apitypes.TimelineEntry, 0, len(evs))}
	var start, created, terminated time.Time
	for _, e := range evs {
		if e.EnvironmentName != "" {
			tl.EnvironmentName = e.EnvironmentName
		}
		meta := e.Metadata
		if meta == nil && e.RawMetadata == "" {
			meta = map[string]any{}
		}
		tl.Timeline = append(tl.Timeline, apitypes.TimelineEntry{Event: e.Name, Timestamp: e.Time.UTC(), Metadata: meta, RawMetadata: e.RawMetadata})
		switch e.Name {
		case event.ProvisioningStarted, event.Ready, event.Terminated:
			if meta == nil { // the summary reads these events' metadata
				meta = apitypes.DecodeMetadata(e.RawMetadata)
			}
		}
		switch e.Name {
		case event.Created:
			created = e.Time
		case event.ProvisioningStarted:
			start = e.Time
			if v, ok := duration(meta[event.MetaQueueDuration]); ok {
				tl.Summary.QueueDurationSeconds = &v
			}
			if tl.Summary.Outcome == "" {
				tl.Summary.Outcome = "provisioning"
			}
		case event.Ready:
			if v, ok := duration(meta[event.MetaProvisioningDuration]); ok && tl.Summary.ProvisioningDurationSeconds == nil {
				tl.Summary.ProvisioningDurationSeconds = &v
			}
			if tl.Summary.Outcome != "terminated" {
				tl.Summary.Outcome = "ready"
			}
		case event.ProvisioningFailed:
			if tl.Summary.Outcome != "ready" && tl.Summary.Outcome != "terminated" {
				tl.Summary.Outcome = "failed"
			}
		case event.Terminated:
			terminated = e.Time
			if v, ok := duration(meta[event.MetaTerminationDuration]); ok {
				tl.Summary.TerminationDurationSeconds = &v
			}
			tl.Summary.Outcome = "terminated"
		}
	}
	if tl.EnvironmentName == "" {
		tl.EnvironmentName = id
	}
	now := s.now().UTC().Truncate(time.Second)
	end := terminated
	if end.IsZero() {
		end = now
	}
	if first := firstNonZero(created, start); !first.IsZero() {
		h := event.Hours(end.Sub(first)) // exact to the second, as in the terminated event; never negative
		tl.Summary.TotalLifetimeHours = &h
	}
	if tl.Gaps, err = s.lifeGaps(firstNonZero(created, start, evs[0].Time), end, now); err != nil {
		return nil, err
	}
	return tl, nil
}

// Gaps returns the windows not observed that overlap [from, to] (a chart's range), in
// order of their start, as the timelines show them: one still open ends now.
func (s *Service) Gaps(from, to time.Time) ([]apitypes.Gap, error) {
	return s.lifeGaps(from, to, s.now().UTC())
}

// lifeGaps are the windows not observed that overlap [from, to] (an environment's life),
// as the API shows them: one still open ends now.
func (s *Service) lifeGaps(from, to, now time.Time) ([]apitypes.Gap, error) {
	out := []apitypes.Gap{}
	if s.gaps == nil {
		return out, nil
	}
	gaps, err := s.gaps.Gaps(from, to)
	if err != nil {
		return nil, fmt.Errorf("windows not observed: %w", err)
	}
	for _, g := range gaps {
		a := apitypes.Gap{From: g.From.UTC(), To: g.To.UTC(), Source: g.Source, Reason: g.Reason}
		if g.Open() {
			a.To, a.Ongoing = latest(now, a.From), true
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out, nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Performance computes exact statistics over the attempts that ended in the window.
func (s *Service) Performance(ctx context.Context, window time.Duration, windowText, typ string) (*apitypes.Performance, error) {
	to := s.now().UTC()
	from := to.Add(-window)
	fs, err := s.facts(ctx, from, to, typ, event.Ready, event.ProvisioningFailed, event.Terminated, event.ProvisioningStarted)
	if err != nil {
		return nil, err
	}
	p := s.performance(fs, from, to, windowText, typ)
	if err := s.addSLOs(ctx, p, to, typ); err != nil {
		return nil, err
	}
	return p, nil
}

// tally is the provisioning statistics of one set of attempts as they are counted: the
// answer's numbers, and the durations the statistics are computed from.
type tally struct {
	apitypes.Provisioning
	durations, queues []float64
}

func newTally() *tally {
	return &tally{Provisioning: apitypes.Provisioning{FailuresByReason: map[string]int{}}}
}

// performance computes Performance over the window's facts (of every type and name;
// those not of typ are skipped here).
func (s *Service) performance(fs []fact, from, to time.Time, windowText, typ string) *apitypes.Performance {
	p := &apitypes.Performance{Window: windowText, From: from, To: to, Type: typ}
	all := newTally()
	byType := map[string]*tally{}
	var term []float64
	var t *tally
	tName := ""
	for i := range fs {
		e := &fs[i]
		if typ != "" && e.Type != typ {
			continue
		}
		switch e.Name {
		case event.Ready, event.ProvisioningFailed, event.ProvisioningStarted, event.Terminated:
		default:
			continue
		}
		if t == nil || e.Type != tName { // runs of one type are common: one map lookup per run
			if t = byType[e.Type]; t == nil {
				t = newTally()
				byType[e.Type] = t
			}
			tName = e.Type
		}
		switch e.Name {
		case event.Ready:
			if e.Late {
				all.LateReadies++
				t.LateReadies++
				continue
			}
			if e.Baseline || !e.HasSeconds {
				continue // a URL-only environment's first answer is no provisioning attempt
			}
			all.Successes++
			all.durations = append(all.durations, e.Seconds)
			t.Successes++
			t.durations = append(t.durations, e.Seconds)
		case event.ProvisioningFailed:
			all.Failures++
			all.FailuresByReason[e.Reason]++
			t.Failures++
			t.FailuresByReason[e.Reason]++
			if e.User {
				all.UserFailures++
				t.UserFailures++
			} else {
				all.PlatformFailures++
				t.PlatformFailures++
			}
		case event.ProvisioningStarted:
			if e.HasSeconds {
				all.queues = append(all.queues, e.Seconds)
				t.queues = append(t.queues, e.Seconds)
			}
		case event.Terminated:
			if e.HasSeconds {
				term = append(term, e.Seconds)
			}
		}
	}
	all.finish()
	p.EnvironmentPerformance.Provisioning = all.Provisioning
	p.EnvironmentPerformance.ByType = map[string]apitypes.Provisioning{}
	for k, v := range byType {
		if v.Successes+v.Failures+v.LateReadies == 0 {
			continue // a type with only baselines or terminations made no attempt
		}
		v.finish()
		if k == "" {
			k = "default"
		}
		p.EnvironmentPerformance.ByType[k] = v.Provisioning
	}
	p.EnvironmentPerformance.Termination = apitypes.Termination{Stats: statsOf(term), SampleSize: len(term)}
	p.Targets = s.targetStatus(&all.Provisioning)
	p.Recommendations = recommend(&all.Provisioning, p.Targets)
	return p
}

func (p *tally) finish() {
	p.SampleSize = p.Successes + p.Failures
	p.Stats = statsOf(p.durations)
	if p.SampleSize > 0 {
		r := round2(100 * float64(p.Successes) / float64(p.SampleSize))
		p.SuccessRate = &r
	}
	if len(p.queues) > 0 {
		q := round2(mean(p.queues))
		p.QueueAverageSecs = &q
	}
}

func (s *Service) targetStatus(p *apitypes.Provisioning) []apitypes.TargetStatus {
	dur := func(name string, d config.DurationTarget, v *float64) apitypes.TargetStatus {
		ts := apitypes.TargetStatus{Name: name, Target: time.Duration(d.Target).Seconds(), Alert: time.Duration(d.Alert).Seconds(), Unit: "seconds", Value: v, Status: "no_data"}
		if v != nil {
			switch {
			case *v > ts.Alert:
				ts.Status = "alert"
			case *v > ts.Target:
				ts.Status = "warn"
			default:
				ts.Status = "pass"
			}
		}
		return ts
	}
	t := s.targets
	out := []apitypes.TargetStatus{
		dur("provisioning_p50", t.ProvisioningP50, p.P50Seconds),
		dur("provisioning_p95", t.ProvisioningP95, p.P95Seconds),
	}
	sr := apitypes.TargetStatus{Name: "success_rate", Target: t.SuccessRate.Target, Alert: t.SuccessRate.Alert, Unit: "percent", Value: p.SuccessRate, Status: "no_data"}
	if v := p.SuccessRate; v != nil {
		switch {
		case *v < t.SuccessRate.Alert:
			sr.Status = "alert"
		case *v < t.SuccessRate.Target:
			sr.Status = "warn"
		default:
			sr.Status = "pass"
		}
	}
	return append(out, sr)
}

// recommend turns the numbers into the advice of 000's "Performance Recommendations".
func recommend(p *apitypes.Provisioning, targets []apitypes.TargetStatus) []apitypes.Recommendation {
	recs := []apitypes.Recommendation{}
	sev := func(status string) string {
		if status == "alert" {
			return "critical"
		}
		return "warning"
	}
	for _, t := range targets {
		if t.Status != "warn" && t.Status != "alert" {
			continue
		}
		switch t.Name {
		case "provisioning_p50", "provisioning_p95":
			recs = append(recs, apitypes.Recommendation{Severity: sev(t.Status), Title: "Slow provisioning",
				Detail: fmt.Sprintf("%s is %s (target %s, alert above %s). Check image sizes and Argo CD sync waves; pre-pull images on nodes.",
					t.Name, fmtSecs(*t.Value), fmtSecs(t.Target), fmtSecs(t.Alert))})
		case "success_rate":
			recs = append(recs, apitypes.Recommendation{Severity: sev(t.Status), Title: "Low success rate",
				Detail: fmt.Sprintf("%.2f%% of provisioning attempts succeeded (target %.0f%%, alert below %.0f%%). Review error logs and check resource quotas.",
					*t.Value, t.Target, t.Alert)})
		}
	}
	if p.Failures > 0 {
		reason, n := "", 0
		for r, c := range p.FailuresByReason {
			if c > n || (c == n && r < reason) {
				reason, n = r, c
			}
		}
		advice := map[string]string{
			"timeout":              "Provisioning exceeds readiness.provisioning_timeout: look for stuck sync waves, pending pods or missing quotas.",
			"sync_failed":          "Argo CD sync operations fail: read the operation messages in the timelines; usually invalid manifests.",
			"degraded":             "Workloads turn Degraded before ready: check crash-looping pods and readiness probes.",
			"url_unreachable":      "Argo CD reports Healthy but the URL does not answer: check ingress, DNS and certificates.",
			"deleted_before_ready": "Environments are deleted before they are ready: users may give up waiting, or cleanup jobs run too early.",
		}[reason]
		if advice != "" {
			recs = append(recs, apitypes.Recommendation{Severity: "info", Title: "Most common failure: " + reason,
				Detail: fmt.Sprintf("%d of %d failures. %s", n, p.Failures, advice)})
		}
	}
	if len(recs) == 0 && p.SampleSize > 0 {
		recs = append(recs, apitypes.Recommendation{Severity: "info", Title: "All targets met", Detail: "Provisioning meets every target in this window."})
	}
	if p.SampleSize == 0 {
		recs = append(recs, apitypes.Recommendation{Severity: "info", Title: "No provisioning attempts in this window",
			Detail: "Only attempts that ended (ready or failed) in the window count; widen the window or check that tracking runs."})
	}
	return recs
}

func fmtSecs(s float64) string { return (time.Duration(s) * time.Second).String() }

// statsOf computes exact statistics: the mean, and nearest-rank percentiles (the
// smallest value with at least p% of the values at or below it).
func statsOf(xs []float64) apitypes.Stats {
	if len(xs) == 0 {
		return apitypes.Stats{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	avg := round2(mean(s))
	p := func(q float64) *float64 {
		v := Percentile(s, q)
		return &v
	}
	return apitypes.Stats{AverageSeconds: &avg, P50Seconds: p(50), P95Seconds: p(95), P99Seconds: p(99)}
}

// Percentile is the nearest-rank percentile of sorted values.
func Percentile(sorted []float64, q float64) float64 {
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// duration reads a duration from metadata. A negative one (recorded before durations
// were bounded, or by a foreign writer of the TSDB) is no duration at all: no summary
// or insight shows time going backwards.
func duration(v any) (float64, bool) {
	d, ok := number(v)
	return d, ok && d >= 0
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func lifecycleOnly(evs []event.Event) []event.Event {
	if !slices.ContainsFunc(evs, func(e event.Event) bool { return !e.IsLifecycle() }) {
		return evs // the usual case: backends return no markers; no copy
	}
	out := evs[:0:0]
	for _, e := range evs {
		if e.IsLifecycle() {
			out = append(out, e)
		}
	}
	return out
}
