// Package event defines the lifecycle events that envtrack records in its journal and
// delivers to every sink. The names are part of the external contract (DESIGN §2).
package event

import (
	"fmt"
	"time"
)

// Name is a lifecycle event name.
type Name string

// The lifecycle events of DESIGN §2, in the order an environment normally meets them.
const (
	Created             Name = "created"
	ProvisioningStarted Name = "provisioning_started"
	Ready               Name = "ready"
	ProvisioningFailed  Name = "provisioning_failed"
	Deployed            Name = "deployed"
	Degraded            Name = "degraded"
	Recovered           Name = "recovered"
	TerminationStarted  Name = "termination_started"
	Terminated          Name = "terminated"
)

// Names lists every lifecycle event name.
var Names = []Name{Created, ProvisioningStarted, Ready, ProvisioningFailed, Deployed,
	Degraded, Recovered, TerminationStarted, Terminated}

// Valid reports whether n is one of the lifecycle event names.
func (n Name) Valid() bool {
	for _, v := range Names {
		if n == v {
			return true
		}
	}
	return false
}

// Failure reasons carried in a provisioning_failed event's metadata "reason".
const (
	ReasonTimeout            = "timeout"
	ReasonSyncFailed         = "sync_failed"
	ReasonDegraded           = "degraded"
	ReasonURLUnreachable     = "url_unreachable"
	ReasonDeletedBeforeReady = "deleted_before_ready"
)

// Reasons lists every provisioning failure reason.
var Reasons = []string{ReasonTimeout, ReasonSyncFailed, ReasonDegraded, ReasonURLUnreachable, ReasonDeletedBeforeReady}

// ReasonReported is the reason of a pushed provisioning_failed that gave none.
const ReasonReported = "reported"

// PushedReasons are the reasons of pushed failures besides Reasons; together they are
// the closed set of the `reason` label (a pushed reason outside it is "other" there).
var PushedReasons = []string{ReasonReported}

// MarkerStatuses are the statuses of deployment markers that keep their own value in
// the `status` label (anything else is "other"); the first three set failed=true.
var MarkerStatuses = []string{"failed", "failure", "error", "success", "started", "cancelled", "skipped"}

// Event is one lifecycle event. Seq and ID are assigned by the journal when the event is
// appended; everything else by whoever derived the event (the tracker, or the API for
// pushed events).
type Event struct {
	// Seq is the journal's monotonically increasing sequence number (1, 2, ...).
	Seq uint64 `json:"seq"`
	// ID is unique across journals (journal id + seq); sinks use it for idempotency.
	ID string `json:"id"`

	EnvironmentID   string    `json:"environment_id"`
	EnvironmentName string    `json:"environment_name,omitempty"`
	Name            Name      `json:"event"`
	Time            time.Time `json:"timestamp"` // evidence time, not detection time
	Type            string    `json:"type,omitempty"`
	Repository      string    `json:"repository,omitempty"`
	Branch          string    `json:"branch,omitempty"`
	CommitSHA       string    `json:"commit_sha,omitempty"`
	// Metadata holds event-specific details: reason, detected_at, durations, late, ...
	// Values are JSON-compatible (string, float64, bool, ...).
	Metadata map[string]any `json:"metadata,omitempty"`
	// RawMetadata is the metadata as the JSON text a reader found it stored, kept
	// instead of Metadata (then nil) where that text is exactly what json.Marshal
	// writes for it: only a timeline read for the API asks for it, which writes the
	// text as it is (query.RawMetadataBackend). Never journaled.
	RawMetadata string `json:"-"`

	// RecordedAt is when the journal appended the event (retention is by this time).
	RecordedAt time.Time `json:"recorded_at"`
	// Source says where the evidence came from: "argocd", "probe", "api".
	Source string `json:"source,omitempty"`
}

// MakeID builds the globally unique event id from a journal id and a sequence number.
func MakeID(journalID string, seq uint64) string {
	return fmt.Sprintf("%s-%d", journalID, seq)
}

// Meta returns the metadata value for key, or nil.
func (e Event) Meta(key string) any {
	if e.Metadata == nil {
		return nil
	}
	return e.Metadata[key]
}

// Duration metadata keys that become numeric fields and summary values.
const (
	MetaProvisioningDuration = "provisioning_duration_seconds"
	MetaQueueDuration        = "queue_duration_seconds"
	MetaTerminationDuration  = "termination_duration_seconds"
	MetaTotalLifetimeHours   = "total_lifetime_hours"
)

// DurationKeys lists the numeric duration metadata keys.
var DurationKeys = []string{MetaProvisioningDuration, MetaQueueDuration, MetaTerminationDuration, MetaTotalLifetimeHours}

// EnvironmentIDPattern is what an environment id may look like (DESIGN §5): ids reach
// Flux queries, tags and URLs, so anything else is refused at the door.
const EnvironmentIDPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`

// ValidEnvironmentID reports whether id matches EnvironmentIDPattern. It is checked
// for every pushed event, twice for a marker (environment, host), so it is written out
// rather than left to the regexp engine (TestValidEnvironmentIDIsThePattern and its
// fuzz target hold the two to the same answer).
func ValidEnvironmentID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}
