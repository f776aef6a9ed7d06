package event

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Metadata keys. They are part of the external contract (timelines, the InfluxDB
// metadata field, annotation texts), so each is written here once and every reader and
// writer uses the constant.
const (
	MetaDetectedAt = "detected_at" // when envtrack noticed, RFC 3339 (the event's time is its evidence)
	MetaBackfill   = "backfill"    // true: history found on the first poll, not a live transition
	MetaLate       = "late"        // true: a ready after a failure, neither success nor observation
	MetaBaseline   = "baseline"    // true: a URL-only environment's first answer, no attempt
	MetaReason     = "reason"      // provisioning_failed: one of Reasons
	MetaStatus     = "status"      // deployed and markers: success, failed, ...
	MetaKind       = "kind"        // markers: KindDeployment
	MetaSource     = "source"      // created from the platform's annotation: "annotation"
	MetaEvidence   = "evidence"    // which Argo CD field or observation dated the event
	MetaRevision   = "revision"    // deployed: the synced revision
	MetaCause      = "cause"       // degraded: "health" or "url"
	MetaPushed     = "pushed"      // true: the event came from POST /api/events
	// MetaIdempotencyKey: a push's Idempotency-Key header, kept so that a retry is
	// known after a restart too.
	MetaIdempotencyKey = "idempotency_key"

	MetaReadinessSummary           = "readiness_summary"
	MetaPendingChecks              = "pending_checks"
	MetaTimeoutSeconds             = "timeout_seconds"
	MetaMessage                    = "message"
	MetaOperationPhase             = "operation_phase"
	MetaHealthStatus               = "health_status"
	MetaHealthTimeSource           = "health_time_source"
	MetaURLError                   = "url_error"
	MetaDeployDuration             = "deploy_duration_seconds"
	MetaConfirmations              = "confirmations"
	MetaTerminationStartedObserved = "termination_started_observed"
	MetaPreviousRevision           = "previous_revision"
	// MetaTerminationStuck: true on a terminated event whose termination outlasted
	// readiness.termination_timeout.
	MetaTerminationStuck = "termination_stuck"
	// MetaHistoryUnread: true on a ready dated by the answer that first showed it,
	// because the history that dates it could not be read.
	MetaHistoryUnread = "history_unread"
	MetaRepository    = "repository"
	MetaBranch        = "branch"
	MetaCommitSHA     = "commit_sha"
	// MetaConditions: a failure's error conditions as the source showed them
	// ("ComparisonError: ...", as Argo CD's FormatAppConditions writes them), one string.
	MetaConditions = "conditions"
	// MetaHealthMessage: the source's message about the health it reports.
	MetaHealthMessage = "health_message"

	// MetaFailureClass: provisioning_failed: who the failure belongs to, one of
	// FailureClasses (the platform's success SLI counts a user failure as a success, 002).
	MetaFailureClass = "failure_class"
	// MetaFailureMatcher: provisioning_failed: the name of the failures: matcher that
	// decided the class (MatcherPushed when the push said it, MatcherUnmatched when none did).
	MetaFailureMatcher = "failure_matcher"

	// Deployment markers' metadata (besides MetaKind and MetaStatus).
	MetaHost        = "host"
	MetaApplication = "application"
	MetaActivity    = "activity"
	MetaFailed      = "failed"
)

// Kind says what a journal entry is: a lifecycle event (the zero Kind) or a marker.
// Deployment markers (DESIGN §3 "activity markers", 001) travel through the journal as
// events named Deployed whose metadata MetaKind is KindDeployment; EnvironmentID holds
// the marker's environment and the metadata the Marker. They are not lifecycle
// transitions of a tracked environment.
type Kind string

// The kinds of journal entries.
const (
	KindLifecycle  Kind = ""
	KindDeployment Kind = "deployment"
)

// Kind is the entry's kind, KindLifecycle unless its metadata says otherwise.
func (e Event) Kind() Kind {
	switch k := e.Meta(MetaKind).(type) {
	case string: // after the journal's JSON round trip
		return Kind(k)
	case Kind: // set in Go
		return k
	}
	return KindLifecycle
}

// IsMarker reports whether e is a deployment marker rather than a lifecycle event.
func (e Event) IsMarker() bool { return e.Kind() == KindDeployment }

// Marker is what a deployment marker (001) carries besides its environment and time.
type Marker struct {
	Host        string
	Application string
	Activity    string
	Status      string
	Failed      bool
}

// Metadata is the marker as event metadata (Host only when set).
func (m Marker) Metadata() map[string]any {
	meta := map[string]any{MetaKind: string(KindDeployment), MetaApplication: m.Application,
		MetaActivity: m.Activity, MetaStatus: m.Status, MetaFailed: m.Failed}
	if m.Host != "" {
		meta[MetaHost] = m.Host
	}
	return meta
}

// Marker reads a deployment marker's fields back from e's metadata.
func (e Event) Marker() Marker {
	failed, _ := e.Meta(MetaFailed).(bool)
	return Marker{Host: e.MetaString(MetaHost), Application: e.MetaString(MetaApplication),
		Activity: e.MetaString(MetaActivity), Status: e.MetaString(MetaStatus), Failed: failed}
}

// MetaString is the metadata value for key as text: "" when missing, fmt.Sprint of a
// value that is not a string.
func (e Event) MetaString(key string) string {
	switch v := e.Meta(key).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// MetaFloat is the metadata value for key as a finite number: float64 after the journal's
// JSON round trip, any Go number when the event comes straight from the tracker.
func (e Event) MetaFloat(key string) (float64, bool) { return Number(e.Meta(key)) }

// Number converts a JSON-ish number (float64, json.Number, or any Go integer or float)
// to a finite float64.
func Number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func (e Event) metaBool(key string) bool {
	b, _ := e.Meta(key).(bool)
	return b
}

// Backfill reports whether e is history found on the first poll (not a live transition).
func (e Event) Backfill() bool { return e.metaBool(MetaBackfill) }

// Late reports whether e is a ready that came after a failure.
func (e Event) Late() bool { return e.metaBool(MetaLate) }

// Baseline reports whether e is a URL-only environment's first answer.
func (e Event) Baseline() bool { return e.metaBool(MetaBaseline) }

// Reason is a provisioning_failed event's reason, "" when missing or not a string.
func (e Event) Reason() string {
	r, _ := e.Meta(MetaReason).(string)
	return r
}

// Failure classes (MetaFailureClass): a failed provisioning attempt is the user's (what
// they asked for cannot work: a chart that does not render, an invalid spec) or the
// platform's (it could not provide what was asked: a timeout, an unreachable cluster or
// repo-server).
const (
	ClassUser     = "user"
	ClassPlatform = "platform"
)

// FailureClasses lists the failure classes: the closed set of the `class` label.
var FailureClasses = []string{ClassUser, ClassPlatform}

// Matcher names that are no configured matcher's (MetaFailureMatcher).
const (
	MatcherPushed    = "pushed"    // the push that reported the failure named its class
	MatcherUnmatched = "unmatched" // no matcher matched: the platform's, to be safe
)

// FailureClass is a provisioning_failed event's class. A failure recorded before
// envtrack classified failures (or pushed without a class by a foreign writer of the
// TSDB) has none: it is the platform's, as every failure was before.
func (e Event) FailureClass() string {
	if c, _ := e.Meta(MetaFailureClass).(string); c == ClassUser {
		return ClassUser
	}
	return ClassPlatform
}

// DetectedAt is when envtrack noticed e, false when unknown.
func (e Event) DetectedAt() (time.Time, bool) {
	s, _ := e.Meta(MetaDetectedAt).(string)
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}
