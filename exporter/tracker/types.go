package tracker

import (
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Phase is an environment's current lifecycle phase (the `phase` label of
// blueberry_environments and the `phase` field of GET /api/environments).
type Phase string

// Phases, in lifecycle order.
const (
	PhaseRequested    Phase = "requested"    // created, not yet provisioning
	PhaseProvisioning Phase = "provisioning" // provisioning_started, not yet ready/failed
	PhaseReady        Phase = "ready"
	PhaseFailed       Phase = "failed" // provisioning_failed, never (late) ready
	PhaseDegraded     Phase = "degraded"
	PhaseTerminating  Phase = "terminating"
	PhaseTerminated   Phase = "terminated"
)

// Phases lists every phase.
var Phases = []Phase{PhaseRequested, PhaseProvisioning, PhaseReady, PhaseFailed, PhaseDegraded, PhaseTerminating, PhaseTerminated}

// Sources of an environment.
const (
	SourceArgoCD = "argocd" // an Argo CD Application
	SourceStatic = "static" // a URL-only environment from the config
	SourceAPI    = "api"    // known only from pushed events
)

// AppEvidence is what envtrack reads of one Argo CD Application, already mapped through
// the configured labels and annotations. Zero times mean "absent from the answer".
type AppEvidence struct {
	AppName         string `json:"app_name,omitempty"`         // metadata.name
	EnvironmentID   string `json:"environment_id,omitempty"`   // label argocd.environment_id_label, else AppName
	EnvironmentName string `json:"environment_name,omitempty"` // AppName
	Type            string `json:"type,omitempty"`             // label argocd.environment_type_label
	Repository      string `json:"repository,omitempty"`       // short name of spec.source.repoURL (or label override)
	Branch          string `json:"branch,omitempty"`           // spec.source.targetRevision (or label override)
	CommitSHA       string `json:"commit_sha,omitempty"`       // status.sync.revision (or label override)
	URL             string `json:"url,omitempty"`              // annotation argocd.url_annotation, else status.summary.externalURLs[0]

	RequestedAt time.Time `json:"requested_at,omitzero"` // annotation argocd.requested_at_annotation (RFC 3339)
	CreatedAt   time.Time `json:"created_at,omitzero"`   // metadata.creationTimestamp
	DeletionAt  time.Time `json:"deletion_at,omitzero"`  // metadata.deletionTimestamp

	SyncStatus string `json:"sync_status,omitempty"` // status.sync.status: Synced|OutOfSync|Unknown
	Revision   string `json:"revision,omitempty"`    // status.sync.revision

	HealthStatus       string    `json:"health_status,omitempty"`       // status.health.status
	HealthTransitionAt time.Time `json:"health_transition_at,omitzero"` // status.health.lastTransitionTime (v2.14+; may be zero)

	OpPhase      string    `json:"op_phase,omitempty"`      // status.operationState.phase: Running|Terminating|Failed|Error|Succeeded
	OpStartedAt  time.Time `json:"op_started_at,omitzero"`  // status.operationState.startedAt
	OpFinishedAt time.Time `json:"op_finished_at,omitzero"` // status.operationState.finishedAt
	OpMessage    string    `json:"op_message,omitempty"`    // status.operationState.message
	OpRevision   string    `json:"op_revision,omitempty"`   // status.operationState.syncResult.revision, if present

	// History is status.history (oldest first) when it was fetched for this observation
	// (nil: not fetched); HistoryPending says that fetching it failed, so deployments
	// wait for the next observation. Neither is kept in the state.
	History        []Deployment `json:"-"`
	HistoryPending bool         `json:"-"`
}

// ProbeResult is one URL probe of an environment.
type ProbeResult struct {
	URL        string
	At         time.Time // when the probe was sent
	OK         bool      // answered with an expected status code
	StatusCode int       // 0 when no answer
	Err        string    // why it failed, short
}

// Push is a lifecycle event pushed through POST /api/events.
type Push struct {
	Event    event.Name
	Time     time.Time
	Metadata map[string]any
	// Optional descriptive fields; empty means "keep what is known".
	Name, Type, Repository, Branch, CommitSHA string
	// IdempotencyKey is the request's Idempotency-Key header, kept in the events'
	// metadata (MetaIdempotencyKey) so that a retry is known after a restart too.
	IdempotencyKey string
}

// MetaIdempotencyKey is the metadata key holding a push's Idempotency-Key.
const MetaIdempotencyKey = event.MetaIdempotencyKey

// Observation is one piece of evidence about one environment. Exactly one of App,
// Absent, Probe or Push is set; with none set it is a tick (only time passes, which
// matters for the provisioning timeout).
type Observation struct {
	EnvironmentID string
	At            time.Time // when envtrack observed it; becomes detected_at
	// Name and Type describe a URL-only environment from the config (with Probe).
	Name, Type string

	App    *AppEvidence
	Absent bool // a conclusive, successful Argo CD list did not contain the Application
	Probe  *ProbeResult
	Push   *Push
	// Group: pushes of one request (a batch) share a nonzero Group and are applied all
	// or nothing (ProcessBatch).
	Group int
}

// AbsentConfirmations consecutive conclusive observations of absence confirm that an
// Application is gone (terminated): never one failed or odd list (DESIGN §2).
const AbsentConfirmations = 2

// Config holds the tracker's settings, from the readiness section of the config as
// config.Load validated it (no field is defaulted here).
type Config struct {
	// ProvisioningTimeout: not ready this long after provisioning_started = failed
	// (readiness.provisioning_timeout).
	ProvisioningTimeout time.Duration
	// URLFailuresBeforeDegraded consecutive failing probes after ready make the
	// environment degraded (the time is the first failing probe's)
	// (readiness.url.failures_before_degraded).
	URLFailuresBeforeDegraded int
	// TrackingSince is when this store began tracking. Events derived on the first sight
	// of an environment whose provisioning started before then are history, not live
	// transitions: they carry metadata backfill=true and sinks do not observe them.
	TrackingSince time.Time
}

// State is everything the tracker knows of one environment. It is persisted (as JSON)
// atomically with the events that a transition emits, so a restart neither repeats nor
// loses a transition.
type State struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Type       string `json:"type,omitempty"`
	Repository string `json:"repository,omitempty"`
	Branch     string `json:"branch,omitempty"`
	CommitSHA  string `json:"commit_sha,omitempty"`
	URL        string `json:"url,omitempty"`
	Source     string `json:"source"`
	AppName    string `json:"app_name,omitempty"`

	Phase Phase `json:"phase"`

	CreatedAt             time.Time `json:"created_at,omitzero"`
	ProvisioningStartedAt time.Time `json:"provisioning_started_at,omitzero"`
	ReadyAt               time.Time `json:"ready_at,omitzero"`
	FailedAt              time.Time `json:"failed_at,omitzero"`
	FailureReason         string    `json:"failure_reason,omitempty"`
	TerminationStartedAt  time.Time `json:"termination_started_at,omitzero"`
	TerminatedAt          time.Time `json:"terminated_at,omitzero"`
	EverReady             bool      `json:"ever_ready,omitempty"`

	// App is the Argo CD evidence as last seen (nil for environments without one).
	App *AppEvidence `json:"app,omitempty"`
	// DeployedRevision and DeployedAt: the revision running since ready or the last
	// deployed event, and the finishedAt of the sync that put it there.
	DeployedRevision string    `json:"deployed_revision,omitempty"`
	DeployedAt       time.Time `json:"deployed_at,omitzero"`
	// HistoryCheckedAt is the finishedAt of the last operation whose status.history
	// envtrack read, so one operation costs one history fetch.
	HistoryCheckedAt time.Time `json:"history_checked_at,omitzero"`

	// Degradation causes after ready.
	HealthDegradedAt time.Time `json:"health_degraded_at,omitzero"`
	URLDegradedAt    time.Time `json:"url_degraded_at,omitzero"`

	// URL probing: the current streak.
	URLPassingSince time.Time `json:"url_passing_since,omitzero"` // first passing probe of the current passing streak
	URLFailingSince time.Time `json:"url_failing_since,omitzero"` // first failing probe of the current failing streak
	URLFailures     int       `json:"url_failures,omitempty"`     // consecutive failures
	URLLastError    string    `json:"url_last_error,omitempty"`

	// Absence from Argo CD lists.
	AbsentCount int       `json:"absent_count,omitempty"`
	AbsentSince time.Time `json:"absent_since,omitzero"`

	LastObservedAt time.Time `json:"last_observed_at,omitzero"`
	// ArgoSeenAt is when a successful Argo CD answer last showed the Application, and
	// URLProbedAt when a URL probe last actually ran. A provisioning timeout is decided
	// only on evidence observed after the deadline, so these say how fresh the evidence
	// is. Like LastObservedAt they change on every observation and alone never cause a
	// write: after a restart they may be older than the truth, which only delays a
	// timeout to the next observation.
	ArgoSeenAt  time.Time `json:"argo_seen_at,omitzero"`
	URLProbedAt time.Time `json:"url_probed_at,omitzero"`
}
