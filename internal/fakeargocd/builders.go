package fakeargocd

import (
	"time"
)

// Label and annotation keys envtrack reads by default (DESIGN §8).
const (
	LabelEnvironmentID    = "blueberry.io/environment-id"
	LabelEnvironmentType  = "blueberry.io/environment-type"
	LabelManaged          = "blueberry.io/managed"
	AnnotationURL         = "blueberry.io/url"
	AnnotationRequestedAt = "blueberry.io/requested-at"
)

// Defaults of NewApp.
const (
	DefaultNamespace   = "argocd"
	DefaultProject     = "default"
	DefaultRepoURL     = "https://github.com/acme/backend-api"
	DefaultPath        = "deploy"
	DefaultBranch      = "main"
	DefaultDestination = "https://kubernetes.default.svc"
	// ResourcesFinalizer is the finalizer that makes Argo CD delete an app's resources
	// before the Application itself goes (cascading delete).
	ResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"
	// MaxHistory is Argo CD's default revisionHistoryLimit.
	MaxHistory = 10
)

// Operation phases, sync statuses and health statuses, as Argo CD spells them.
const (
	OpRunning     = "Running"
	OpTerminating = "Terminating"
	OpFailed      = "Failed"
	OpError       = "Error"
	OpSucceeded   = "Succeeded"

	SyncSynced    = "Synced"
	SyncOutOfSync = "OutOfSync"
	SyncUnknown   = "Unknown"

	HealthHealthy     = "Healthy"
	HealthProgressing = "Progressing"
	HealthDegraded    = "Degraded"
	HealthSuspended   = "Suspended"
	HealthMissing     = "Missing"
	HealthUnknown     = "Unknown"
)

// SucceededMessage is the operation message of a successful sync.
const SucceededMessage = "successfully synced (all tasks run)"

// AppOption configures NewApp.
type AppOption func(*Application)

// NewApp returns an Application as it looks right after creation, before the controller
// reconciled it: metadata, spec and an empty status (sync status "", no health). It lives
// in namespace argocd, project default, deploys DefaultRepoURL/deploy at main to the
// in-cluster destination, namespace = name, and carries the labels
// blueberry.io/environment-id=<name> and blueberry.io/managed=true.
func NewApp(name string, created time.Time, opts ...AppOption) Application {
	a := Application{
		Metadata: ObjectMeta{
			Name:              name,
			Namespace:         DefaultNamespace,
			CreationTimestamp: NewTime(created),
			Labels: map[string]string{
				LabelEnvironmentID: name,
				LabelManaged:       "true",
			},
		},
		Spec: ApplicationSpec{
			Source: &ApplicationSource{
				RepoURL:        DefaultRepoURL,
				Path:           DefaultPath,
				TargetRevision: DefaultBranch,
			},
			Destination: ApplicationDestination{Server: DefaultDestination, Namespace: name},
			Project:     DefaultProject,
		},
	}
	for _, o := range opts {
		o(&a)
	}
	return a
}

// WithLabel sets a label.
func WithLabel(key, value string) AppOption {
	return func(a *Application) {
		if a.Metadata.Labels == nil {
			a.Metadata.Labels = map[string]string{}
		}
		a.Metadata.Labels[key] = value
	}
}

// WithoutLabel removes a label (e.g. the default blueberry.io/managed).
func WithoutLabel(key string) AppOption {
	return func(a *Application) {
		delete(a.Metadata.Labels, key)
		if len(a.Metadata.Labels) == 0 {
			a.Metadata.Labels = nil
		}
	}
}

// WithAnnotation sets an annotation.
func WithAnnotation(key, value string) AppOption {
	return func(a *Application) {
		if a.Metadata.Annotations == nil {
			a.Metadata.Annotations = map[string]string{}
		}
		a.Metadata.Annotations[key] = value
	}
}

// WithEnvironmentID sets the blueberry.io/environment-id label.
func WithEnvironmentID(id string) AppOption { return WithLabel(LabelEnvironmentID, id) }

// WithType sets the blueberry.io/environment-type label.
func WithType(t string) AppOption { return WithLabel(LabelEnvironmentType, t) }

// WithURL sets the blueberry.io/url annotation.
func WithURL(url string) AppOption { return WithAnnotation(AnnotationURL, url) }

// WithRequestedAt sets the blueberry.io/requested-at annotation (RFC 3339, UTC).
func WithRequestedAt(t time.Time) AppOption {
	return WithAnnotation(AnnotationRequestedAt, t.UTC().Format(time.RFC3339))
}

// WithRepo sets spec.source.repoURL.
func WithRepo(url string) AppOption {
	return func(a *Application) { a.source().RepoURL = url }
}

// WithBranch sets spec.source.targetRevision.
func WithBranch(rev string) AppOption {
	return func(a *Application) { a.source().TargetRevision = rev }
}

// WithPath sets spec.source.path.
func WithPath(p string) AppOption {
	return func(a *Application) { a.source().Path = p }
}

// WithProject sets spec.project.
func WithProject(p string) AppOption {
	return func(a *Application) { a.Spec.Project = p }
}

// WithNamespace sets metadata.namespace (apps-in-any-namespace).
func WithNamespace(ns string) AppOption {
	return func(a *Application) { a.Metadata.Namespace = ns }
}

// WithDestination sets spec.destination.
func WithDestination(server, namespace string) AppOption {
	return func(a *Application) {
		a.Spec.Destination = ApplicationDestination{Server: server, Namespace: namespace}
	}
}

// WithSources makes a multi-source Application: spec.source is dropped and spec.sources set.
func WithSources(sources ...ApplicationSource) AppOption {
	return func(a *Application) {
		a.Spec.Source = nil
		a.Spec.Sources = append([]ApplicationSource(nil), sources...)
	}
}

func (a *Application) source() *ApplicationSource {
	if a.Spec.Source == nil {
		if len(a.Spec.Sources) > 0 {
			return &a.Spec.Sources[0]
		}
		a.Spec.Source = &ApplicationSource{}
	}
	return a.Spec.Source
}

// currentSource is the source a sync records (single source apps only; multi-source apps
// record sources, which the fake leaves out).
func (a *Application) currentSource() ApplicationSource {
	if a.Spec.Source != nil {
		return *a.Spec.Source
	}
	return ApplicationSource{}
}

// SetReconciledAt sets status.reconciledAt, as the controller does after each comparison.
func SetReconciledAt(a *Application, at time.Time) {
	a.Status.ReconciledAt = TimePtr(at)
}

// SetExternalURLs sets status.summary.externalURLs (what Argo CD finds in Ingresses and
// the link annotations of the app's resources).
func SetExternalURLs(a *Application, urls ...string) {
	a.Status.Summary.ExternalURLs = append([]string(nil), urls...)
}

// StartSync starts a sync operation at `at` to `revision`: operationState Running with
// startedAt (and no finishedAt), syncResult.revision, sync OutOfSync against revision,
// health Progressing. A sync started by the automated policy, as for a fresh preview.
func StartSync(a *Application, revision string, at time.Time) {
	a.Status.OperationState = &OperationState{
		Operation:  Operation{InitiatedBy: OperationInitiator{Automated: true}},
		Phase:      OpRunning,
		SyncResult: &SyncOperationResult{Revision: revision, Source: a.currentSource()},
		StartedAt:  NewTime(at),
	}
	a.Status.Sync.Status = SyncOutOfSync
	a.Status.Sync.Revision = revision
	SetHealth(a, HealthProgressing, at)
}

// SyncSucceeded ends the current sync operation (or a new one that starts and ends at
// finishedAt) successfully: phase Succeeded with its message and finishedAt, sync Synced
// at revision, and a history entry (deployStartedAt = the operation's startedAt, deployedAt
// = finishedAt, id = previous id + 1) appended, keeping the last MaxHistory entries.
// Health is not touched: Argo CD reports it separately (see SetHealth).
func SyncSucceeded(a *Application, revision string, finishedAt time.Time) {
	op := a.Status.OperationState
	if op == nil || op.Phase != OpRunning {
		op = &OperationState{
			Operation: Operation{InitiatedBy: OperationInitiator{Automated: true}},
			StartedAt: NewTime(finishedAt),
		}
		a.Status.OperationState = op
	}
	op.Phase = OpSucceeded
	op.Message = SucceededMessage
	op.FinishedAt = TimePtr(finishedAt)
	op.SyncResult = &SyncOperationResult{Revision: revision, Source: a.currentSource()}

	a.Status.Sync.Status = SyncSynced
	a.Status.Sync.Revision = revision

	var id int64
	if n := len(a.Status.History); n > 0 {
		id = a.Status.History[n-1].ID + 1
	}
	started := op.StartedAt
	a.Status.History = append(a.Status.History, RevisionHistory{
		Revision:        revision,
		DeployedAt:      NewTime(finishedAt),
		ID:              id,
		Source:          a.currentSource(),
		DeployStartedAt: &started,
		InitiatedBy:     op.Operation.InitiatedBy,
	})
	if n := len(a.Status.History); n > MaxHistory {
		a.Status.History = append([]RevisionHistory(nil), a.Status.History[n-MaxHistory:]...)
	}
}

// SyncFailed ends the current sync operation (or a new one) as Failed with message at
// finishedAt. The sync status stays as compared (typically OutOfSync); no history entry.
func SyncFailed(a *Application, finishedAt time.Time, message string) {
	op := a.Status.OperationState
	if op == nil || op.Phase != OpRunning {
		op = &OperationState{
			Operation: Operation{InitiatedBy: OperationInitiator{Automated: true}},
			StartedAt: NewTime(finishedAt),
		}
		a.Status.OperationState = op
	}
	op.Phase = OpFailed
	op.Message = message
	op.FinishedAt = TimePtr(finishedAt)
	if a.Status.Sync.Status == "" {
		a.Status.Sync.Status = SyncOutOfSync
	}
}

// SetHealth sets status.health.status. Like Argo CD (v2.14+), lastTransitionTime moves to
// `at` only when the status changes; a zero `at` leaves lastTransitionTime out, as servers
// older than v2.14 do (see also WithoutHealthTransitionTime for a whole server).
func SetHealth(a *Application, status string, at time.Time) {
	h := &a.Status.Health
	if h.Status == status && h.LastTransitionTime != nil && !at.IsZero() {
		return
	}
	h.Status = status
	h.LastTransitionTime = TimePtr(at)
}

// MarkDeleting starts a cascading delete at `at`: metadata.deletionTimestamp is set and
// the resources finalizer is present, so the Application stays listed until Delete.
func MarkDeleting(a *Application, at time.Time) {
	a.Metadata.DeletionTimestamp = TimePtr(at)
	for _, f := range a.Metadata.Finalizers {
		if f == ResourcesFinalizer {
			return
		}
	}
	a.Metadata.Finalizers = append(a.Metadata.Finalizers, ResourcesFinalizer)
}

// FixtureApps returns the four Applications of the reference answer
// (shared/reference/argocd/applications-list.json), field for field: pr-099 being deleted,
// pr-101 provisioning, pr-102 ready, pr-103 failed. FixtureResourceVersion is the list's
// resourceVersion. A test proves they encode exactly like the reference.
func FixtureApps() []Application {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tp := func(s string) *Time { return TimePtr(at(s)) }
	base := func(name, typ, created string) Application {
		return Application{
			Metadata: ObjectMeta{
				Name:              name,
				Namespace:         DefaultNamespace,
				ResourceVersion:   "91827",
				CreationTimestamp: NewTime(at(created)),
				Labels: map[string]string{
					LabelEnvironmentID:   name,
					LabelEnvironmentType: typ,
					LabelManaged:         "true",
				},
				Annotations: map[string]string{
					AnnotationURL: "https://" + name + ".preview.example.com/healthz",
				},
			},
			Spec: ApplicationSpec{
				Source: &ApplicationSource{
					RepoURL:        DefaultRepoURL,
					Path:           DefaultPath,
					TargetRevision: "feature/" + name,
				},
				Destination: ApplicationDestination{Server: DefaultDestination, Namespace: name},
				Project:     "previews",
			},
		}
	}
	history := func(rev, deployed, started string) []RevisionHistory {
		return []RevisionHistory{{Revision: rev, DeployedAt: NewTime(at(deployed)), DeployStartedAt: tp(started)}}
	}

	pr099 := base("pr-099", "preview", "2025-01-06T08:00:00Z")
	pr099.Metadata.DeletionTimestamp = tp("2025-01-07T09:59:30Z")
	pr099.Metadata.Finalizers = []string{ResourcesFinalizer}
	pr099.Status = ApplicationStatus{
		Sync:    SyncStatus{Status: SyncSynced, Revision: "5e5e5e5e5e5e"},
		Health:  HealthStatus{Status: HealthHealthy, LastTransitionTime: tp("2025-01-06T08:03:10Z")},
		History: history("5e5e5e5e5e5e", "2025-01-06T08:02:30Z", "2025-01-06T08:00:04Z"),
		OperationState: &OperationState{
			Phase: OpSucceeded, Message: SucceededMessage,
			StartedAt: NewTime(at("2025-01-06T08:00:04Z")), FinishedAt: tp("2025-01-06T08:02:30Z"),
		},
	}

	pr101 := base("pr-101", "preview", "2025-01-07T10:00:00Z")
	pr101.Status = ApplicationStatus{
		Sync:         SyncStatus{Status: SyncOutOfSync, Revision: "1a2b3c4d5e6f"},
		Health:       HealthStatus{Status: HealthProgressing, LastTransitionTime: tp("2025-01-07T10:00:06Z")},
		ReconciledAt: tp("2025-01-07T10:01:00Z"),
		OperationState: &OperationState{
			Phase: OpRunning, Message: "waiting for healthy state of apps/Deployment/backend-api",
			StartedAt: NewTime(at("2025-01-07T10:00:05Z")),
		},
	}

	pr102 := base("pr-102", "preview", "2025-01-07T10:00:00Z")
	pr102.Status = ApplicationStatus{
		Sync:         SyncStatus{Status: SyncSynced, Revision: "9f8e7d6c5b4a"},
		Health:       HealthStatus{Status: HealthHealthy, LastTransitionTime: tp("2025-01-07T10:03:40Z")},
		History:      history("9f8e7d6c5b4a", "2025-01-07T10:02:55Z", "2025-01-07T10:00:05Z"),
		ReconciledAt: tp("2025-01-07T10:05:00Z"),
		OperationState: &OperationState{
			Phase: OpSucceeded, Message: SucceededMessage,
			StartedAt: NewTime(at("2025-01-07T10:00:05Z")), FinishedAt: tp("2025-01-07T10:02:55Z"),
		},
		Summary: ApplicationSummary{
			ExternalURLs: []string{"https://pr-102.preview.example.com"},
			Images:       []string{"ghcr.io/acme/backend-api:9f8e7d6c"},
		},
	}

	pr103 := base("pr-103", "staging", "2025-01-07T10:00:00Z")
	pr103.Status = ApplicationStatus{
		Sync:         SyncStatus{Status: SyncOutOfSync, Revision: "0badc0ffee00"},
		Health:       HealthStatus{Status: HealthDegraded, LastTransitionTime: tp("2025-01-07T10:04:12Z")},
		ReconciledAt: tp("2025-01-07T10:05:00Z"),
		OperationState: &OperationState{
			Phase:     OpFailed,
			Message:   `one or more objects failed to apply, reason: Deployment.apps "backend-api" is invalid`,
			StartedAt: NewTime(at("2025-01-07T10:00:05Z")), FinishedAt: tp("2025-01-07T10:00:09Z"),
		},
	}
	return []Application{pr099, pr101, pr102, pr103}
}

// FixtureResourceVersion is the list resourceVersion of the reference answer.
const FixtureResourceVersion = 91830
