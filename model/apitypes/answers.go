package apitypes

import (
	"encoding/json"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Timeline is GET /api/environments/{id}/timeline (the shape of 000).
type Timeline struct {
	EnvironmentID   string          `json:"environment_id"`
	EnvironmentName string          `json:"environment_name"`
	Timeline        []TimelineEntry `json:"timeline"`
	Summary         Summary         `json:"summary"`
	// Gaps are the windows in which envtrack could not see a source during the
	// environment's life (DESIGN §3): what changed then was not observed.
	Gaps []Gap `json:"gaps"`
}

// Gap is one window not observed: "not observed from … to …".
type Gap struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`                // now, while it lasts (Ongoing)
	Source  string    `json:"source"`            // argocd, probe or envtrack
	Reason  string    `json:"reason"`            // stalled, refused, unreachable, truncated, unusable, ended
	Ongoing bool      `json:"ongoing,omitempty"` // the window has not ended yet
}

// TimelineEntry is one lifecycle event in a timeline.
type TimelineEntry struct {
	Event     event.Name     `json:"event"`
	Timestamp time.Time      `json:"timestamp"`
	Metadata  map[string]any `json:"metadata"`
	// RawMetadata, when not empty, is the metadata as JSON text, exactly what
	// json.Marshal writes for it, and Metadata is nil: a timeline that is only written
	// (the API's) carries the text it read rather than a map (DecodeMetadata reads it).
	RawMetadata string `json:"-"`
}

// DecodeMetadata is RawMetadata's map (nil if it is no JSON object). The summary of
// every timeline decodes three; encoding/json took a sixth of the request's CPU.
func DecodeMetadata(raw string) map[string]any {
	p := JSONScanner{B: []byte(raw)}
	if m, ok := p.FlatObject(CommonWords); ok && p.End() {
		return m
	}
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	return m
}

// Summary sums a timeline up. Absent values are null.
type Summary struct {
	ProvisioningDurationSeconds *float64 `json:"provisioning_duration_seconds"`
	TotalLifetimeHours          *float64 `json:"total_lifetime_hours"`
	QueueDurationSeconds        *float64 `json:"queue_duration_seconds"`
	TerminationDurationSeconds  *float64 `json:"termination_duration_seconds"`
	Outcome                     string   `json:"outcome"` // provisioning, ready, failed, terminated
}

// Stats are exact statistics over one set of durations (seconds).
type Stats struct {
	AverageSeconds *float64 `json:"average_seconds"`
	P50Seconds     *float64 `json:"p50_seconds"`
	P95Seconds     *float64 `json:"p95_seconds"`
	P99Seconds     *float64 `json:"p99_seconds"`
}

// Provisioning are the provisioning statistics over a window.
type Provisioning struct {
	Stats
	SuccessRate      *float64       `json:"success_rate"` // percent
	SampleSize       int            `json:"sample_size"`  // attempts that ended in the window
	Successes        int            `json:"successes"`
	Failures         int            `json:"failures"`
	FailuresByReason map[string]int `json:"failures_by_reason"`
	// UserFailures and PlatformFailures split Failures by class: a user failure (what was
	// asked cannot work) is a success of the platform (002), counted on its own here.
	UserFailures     int      `json:"user_failures"`
	PlatformFailures int      `json:"platform_failures"`
	LateReadies      int      `json:"late_readies"`
	QueueAverageSecs *float64 `json:"queue_average_seconds"`
}

// Termination are the termination statistics over a window.
type Termination struct {
	Stats
	SampleSize int `json:"sample_size"`
}

// TargetStatus is one target of 000 with where the window stands.
type TargetStatus struct {
	Name   string   `json:"name"`
	Target float64  `json:"target"`
	Alert  float64  `json:"alert"`
	Unit   string   `json:"unit"` // seconds or percent
	Value  *float64 `json:"value"`
	// Status: pass (meets the target), warn (misses the target, within the alert
	// threshold), alert (beyond the alert threshold), no_data.
	Status string `json:"status"`
}

// Recommendation is advice derived from the numbers (000 "Performance Recommendations").
type Recommendation struct {
	Severity string `json:"severity"` // info, warning, critical
	Title    string `json:"title"`
	Detail   string `json:"detail"`
}

// Performance is GET /api/insights/performance-detailed.
type Performance struct {
	EnvironmentPerformance struct {
		Provisioning Provisioning            `json:"provisioning"`
		Termination  Termination             `json:"termination"`
		ByType       map[string]Provisioning `json:"by_type"`
	} `json:"environment_performance"`
	Window  string         `json:"window"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Type    string         `json:"type,omitempty"`
	Targets []TargetStatus `json:"targets"`
	// SLOs are each type's objectives (slos:) and where their error budgets stand,
	// each over its own SLO window up to To (not over Window), sorted by type.
	SLOs            []SLOStatus      `json:"slos"`
	Recommendations []Recommendation `json:"recommendations"`
}

// SLOStatus is one environment type's objectives and where they stand over the SLO's
// window.
type SLOStatus struct {
	Type   string `json:"type"`
	Window string `json:"window"` // the SLO's window, as slos: says it (30d)
	// Latency: the share of the attempts that became ready that were ready within the
	// threshold; Success: the share of the attempts that ended that the platform did not
	// fail (a user failure is a success here).
	Latency          ObjectiveStatus `json:"latency"`
	Success          ObjectiveStatus `json:"success"`
	UserFailures     int             `json:"user_failures"`
	PlatformFailures int             `json:"platform_failures"`
}

// ObjectiveStatus is one objective over an SLO window. Absent values (no attempt) are
// null.
type ObjectiveStatus struct {
	Objective        float64  `json:"objective"`                   // percent
	ThresholdSeconds *float64 `json:"threshold_seconds,omitempty"` // latency only
	Actual           *float64 `json:"actual"`                      // percent, over the window
	Events           int      `json:"events"`                      // attempts the SLI counted in the window
	Bad              int      `json:"bad"`                         // of them, those that missed
	// ErrorBudgetRemaining is the percent of the window's error budget not spent:
	// 100 untouched, 0 spent, negative overspent.
	ErrorBudgetRemaining *float64 `json:"error_budget_remaining"`
	// BurnRate is how fast the last hour spent the budget: its miss ratio over the
	// budget (1 spends it exactly over the window; 14.4 pages, as Sloth's alert).
	BurnRate *float64 `json:"burn_rate"`
}

// Environment is one environment in GET /api/environments, and GET
// /api/environments/{id}.
type Environment struct {
	EnvironmentID         string     `json:"environment_id"`
	EnvironmentName       string     `json:"environment_name"`
	Type                  string     `json:"type"`
	Phase                 string     `json:"phase"`
	Source                string     `json:"source"`
	Repository            string     `json:"repository,omitempty"`
	Branch                string     `json:"branch,omitempty"`
	CommitSHA             string     `json:"commit_sha,omitempty"`
	URL                   string     `json:"url,omitempty"`
	CreatedAt             *time.Time `json:"created_at,omitempty"`
	ProvisioningStartedAt *time.Time `json:"provisioning_started_at,omitempty"`
	ReadyAt               *time.Time `json:"ready_at,omitempty"`
	FailedAt              *time.Time `json:"failed_at,omitempty"`
	FailureReason         string     `json:"failure_reason,omitempty"`
	FailureClass          string     `json:"failure_class,omitempty"`   // user or platform
	FailureMatcher        string     `json:"failure_matcher,omitempty"` // the failures: matcher that decided it
	TerminationStartedAt  *time.Time `json:"termination_started_at,omitempty"`
	// TerminationStuckAt: still terminating when readiness.termination_timeout passed
	// (set from then on, while it terminates; the terminated event says termination_stuck).
	TerminationStuckAt          *time.Time `json:"termination_stuck_at,omitempty"`
	TerminatedAt                *time.Time `json:"terminated_at,omitempty"`
	ProvisioningDurationSeconds *float64   `json:"provisioning_duration_seconds,omitempty"`
	Timeline                    string     `json:"timeline"`
}
