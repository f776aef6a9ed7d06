package argocd

import (
	"strings"
	"time"
)

// Application is the part of an Argo CD Application that envtrack reads, decoded from
// GET /api/v1/applications. Absent timestamps (and JSON null) decode as the zero time.
// Everything else in the answer is ignored, so new Argo CD fields never break decoding.
type Application struct {
	Metadata Metadata `json:"metadata"`
	Spec     Spec     `json:"spec"`
	Status   Status   `json:"status"`
}

// Metadata is metadata.
type Metadata struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	DeletionTimestamp time.Time         `json:"deletionTimestamp"`
}

// Spec is spec: a single source, several sources, or the source hydrator's dry source.
type Spec struct {
	Source         *ApplicationSource  `json:"source"`
	Sources        []ApplicationSource `json:"sources"`
	SourceHydrator *SourceHydrator     `json:"sourceHydrator"`
	Project        string              `json:"project"`
}

// ApplicationSource is one of spec.source / spec.sources[] (Argo CD's type of that name).
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path"`
	TargetRevision string `json:"targetRevision"`
	Chart          string `json:"chart"`
	Ref            string `json:"ref"`
}

// SourceHydrator is spec.sourceHydrator.
type SourceHydrator struct {
	DrySource ApplicationSource `json:"drySource"`
}

// Status is status.
type Status struct {
	Sync           SyncStatus      `json:"sync"`
	Health         HealthStatus    `json:"health"`
	Summary        Summary         `json:"summary"`
	OperationState *OperationState `json:"operationState"`
	// Conditions is status.conditions: what a failure's class is decided on (the error
	// ones). Argo CD v2.x/v3.x drop it from trimmed lists (not in the fixed table of
	// pkg/apiclient/application/forwarder_overwrite.go); whole Applications and the
	// stream carry it.
	Conditions []ApplicationCondition `json:"conditions"`
	// History is status.history: present only in whole Applications (FullApplications);
	// nil when the answer left it out (the `fields` list), then Client.History reads it.
	History []RevisionHistory `json:"history"`
}

// SyncStatus is status.sync. Revisions is set instead of Revision for multi-source apps.
type SyncStatus struct {
	Status    string   `json:"status"`
	Revision  string   `json:"revision"`
	Revisions []string `json:"revisions"`
}

// HealthStatus is status.health; LastTransitionTime is zero before v2.14.
type HealthStatus struct {
	Status             string    `json:"status"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// ApplicationCondition is one entry of status.conditions.
type ApplicationCondition struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// IsError is Argo CD's ApplicationCondition.IsError
// (pkg/apis/application/v1alpha1/types.go): a type ending in "Error".
func (c ApplicationCondition) IsError() bool { return strings.HasSuffix(c.Type, "Error") }

// Summary is status.summary.
type Summary struct {
	ExternalURLs []string `json:"externalURLs"`
}

// OperationState is status.operationState.
type OperationState struct {
	Phase      string        `json:"phase"`
	Message    string        `json:"message"`
	StartedAt  time.Time     `json:"startedAt"`
	FinishedAt time.Time     `json:"finishedAt"`
	SyncResult *RevisionRef  `json:"syncResult"`
	Operation  OperationSpec `json:"operation"`
}

// OperationSpec is status.operationState.operation. Note: when the list is trimmed with
// `fields`, Argo CD v2.x/v3.x put the operation's syncResult under
// status.operationState.operation.sync (forwarder_overwrite.go), which is why Sync is
// read as a RevisionRef too.
type OperationSpec struct {
	Sync *RevisionRef `json:"sync"`
}

// RevisionRef is the revision part of a sync result or a sync operation.
type RevisionRef struct {
	Revision  string   `json:"revision"`
	Revisions []string `json:"revisions"`
}
