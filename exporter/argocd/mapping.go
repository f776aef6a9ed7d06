package argocd

import (
	"strings"
	"time"
	"unique"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Mapping translates an Application into the tracker's evidence: which labels and
// annotations carry envtrack's fields (the argocd section of the configuration; an empty
// key means "not configured", and empty label and annotation values count as absent),
// and what Argo CD's statuses mean in the tracker's terms.
type Mapping struct {
	EnvironmentIDLabel    string // else the Application name
	EnvironmentTypeLabel  string // else DefaultType
	URLAnnotation         string // else status.summary.externalURLs[0]
	RequestedAtAnnotation string // RFC 3339
	RepositoryLabel       string // overrides the short name of the source repoURL
	BranchLabel           string // overrides the source targetRevision
	CommitLabel           string // overrides status.sync.revision
	DefaultType           string // argocd.default_type

	// BadAnnotations, if set, counts annotations that could not be parsed
	// (envtrack_argocd_bad_annotations_total).
	BadAnnotations prometheus.Counter
}

// newMapping is the mapping the argocd section cfg configures; bad counts unparseable
// annotations (or nil).
func newMapping(cfg config.ArgoCDConfig, bad prometheus.Counter) Mapping {
	return Mapping{
		EnvironmentIDLabel:    cfg.EnvironmentIDLabel,
		EnvironmentTypeLabel:  cfg.EnvironmentTypeLabel,
		URLAnnotation:         cfg.URLAnnotation,
		RequestedAtAnnotation: cfg.RequestedAtAnnotation,
		RepositoryLabel:       cfg.RepositoryLabel,
		BranchLabel:           cfg.BranchLabel,
		CommitLabel:           cfg.CommitLabel,
		DefaultType:           cfg.DefaultType,
		BadAnnotations:        bad,
	}
}

// Evidence maps an Application to what the tracker reads (DESIGN §2):
//
//   - EnvironmentID: the EnvironmentIDLabel label, else the Application name.
//   - Type: the EnvironmentTypeLabel label, else DefaultType.
//   - The source is spec.source; for a multi-source app the first of spec.sources that is
//     not a `ref` (values-only) source; else the source hydrator's drySource.
//   - Repository: the RepositoryLabel label, else the source's chart for a Helm chart
//     source, else the short name of its repoURL (RepoShortName).
//   - Branch: the BranchLabel label, else the source's targetRevision.
//   - Revision: status.sync.revision (status.sync.revisions[i] for multi-source apps),
//     else, when the server trimmed it (the `fields` of Argo CD v2.x/v3.x), the
//     operation's revision (OpRevision). CommitSHA: the CommitLabel label, else Revision.
//   - URL: the URLAnnotation annotation, else the first status.summary.externalURLs.
//   - RequestedAt: the RequestedAtAnnotation annotation as RFC 3339; unparseable gives the
//     zero time and counts in BadAnnotations.
//   - OpRevision: status.operationState.syncResult.revision, else the revision of the
//     operation (where trimmed answers put the sync result).
//   - Sync, Health and Op: status.sync.status, status.health.status (since
//     status.health.lastTransitionTime) and status.operationState.phase in the tracker's
//     terms (syncState, healthState, opOutcome); the health status and the phase are
//     also kept as Argo CD says them, which event metadata quotes.
//   - HealthMessage and Conditions: status.health.message and the error ones of
//     status.conditions (a type ending in "Error"), what a failure's class is decided on.
//
// Every time is in UTC; absent ones are zero.
func (m Mapping) Evidence(a Application) tracker.Evidence {
	src, idx := a.Spec.primarySource()
	ev := tracker.Evidence{
		AppName:         a.Metadata.Name,
		EnvironmentName: a.Metadata.Name,
		CreatedAt:       utc(a.Metadata.CreationTimestamp),
		DeletionAt:      utc(a.Metadata.DeletionTimestamp),

		Sync:         syncState(a.Status.Sync.Status),
		Health:       healthState(a.Status.Health.Status),
		HealthStatus: a.Status.Health.Status,
		HealthSince:  utc(a.Status.Health.LastTransitionTime),
		// What a failure's class is decided on (the tracker bounds them).
		HealthMessage: a.Status.Health.Message,
	}
	for _, c := range a.Status.Conditions {
		if c.IsError() {
			ev.Conditions = append(ev.Conditions, tracker.Condition{Type: c.Type, Message: c.Message})
		}
	}
	if op := a.Status.OperationState; op != nil {
		ev.Op, ev.OpPhase = opOutcome(op.Phase), op.Phase
		ev.OpStartedAt = utc(op.StartedAt)
		ev.OpFinishedAt = utc(op.FinishedAt)
		ev.OpMessage = op.Message
		if op.SyncResult != nil {
			ev.OpRevision = op.SyncResult.pick(idx)
		}
		if ev.OpRevision == "" && op.Operation.Sync != nil {
			ev.OpRevision = op.Operation.Sync.pick(idx)
		}
	}
	if a.Status.History != nil {
		ev.History = m.Deployments(a, a.Status.History)
	}
	ev.Revision = (&RevisionRef{Revision: a.Status.Sync.Revision, Revisions: a.Status.Sync.Revisions}).pick(idx)
	if ev.Revision == "" {
		ev.Revision = ev.OpRevision
	}

	repo := RepoShortName(src.RepoURL)
	if src.Chart != "" {
		repo = src.Chart
	}
	ev.EnvironmentID = m.label(a, m.EnvironmentIDLabel, a.Metadata.Name)
	ev.Type = m.label(a, m.EnvironmentTypeLabel, m.DefaultType)
	ev.Repository = m.label(a, m.RepositoryLabel, repo)
	ev.Branch = m.label(a, m.BranchLabel, src.TargetRevision)
	ev.CommitSHA = m.label(a, m.CommitLabel, ev.Revision)

	intern(&ev.Type, &ev.Repository, &ev.CommitSHA, &ev.Revision, &ev.OpRevision, &ev.HealthStatus, &ev.OpPhase, &ev.OpMessage)

	ev.URL = m.annotation(a, m.URLAnnotation)
	if ev.URL == "" {
		for _, u := range a.Status.Summary.ExternalURLs {
			if u = strings.TrimSpace(u); u != "" {
				ev.URL = u
				break
			}
		}
	}
	if v := m.annotation(a, m.RequestedAtAnnotation); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if m.BadAnnotations != nil {
				m.BadAnnotations.Inc()
			}
		} else {
			ev.RequestedAt = t.UTC()
		}
	}
	return ev
}

// Argo CD's words (pkg/apis/application/v1alpha1 SyncStatusCode, gitops-engine
// pkg/health HealthStatusCode and pkg/sync/common OperationPhase) in the tracker's terms.
const (
	syncSynced        = "Synced"
	syncOutOfSync     = "OutOfSync"
	healthHealthy     = "Healthy"
	healthProgressing = "Progressing"
	healthSuspended   = "Suspended"
	healthDegraded    = "Degraded"
	healthMissing     = "Missing"
	opSucceeded       = "Succeeded"
	opFailed          = "Failed"
	opError           = "Error"
)

// syncState is status.sync.status: Synced, OutOfSync; anything else (Unknown, absent)
// is unknown.
func syncState(s string) tracker.SyncState {
	switch s {
	case syncSynced:
		return tracker.SyncSynced
	case syncOutOfSync:
		return tracker.SyncOutOfSync
	}
	return tracker.SyncUnknown
}

// healthState is status.health.status; Unknown, absent or a custom check's own word
// is unknown.
func healthState(s string) tracker.HealthState {
	switch s {
	case healthHealthy:
		return tracker.HealthHealthy
	case healthProgressing:
		return tracker.HealthProgressing
	case healthSuspended:
		return tracker.HealthSuspended
	case healthDegraded:
		return tracker.HealthDegraded
	case healthMissing:
		return tracker.HealthMissing
	}
	return tracker.HealthUnknown
}

// opOutcome is status.operationState.phase: Succeeded; Failed or Error (the sync
// failed, or could not run); "" when no operation is on record; any other phase
// (Running, Terminating) is still running.
func opOutcome(phase string) tracker.OpOutcome {
	switch phase {
	case "":
		return tracker.OpNone
	case opSucceeded:
		return tracker.OpSucceeded
	case opFailed, opError:
		return tracker.OpFailed
	}
	return tracker.OpRunning
}

func (m Mapping) label(a Application, key, fallback string) string {
	if key != "" {
		if v := strings.TrimSpace(a.Metadata.Labels[key]); v != "" {
			return v
		}
	}
	return fallback
}

func (m Mapping) annotation(a Application, key string) string {
	if key == "" {
		return ""
	}
	return strings.TrimSpace(a.Metadata.Annotations[key])
}

// primarySource returns the source envtrack describes the app by, and its index in
// spec.sources (-1 when not a multi-source app).
func (s Spec) primarySource() (ApplicationSource, int) {
	switch {
	case s.Source != nil:
		return *s.Source, -1
	case len(s.Sources) > 0:
		for i, src := range s.Sources {
			if src.Ref == "" {
				return src, i
			}
		}
		return s.Sources[0], 0
	case s.SourceHydrator != nil:
		return s.SourceHydrator.DrySource, -1
	}
	return ApplicationSource{}, -1
}

// pick returns the revision of source idx (-1: single source).
func (r *RevisionRef) pick(idx int) string {
	if r.Revision != "" || idx < 0 {
		return r.Revision
	}
	if idx < len(r.Revisions) {
		return r.Revisions[idx]
	}
	return ""
}

// RepoShortName is the last path element of a Git URL without ".git":
// https://github.com/acme/backend-api.git, git@github.com:acme/backend-api.git and
// ssh://git@host:22/acme/backend-api/ all give "backend-api".
func RepoShortName(repoURL string) string {
	s := strings.TrimSpace(repoURL)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "/")
	s = strings.TrimSuffix(s, ".git")
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// intern makes each string the one canonical copy of its value (unique.Make): the
// values Applications repeat (types, repositories, revisions, statuses, messages) are
// then held once, not once per Application held (100,000 of them, each decoded from its
// own event).
func intern(fields ...*string) {
	for _, f := range fields {
		if *f != "" {
			*f = unique.Make(*f).Value()
		}
	}
}
