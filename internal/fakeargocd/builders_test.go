package fakeargocd

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewAppDefaultsAndOptions(t *testing.T) {
	a := NewApp("pr-7", t0.Add(500*time.Millisecond))
	b, err := json.Marshal(a)
	require.NoError(t, err)
	// A created, not yet reconciled Application, as Argo CD encodes it.
	require.JSONEq(t, `{
	  "metadata": {
	    "name": "pr-7", "namespace": "argocd", "creationTimestamp": "2025-01-07T10:00:00Z",
	    "labels": {"blueberry.io/environment-id": "pr-7", "blueberry.io/managed": "true"}
	  },
	  "spec": {
	    "source": {"repoURL": "https://github.com/acme/backend-api", "path": "deploy", "targetRevision": "main"},
	    "destination": {"server": "https://kubernetes.default.svc", "namespace": "pr-7"},
	    "project": "default"
	  },
	  "status": {
	    "sync": {"status": "", "comparedTo": {"source": {"repoURL": ""}, "destination": {}}},
	    "health": {}, "summary": {}, "sourceHydrator": {}
	  }
	}`, string(b))

	req := time.Date(2025, 1, 7, 9, 59, 0, 0, time.FixedZone("X", 7200))
	a = NewApp("pr-8", t0,
		WithEnvironmentID("env-8"), WithType("preview"), WithURL("https://pr-8.example.com"),
		WithRequestedAt(req), WithRepo("git@github.com:acme/web.git"), WithBranch("feature/x"),
		WithPath("k8s"), WithProject("previews"), WithNamespace("team-a"),
		WithDestination("https://other", "ns8"), WithLabel("k", "v"), WithoutLabel(LabelManaged),
		WithAnnotation("note", "n"))
	require.Equal(t, map[string]string{LabelEnvironmentID: "env-8", LabelEnvironmentType: "preview", "k": "v"}, a.Metadata.Labels)
	require.Equal(t, map[string]string{AnnotationURL: "https://pr-8.example.com", AnnotationRequestedAt: "2025-01-07T07:59:00Z", "note": "n"}, a.Metadata.Annotations)
	require.Equal(t, &ApplicationSource{RepoURL: "git@github.com:acme/web.git", Path: "k8s", TargetRevision: "feature/x"}, a.Spec.Source)
	require.Equal(t, "previews", a.Project())
	require.Equal(t, "team-a", a.Metadata.Namespace)
	require.Equal(t, ApplicationDestination{Server: "https://other", Namespace: "ns8"}, a.Spec.Destination)

	m := NewApp("multi", t0, WithSources(
		ApplicationSource{RepoURL: "https://charts.example.com", Chart: "web", TargetRevision: "1.2.3"},
		ApplicationSource{RepoURL: "https://github.com/acme/values", Ref: "values"},
	), WithBranch("1.2.4"))
	require.Nil(t, m.Spec.Source)
	require.Equal(t, "1.2.4", m.Spec.Sources[0].TargetRevision)
	require.Equal(t, "default", NewApp("p", t0, WithProject("")).Project())
}

func TestSyncLifecycle(t *testing.T) {
	a := NewApp("pr-1", t0)
	StartSync(&a, "rev1", t0.Add(5*time.Second))
	op := a.Status.OperationState
	require.Equal(t, OpRunning, op.Phase)
	require.Equal(t, NewTime(t0.Add(5*time.Second)), op.StartedAt)
	require.Nil(t, op.FinishedAt)
	require.Equal(t, "rev1", op.SyncResult.Revision)
	require.Equal(t, SyncStatus{Status: SyncOutOfSync, Revision: "rev1"}, a.Status.Sync)
	require.Equal(t, HealthProgressing, a.Status.Health.Status)
	require.Equal(t, TimePtr(t0.Add(5*time.Second)), a.Status.Health.LastTransitionTime)

	SyncSucceeded(&a, "rev1", t0.Add(3*time.Minute))
	op = a.Status.OperationState
	require.Equal(t, OpSucceeded, op.Phase)
	require.Equal(t, SucceededMessage, op.Message)
	require.Equal(t, TimePtr(t0.Add(3*time.Minute)), op.FinishedAt)
	require.Equal(t, NewTime(t0.Add(5*time.Second)), op.StartedAt)
	require.Equal(t, SyncStatus{Status: SyncSynced, Revision: "rev1"}, a.Status.Sync)
	require.Len(t, a.Status.History, 1)
	h := a.Status.History[0]
	require.Equal(t, int64(0), h.ID)
	require.Equal(t, "rev1", h.Revision)
	require.Equal(t, NewTime(t0.Add(3*time.Minute)), h.DeployedAt)
	require.Equal(t, TimePtr(t0.Add(5*time.Second)), h.DeployStartedAt)
	require.Equal(t, DefaultRepoURL, h.Source.RepoURL)
	require.Equal(t, HealthProgressing, a.Status.Health.Status, "health is reported separately")

	SetHealth(&a, HealthHealthy, t0.Add(4*time.Minute))
	require.Equal(t, TimePtr(t0.Add(4*time.Minute)), a.Status.Health.LastTransitionTime)
	SetHealth(&a, HealthHealthy, t0.Add(9*time.Minute)) // no change: transition time stays
	require.Equal(t, TimePtr(t0.Add(4*time.Minute)), a.Status.Health.LastTransitionTime)
	SetHealth(&a, HealthDegraded, time.Time{}) // older servers: no transition time
	require.Equal(t, HealthStatus{Status: HealthDegraded}, a.Status.Health)

	// A redeploy: a new operation, then a failure; the failed one leaves no history.
	StartSync(&a, "rev2", t0.Add(time.Hour))
	SyncFailed(&a, t0.Add(time.Hour+time.Minute), "one or more objects failed to apply")
	op = a.Status.OperationState
	require.Equal(t, OpFailed, op.Phase)
	require.Equal(t, "one or more objects failed to apply", op.Message)
	require.Equal(t, NewTime(t0.Add(time.Hour)), op.StartedAt)
	require.Equal(t, TimePtr(t0.Add(time.Hour+time.Minute)), op.FinishedAt)
	require.Equal(t, SyncOutOfSync, a.Status.Sync.Status)
	require.Len(t, a.Status.History, 1)

	// Without a running operation, SyncSucceeded records one that starts and ends at once.
	for i := range 12 {
		SyncSucceeded(&a, "r", t0.Add(time.Duration(2+i)*time.Hour))
	}
	require.Len(t, a.Status.History, MaxHistory)
	require.Equal(t, int64(3), a.Status.History[0].ID)
	require.Equal(t, int64(12), a.Status.History[MaxHistory-1].ID)
	last := a.Status.History[MaxHistory-1]
	require.Equal(t, last.DeployedAt, *last.DeployStartedAt)

	fresh := NewApp("f", t0)
	SyncFailed(&fresh, t0, "boom")
	require.Equal(t, OpFailed, fresh.Status.OperationState.Phase)
	require.Equal(t, SyncOutOfSync, fresh.Status.Sync.Status)
}

func TestMarkDeletingAndReconciled(t *testing.T) {
	a := NewApp("pr-1", t0)
	MarkDeleting(&a, t0.Add(time.Hour))
	MarkDeleting(&a, t0.Add(time.Hour))
	require.Equal(t, TimePtr(t0.Add(time.Hour)), a.Metadata.DeletionTimestamp)
	require.Equal(t, []string{ResourcesFinalizer}, a.Metadata.Finalizers)

	SetReconciledAt(&a, t0.Add(time.Minute))
	SetExternalURLs(&a, "https://a.example.com", "https://b.example.com")
	b, err := json.Marshal(a)
	require.NoError(t, err)
	var back Application
	decodeStrict(t, b, &back)
	require.Equal(t, a, back)
	require.Equal(t, a, a.DeepCopy())
}
