package apitypes

import (
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
	LateReadies      int            `json:"late_readies"`
	QueueAverageSecs *float64       `json:"queue_average_seconds"`
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
	Window          string           `json:"window"`
	From            time.Time        `json:"from"`
	To              time.Time        `json:"to"`
	Type            string           `json:"type,omitempty"`
	Targets         []TargetStatus   `json:"targets"`
	Recommendations []Recommendation `json:"recommendations"`
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
	TerminationStartedAt  *time.Time `json:"termination_started_at,omitempty"`
	// TerminationStuckAt: still terminating when readiness.termination_timeout passed
	// (set from then on, while it terminates; the terminated event says termination_stuck).
	TerminationStuckAt          *time.Time `json:"termination_stuck_at,omitempty"`
	TerminatedAt                *time.Time `json:"terminated_at,omitempty"`
	ProvisioningDurationSeconds *float64   `json:"provisioning_duration_seconds,omitempty"`
	Timeline                    string     `json:"timeline"`
}
