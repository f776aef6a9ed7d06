package tracker

import (
	"time"

	"github.com/blueberry-idp/envtrack/config"
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

// Evidence is what a deployment source shows of one environment, in the tracker's own
// terms: the source maps its vocabulary onto these states and times (for Argo CD,
// exporter/argocd/mapping.go), and the tracker decides on them alone. Zero times mean
// "not shown". Kept in the state (State.App), so its JSON names are those older stores
// hold wherever the meaning did not change.
type Evidence struct {
	AppName       string `json:"app_name,omitempty"`       // the source's name for it (an Argo CD Application's)
	EnvironmentID string `json:"environment_id,omitempty"` // the environment it claims; "" means AppName
	// What describes the environment: its name, type, repository (short name), branch
	// and commit, and the URL its URL check probes ("" for none).
	EnvironmentName string `json:"environment_name,omitempty"`
	Type            string `json:"type,omitempty"`
	Repository      string `json:"repository,omitempty"`
	Branch          string `json:"branch,omitempty"`
	CommitSHA       string `json:"commit_sha,omitempty"`
	URL             string `json:"url,omitempty"`

	RequestedAt time.Time `json:"requested_at,omitzero"` // when the platform asked for it (created)
	CreatedAt   time.Time `json:"created_at,omitzero"`   // when the source created it (provisioning starts)
	DeletionAt  time.Time `json:"deletion_at,omitzero"`  // when its deletion began

	Sync     SyncState `json:"sync,omitempty"`     // whether what runs is what is desired
	Revision string    `json:"revision,omitempty"` // the revision it is synced to

	Health HealthState `json:"health,omitempty"`
	// HealthStatus is the source's own word for Health, quoted in event metadata
	// (health_status); the tracker never decides on it.
	HealthStatus string    `json:"health_status,omitempty"`
	HealthSince  time.Time `json:"health_transition_at,omitzero"` // when Health last changed; zero: not shown
	// HealthMessage is the source's message about Health, and Conditions the error
	// conditions it shows (Argo CD's status.conditions of an *Error type): what a
	// failure's class is decided on (Config.Classify). Bounded by normEvidence.
	HealthMessage string      `json:"health_message,omitempty"`
	Conditions    []Condition `json:"conditions,omitempty"`

	// The last sync operation: its outcome, the source's word for its phase (quoted in
	// event metadata, operation_phase), when it started and finished, its message and the
	// revision it synced.
	Op           OpOutcome `json:"op_outcome,omitempty"`
	OpPhase      string    `json:"op_phase,omitempty"`
	OpStartedAt  time.Time `json:"op_started_at,omitzero"`
	OpFinishedAt time.Time `json:"op_finished_at,omitzero"`
	OpMessage    string    `json:"op_message,omitempty"`
	OpRevision   string    `json:"op_revision,omitempty"`

	// History is the source's record of successful syncs (oldest first) when it was read
	// for this observation (nil: not read); HistoryPending says that reading it failed,
	// so deployments wait for the next observation. Neither is kept in the state.
	History        []Deployment `json:"-"`
	HistoryPending bool         `json:"-"`
}

// Condition is an error condition the source shows, in its own words (Argo CD's
// ComparisonError, InvalidSpecError, ...).
type Condition struct {
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
}

// String is the condition as Argo CD writes it into an operation's message
// (util/argo/argo.go FormatAppConditions): "Type: message".
func (c Condition) String() string {
	if c.Message == "" {
		return c.Type
	}
	return c.Type + ": " + c.Message
}

// Bounds of what the tracker keeps of the source's words (in the state, for each
// environment, and in event metadata): a message of MaxMessageBytes (the start of
// Argo CD's messages says what failed: a helm template's stderr can be kilobytes), at
// most MaxConditions conditions.
const (
	MaxMessageBytes = 2048
	MaxConditions   = 5
)

// SyncState says whether what runs is what is desired.
type SyncState uint8

// Sync states; the zero value is unknown.
const (
	SyncUnknown SyncState = iota
	SyncSynced
	SyncOutOfSync
)

// HealthState is the health of what runs.
type HealthState uint8

// Health states; the zero value is unknown. Degraded before ready fails provisioning;
// degraded or missing after ready is a degradation.
const (
	HealthUnknown HealthState = iota
	HealthHealthy
	HealthProgressing
	HealthSuspended
	HealthDegraded
	HealthMissing // what should run does not exist
)

// OpOutcome is where the last sync operation stands.
type OpOutcome uint8

// Operation outcomes; the zero value is "no operation on record".
const (
	OpNone OpOutcome = iota
	OpRunning
	OpSucceeded
	OpFailed
)

// The states' names, as the stored state (JSON) writes them; one byte each in memory
// (10,000 evidences are held).
var (
	syncNames   = []string{"", "synced", "out_of_sync"}
	healthNames = []string{"", "healthy", "progressing", "suspended", "degraded", "missing"}
	opNames     = []string{"", "running", "succeeded", "failed"}
)

func (s SyncState) String() string                  { return name(syncNames, s) }
func (h HealthState) String() string                { return name(healthNames, h) }
func (o OpOutcome) String() string                  { return name(opNames, o) }
func (s SyncState) MarshalText() ([]byte, error)    { return []byte(s.String()), nil }
func (h HealthState) MarshalText() ([]byte, error)  { return []byte(h.String()), nil }
func (o OpOutcome) MarshalText() ([]byte, error)    { return []byte(o.String()), nil }
func (s *SyncState) UnmarshalText(b []byte) error   { return parse(syncNames, b, s) }
func (h *HealthState) UnmarshalText(b []byte) error { return parse(healthNames, b, h) }
func (o *OpOutcome) UnmarshalText(b []byte) error   { return parse(opNames, b, o) }

func name[T ~uint8](names []string, v T) string {
	if int(v) < len(names) {
		return names[v]
	}
	return ""
}

// parse sets v to the state a name stands for; a name this envtrack does not know (a
// newer one's) reads as unknown rather than failing the whole state.
func parse[T ~uint8](names []string, b []byte, v *T) error {
	*v = 0
	for i, n := range names {
		if n == string(b) {
			*v = T(i)
		}
	}
	return nil
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
	// AskedAt is when the source sent the request whose answer carries App: the answer
	// shows the environment as it was at or after that moment (a list, the GET of one
	// Application, a stream's snapshot). Zero means unknown: an event a stream delivered
	// later may have been held anywhere on the way, and a view evaluated again repeats
	// what an earlier answer showed. Only evidence asked for after a deadline may decide
	// what the deadline needs (a provisioning timeout, a stuck termination).
	AskedAt time.Time
	// Name and Type describe a URL-only environment from the config (with Probe).
	Name, Type string

	App    *Evidence
	Absent bool // a conclusive, complete answer of the source did not contain it
	Probe  *ProbeResult
	Push   *Push
	// Group: pushes of one request (a batch) share a nonzero Group and are applied all
	// or nothing (ProcessBatch).
	Group int
}

// terminationTimeout is the termination timeout of environments of type typ (0: none).
func (c Config) terminationTimeout(typ string) time.Duration {
	if d, ok := c.TerminationTimeoutByType[typ]; ok {
		return d
	}
	return c.TerminationTimeout
}

// Classifier returns the class of a failure (event.ClassUser or event.ClassPlatform) and
// the name of the rule that decided it, from its reason, the types of the error
// conditions shown at the failure, and its messages (the operation's message, each
// condition as "Type: message", the health message, a pushed message). It must be
// pure: the tracker calls it inside Step.
type Classifier func(reason string, conditions, messages []string) (class, matcher string)

// AbsentConfirmations consecutive conclusive observations of absence confirm that an
// Application is gone (terminated): never one failed or odd list (DESIGN §2).
const AbsentConfirmations = 2

// HistoryPatience is how long a readiness waits for the history that dates it (see
// State.ReadySeenAt): after that, ready is dated by the bound the first answer showing
// it gave.
const HistoryPatience = 5 * time.Minute

// ConfigOf is the tracker's configuration in cfg, as config.Load validated it;
// trackingSince is when tracking began (the journal's creation).
func ConfigOf(cfg *config.Config, trackingSince time.Time) Config {
	return Config{
		ProvisioningTimeout:       time.Duration(cfg.Readiness.ProvisioningTimeout),
		TerminationTimeout:        time.Duration(cfg.Readiness.TerminationTimeout.Default),
		TerminationTimeoutByType:  cfg.Readiness.TerminationTimeout.Durations(),
		URLFailuresBeforeDegraded: cfg.Readiness.URL.FailuresBeforeDegraded,
		Classify:                  cfg.Failures.Classify, TrackingSince: trackingSince,
		MaxEnvironments: cfg.API.MaxEnvironments,
	}
}

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
	// TerminationTimeout: terminating this long after termination_started = stuck
	// (readiness.termination_timeout; 0: never); TerminationTimeoutByType overrides it
	// per environment type.
	TerminationTimeout       time.Duration
	TerminationTimeoutByType map[string]time.Duration
	// Classify decides whether a failed provisioning attempt is the user's or the
	// platform's (failures:, compiled at load: config.Failures.Classify); nil leaves
	// failures unclassified.
	Classify Classifier
	// TrackingSince is when this store began tracking. Events derived on the first sight
	// of an environment whose provisioning started before then are history, not live
	// transitions: they carry metadata backfill=true and sinks do not observe them.
	TrackingSince time.Time
	// MaxEnvironments bounds the environments that pushes may create
	// (api.max_environments): a push for a new id when the tracker holds this many is
	// refused with a *FullError. Zero means no bound.
	MaxEnvironments int
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
	// FailureClass and FailureMatcher: whose failure it was (event.ClassUser or
	// event.ClassPlatform) and the failures: matcher that said so.
	FailureClass         string    `json:"failure_class,omitempty"`
	FailureMatcher       string    `json:"failure_matcher,omitempty"`
	TerminationStartedAt time.Time `json:"termination_started_at,omitzero"`
	TerminatedAt         time.Time `json:"terminated_at,omitzero"`
	EverReady            bool      `json:"ever_ready,omitempty"`
	// TerminationStuckAt is when the termination outlasted readiness.termination_timeout
	// (termination_started + timeout), once an answer given after that showed the
	// environment still there; zero while it is not stuck.
	TerminationStuckAt time.Time `json:"termination_stuck_at,omitzero"`

	// ReadySeenAt is the first answer that showed the environment ready while the
	// history that dates its readiness could not be read, and ReadyBy the readiness it
	// then showed (never after ReadySeenAt): ready waits for the history, and is never
	// dated after either (HistoryPatience).
	ReadySeenAt time.Time `json:"ready_seen_at,omitzero"`
	ReadyBy     time.Time `json:"ready_by,omitzero"`

	// App is the source's evidence as last seen (nil for environments without one).
	App *Evidence `json:"app,omitempty"`
	// DeployedRevision and DeployedAt: the revision running since ready or the last
	// deployed event, and the finishedAt of the sync that put it there.
	DeployedRevision string    `json:"deployed_revision,omitempty"`
	DeployedAt       time.Time `json:"deployed_at,omitzero"`
	// HistoryCheckedAt is the finishedAt of the last operation whose status.history
	// envtrack read, so one operation costs one history fetch.
	HistoryCheckedAt time.Time `json:"history_checked_at,omitzero"`
	// HistoryRefusedAt is the finishedAt, refused as evidence for lying in the future
	// (boundEvidence), of the last operation whose status.history envtrack read: it
	// cannot advance HistoryCheckedAt, and is kept so that the operation is read once,
	// not on every poll.
	HistoryRefusedAt time.Time `json:"history_refused_at,omitzero"`

	// Degradation causes after ready.
	HealthDegradedAt time.Time `json:"health_degraded_at,omitzero"`
	URLDegradedAt    time.Time `json:"url_degraded_at,omitzero"`

	// URL probing: the current streak.
	URLPassingSince time.Time `json:"url_passing_since,omitzero"` // first passing probe of the current passing streak
	URLFailingSince time.Time `json:"url_failing_since,omitzero"` // first failing probe of the current failing streak
	URLFailures     int       `json:"url_failures,omitempty"`     // consecutive failures
	URLLastError    string    `json:"url_last_error,omitempty"`

	// Absence from the source's complete answers.
	AbsentCount int       `json:"absent_count,omitempty"`
	AbsentSince time.Time `json:"absent_since,omitzero"`

	LastObservedAt time.Time `json:"last_observed_at,omitzero"`
	// AppSeenAt is the latest request time (Observation.AskedAt) of an answer of the
	// source that showed the environment, and URLProbedAt when a URL probe last actually
	// ran. A deadline is decided only on evidence asked for after it, so these say how
	// fresh the evidence is. Like LastObservedAt they change on every observation and alone never cause a
	// write: after a restart they may be older than the truth, which only delays a
	// timeout to the next observation.
	AppSeenAt   time.Time `json:"argo_seen_at,omitzero"`
	URLProbedAt time.Time `json:"url_probed_at,omitzero"`
}
