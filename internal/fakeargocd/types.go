package fakeargocd

import (
	"encoding/json"
	"fmt"
	"time"
)

// The types below mirror the JSON encoding of Argo CD's v1alpha1.Application (v2.14 and
// v3.x): same keys, same omitempty rules, so that empty sub-objects come out exactly as the
// real encoder writes them ("summary":{}, "comparedTo":{"source":{"repoURL":""},
// "destination":{}}, "id":0, "initiatedBy":{}). Only the parts envtrack, its tests and
// its demo touch are modelled; the fidelity test decodes the reference answer with
// DisallowUnknownFields, so anything in it that is not modelled here fails the test.

// Time is metav1.Time: RFC 3339 in UTC with second precision, and JSON null when zero
// (Kubernetes writes "creationTimestamp":null for an unset value; omitempty does not
// apply to structs).
type Time struct {
	time.Time
}

// NewTime returns t as a Time, in UTC and truncated to the second as Kubernetes stores it.
func NewTime(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}
	return Time{t.UTC().Truncate(time.Second)}
}

// TimePtr returns a pointer to NewTime(t), or nil when t is zero.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	v := NewTime(t)
	return &v
}

// MarshalJSON implements json.Marshaler like metav1.Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler like metav1.Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	pt, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("fakeargocd: bad timestamp %q: %w", s, err)
	}
	t.Time = pt.UTC()
	return nil
}

// ApplicationList is the answer of GET /api/v1/applications.
type ApplicationList struct {
	Kind       string        `json:"kind,omitempty"`
	APIVersion string        `json:"apiVersion,omitempty"`
	Metadata   ListMeta      `json:"metadata"`
	Items      []Application `json:"items"`
}

// ListMeta is metav1.ListMeta.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Application is an Argo CD Application as the API server encodes it. TypeMeta (kind,
// apiVersion) is empty in API answers: the server hands out informer objects.
type Application struct {
	Kind       string            `json:"kind,omitempty"`
	APIVersion string            `json:"apiVersion,omitempty"`
	Metadata   ObjectMeta        `json:"metadata"`
	Spec       ApplicationSpec   `json:"spec"`
	Status     ApplicationStatus `json:"status,omitempty"`
	Operation  *Operation        `json:"operation,omitempty"`
}

// ObjectMeta is the part of metav1.ObjectMeta an Application carries in practice.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          Time              `json:"creationTimestamp,omitempty"`
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
}

// ApplicationSpec is the desired state.
type ApplicationSpec struct {
	Source         *ApplicationSource     `json:"source,omitempty"`
	Destination    ApplicationDestination `json:"destination"`
	Project        string                 `json:"project"`
	SyncPolicy     *SyncPolicy            `json:"syncPolicy,omitempty"`
	Sources        []ApplicationSource    `json:"sources,omitempty"`
	SourceHydrator *SourceHydrator        `json:"sourceHydrator,omitempty"`
}

// ApplicationSource is where the manifests come from. RepoURL has no omitempty in Argo CD,
// hence "source":{"repoURL":""} for an empty source.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Chart          string `json:"chart,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Name           string `json:"name,omitempty"`
}

// ApplicationDestination is the target cluster and namespace.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy controls automated sync.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
}

// SyncPolicyAutomated is spec.syncPolicy.automated.
type SyncPolicyAutomated struct {
	Prune    bool `json:"prune,omitempty"`
	SelfHeal bool `json:"selfHeal,omitempty"`
}

// SourceHydrator is spec.sourceHydrator (v2.14+, alpha).
type SourceHydrator struct {
	DrySource  DrySource  `json:"drySource"`
	SyncSource SyncSource `json:"syncSource"`
}

// DrySource is spec.sourceHydrator.drySource.
type DrySource struct {
	RepoURL        string `json:"repoURL"`
	TargetRevision string `json:"targetRevision"`
	Path           string `json:"path"`
}

// SyncSource is spec.sourceHydrator.syncSource.
type SyncSource struct {
	TargetBranch string `json:"targetBranch"`
	Path         string `json:"path"`
}

// ApplicationStatus is the observed state.
type ApplicationStatus struct {
	Resources            []ResourceStatus       `json:"resources,omitempty"`
	Sync                 SyncStatus             `json:"sync,omitempty"`
	Health               HealthStatus           `json:"health,omitempty"`
	History              []RevisionHistory      `json:"history,omitempty"`
	Conditions           []ApplicationCondition `json:"conditions,omitempty"`
	ReconciledAt         *Time                  `json:"reconciledAt,omitempty"`
	OperationState       *OperationState        `json:"operationState,omitempty"`
	ObservedAt           *Time                  `json:"observedAt,omitempty"`
	SourceType           string                 `json:"sourceType,omitempty"`
	Summary              ApplicationSummary     `json:"summary,omitempty"`
	ResourceHealthSource string                 `json:"resourceHealthSource,omitempty"`
	SourceTypes          []string               `json:"sourceTypes,omitempty"`
	ControllerNamespace  string                 `json:"controllerNamespace,omitempty"`
	SourceHydrator       SourceHydratorStatus   `json:"sourceHydrator,omitempty"`
}

// ResourceStatus is one managed resource in status.resources.
type ResourceStatus struct {
	Group     string        `json:"group,omitempty"`
	Version   string        `json:"version,omitempty"`
	Kind      string        `json:"kind,omitempty"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name,omitempty"`
	Status    string        `json:"status,omitempty"`
	Health    *HealthStatus `json:"health,omitempty"`
}

// SyncStatus is status.sync. Status has no omitempty: a never-reconciled app says "".
type SyncStatus struct {
	Status     string     `json:"status"`
	ComparedTo ComparedTo `json:"comparedTo,omitempty"`
	Revision   string     `json:"revision,omitempty"`
	Revisions  []string   `json:"revisions,omitempty"`
}

// ComparedTo is status.sync.comparedTo.
type ComparedTo struct {
	Source      ApplicationSource      `json:"source,omitempty"`
	Destination ApplicationDestination `json:"destination"`
	Sources     []ApplicationSource    `json:"sources,omitempty"`
}

// HealthStatus is status.health. LastTransitionTime exists since v2.14.
type HealthStatus struct {
	Status             string `json:"status,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime *Time  `json:"lastTransitionTime,omitempty"`
}

// RevisionHistory is one entry of status.history: a successful sync, oldest first
// (pkg/apis/application/v1alpha1/types.go RevisionHistory; appended by
// controller/state.go persistRevisionHistory with id = last id + 1, deployedAt = now,
// deployStartedAt = the operation's startedAt, truncated to revisionHistoryLimit).
type RevisionHistory struct {
	Revision        string              `json:"revision,omitempty"`
	DeployedAt      Time                `json:"deployedAt"`
	ID              int64               `json:"id"`
	Source          ApplicationSource   `json:"source,omitempty"`
	DeployStartedAt *Time               `json:"deployStartedAt,omitempty"`
	Sources         []ApplicationSource `json:"sources,omitempty"`
	Revisions       []string            `json:"revisions,omitempty"`
	InitiatedBy     OperationInitiator  `json:"initiatedBy,omitempty"`
}

// ApplicationCondition is one entry of status.conditions.
type ApplicationCondition struct {
	Type               string `json:"type"`
	Message            string `json:"message"`
	LastTransitionTime *Time  `json:"lastTransitionTime,omitempty"`
}

// OperationState is status.operationState: the current or last operation.
type OperationState struct {
	Operation  Operation            `json:"operation"`
	Phase      string               `json:"phase"`
	Message    string               `json:"message,omitempty"`
	SyncResult *SyncOperationResult `json:"syncResult,omitempty"`
	StartedAt  Time                 `json:"startedAt"`
	FinishedAt *Time                `json:"finishedAt,omitempty"`
	RetryCount int64                `json:"retryCount,omitempty"`
}

// Operation is a requested operation (top-level "operation", and operationState.operation).
type Operation struct {
	Sync        *SyncOperation     `json:"sync,omitempty"`
	InitiatedBy OperationInitiator `json:"initiatedBy,omitempty"`
	Retry       RetryStrategy      `json:"retry,omitempty"`
}

// SyncOperation is the parameters of a sync.
type SyncOperation struct {
	Revision    string   `json:"revision,omitempty"`
	Prune       bool     `json:"prune,omitempty"`
	SyncOptions []string `json:"syncOptions,omitempty"`
}

// OperationInitiator says who started an operation.
type OperationInitiator struct {
	Username  string `json:"username,omitempty"`
	Automated bool   `json:"automated,omitempty"`
}

// RetryStrategy is operation.retry.
type RetryStrategy struct {
	Limit int64 `json:"limit,omitempty"`
}

// SyncOperationResult is status.operationState.syncResult.
type SyncOperationResult struct {
	Revision  string            `json:"revision"`
	Source    ApplicationSource `json:"source,omitempty"`
	Revisions []string          `json:"revisions,omitempty"`
}

// ApplicationSummary is status.summary.
type ApplicationSummary struct {
	ExternalURLs []string `json:"externalURLs,omitempty"`
	Images       []string `json:"images,omitempty"`
}

// SourceHydratorStatus is status.sourceHydrator; always {} unless the hydrator is used.
type SourceHydratorStatus struct {
	LastSuccessfulOperation *HydrateOperation `json:"lastSuccessfulOperation,omitempty"`
	CurrentOperation        *HydrateOperation `json:"currentOperation,omitempty"`
}

// HydrateOperation is one hydration of the source hydrator.
type HydrateOperation struct {
	StartedAt   Time   `json:"startedAt,omitempty"`
	FinishedAt  *Time  `json:"finishedAt,omitempty"`
	Phase       string `json:"phase"`
	Message     string `json:"message"`
	DrySHA      string `json:"drySHA,omitempty"`
	HydratedSHA string `json:"hydratedSHA,omitempty"`
}

// DeepCopy returns an independent copy of a (through its own JSON encoding, which is
// lossless for these types).
func (a Application) DeepCopy() Application {
	b, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("fakeargocd: encode application %q: %v", a.Metadata.Name, err))
	}
	var c Application
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("fakeargocd: decode application %q: %v", a.Metadata.Name, err))
	}
	return c
}

// Project returns spec.project, or "default" when empty (as Argo CD's GetProject does).
func (a Application) Project() string {
	if a.Spec.Project == "" {
		return "default"
	}
	return a.Spec.Project
}
