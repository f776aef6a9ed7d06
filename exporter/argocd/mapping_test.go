package argocd

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// fixtureEvidence is what defaultMapping makes of the four fixture Applications when the
// answer is complete (FullApplications, or a server whose `fields` filter is generic).
func fixtureEvidence() map[string]tracker.Evidence {
	return map[string]tracker.Evidence{
		"pr-099": {
			AppName: "pr-099", EnvironmentID: "pr-099", EnvironmentName: "pr-099", Type: "preview",
			Repository: "backend-api", Branch: "feature/pr-099", CommitSHA: "5e5e5e5e5e5e",
			URL:       "https://pr-099.preview.example.com/healthz",
			CreatedAt: ts("2025-01-06T08:00:00Z"), DeletionAt: ts("2025-01-07T09:59:30Z"),
			Sync: tracker.SyncSynced, Revision: "5e5e5e5e5e5e",
			Health: tracker.HealthHealthy, HealthStatus: "Healthy", HealthSince: ts("2025-01-06T08:03:10Z"),
			Op: tracker.OpSucceeded, OpPhase: "Succeeded", OpStartedAt: ts("2025-01-06T08:00:04Z"), OpFinishedAt: ts("2025-01-06T08:02:30Z"),
			OpMessage: "successfully synced (all tasks run)",
			History:   []tracker.Deployment{{ID: 0, Revision: "5e5e5e5e5e5e", StartedAt: ts("2025-01-06T08:00:04Z"), DeployedAt: ts("2025-01-06T08:02:30Z")}},
		},
		"pr-101": {
			AppName: "pr-101", EnvironmentID: "pr-101", EnvironmentName: "pr-101", Type: "preview",
			Repository: "backend-api", Branch: "feature/pr-101", CommitSHA: "1a2b3c4d5e6f",
			URL:       "https://pr-101.preview.example.com/healthz",
			CreatedAt: ts("2025-01-07T10:00:00Z"),
			Sync:      tracker.SyncOutOfSync, Revision: "1a2b3c4d5e6f",
			Health: tracker.HealthProgressing, HealthStatus: "Progressing", HealthSince: ts("2025-01-07T10:00:06Z"),
			Op: tracker.OpRunning, OpPhase: "Running", OpStartedAt: ts("2025-01-07T10:00:05Z"),
			OpMessage: "waiting for healthy state of apps/Deployment/backend-api",
		},
		"pr-102": {
			AppName: "pr-102", EnvironmentID: "pr-102", EnvironmentName: "pr-102", Type: "preview",
			Repository: "backend-api", Branch: "feature/pr-102", CommitSHA: "9f8e7d6c5b4a",
			URL:       "https://pr-102.preview.example.com/healthz",
			CreatedAt: ts("2025-01-07T10:00:00Z"),
			Sync:      tracker.SyncSynced, Revision: "9f8e7d6c5b4a",
			Health: tracker.HealthHealthy, HealthStatus: "Healthy", HealthSince: ts("2025-01-07T10:03:40Z"),
			Op: tracker.OpSucceeded, OpPhase: "Succeeded", OpStartedAt: ts("2025-01-07T10:00:05Z"), OpFinishedAt: ts("2025-01-07T10:02:55Z"),
			OpMessage: "successfully synced (all tasks run)",
			History:   []tracker.Deployment{{ID: 0, Revision: "9f8e7d6c5b4a", StartedAt: ts("2025-01-07T10:00:05Z"), DeployedAt: ts("2025-01-07T10:02:55Z")}},
		},
		"pr-103": {
			AppName: "pr-103", EnvironmentID: "pr-103", EnvironmentName: "pr-103", Type: "staging",
			Repository: "backend-api", Branch: "feature/pr-103", CommitSHA: "0badc0ffee00",
			URL:       "https://pr-103.preview.example.com/healthz",
			CreatedAt: ts("2025-01-07T10:00:00Z"),
			Sync:      tracker.SyncOutOfSync, Revision: "0badc0ffee00",
			Health: tracker.HealthDegraded, HealthStatus: "Degraded", HealthSince: ts("2025-01-07T10:04:12Z"),
			Op: tracker.OpFailed, OpPhase: "Failed", OpStartedAt: ts("2025-01-07T10:00:05Z"), OpFinishedAt: ts("2025-01-07T10:00:09Z"),
			OpMessage: `one or more objects failed to apply, reason: Deployment.apps "backend-api" is invalid`,
		},
	}
}

// fixtureApps decodes the fake's fixture the way List does.
func fixtureApps(t *testing.T) []Application {
	t.Helper()
	b, err := json.Marshal(fakeargocd.ApplicationList{Items: fakeargocd.FixtureApps()})
	require.NoError(t, err)
	apps, err := decodeList(b, "application/json")
	require.NoError(t, err)
	return apps
}

func TestEvidenceFixture(t *testing.T) {
	want := fixtureEvidence()
	apps := fixtureApps(t)
	require.Len(t, apps, 4)
	for _, a := range apps {
		t.Run(a.Metadata.Name, func(t *testing.T) {
			require.Equal(t, want[a.Metadata.Name], defaultMapping().Evidence(a))
		})
	}
}

// TestEvidenceReference maps the reference answer itself (real Argo CD encoding).
func TestEvidenceReference(t *testing.T) {
	ref := fakeargocd.ReferenceList(t)
	apps, err := decodeList(ref, "application/json")
	require.NoError(t, err)
	want := fixtureEvidence()
	for _, a := range apps {
		require.Equal(t, want[a.Metadata.Name], defaultMapping().Evidence(a))
	}
}

func TestEvidenceMapping(t *testing.T) {
	base := func() Application {
		return Application{
			Metadata: Metadata{
				Name:              "app-1",
				CreationTimestamp: time.Date(2025, 1, 7, 11, 0, 0, 0, time.FixedZone("CET", 3600)),
				Labels:            map[string]string{},
				Annotations:       map[string]string{},
			},
			Spec: Spec{Source: &ApplicationSource{RepoURL: "git@github.com:acme/web.git", TargetRevision: "main"}},
			Status: Status{
				Sync:    SyncStatus{Status: "Synced", Revision: "abc"},
				Summary: Summary{ExternalURLs: []string{"", "https://web.example.com", "https://other"}},
			},
		}
	}
	for _, tc := range []struct {
		name    string
		mapping Mapping
		edit    func(*Application)
		check   func(*testing.T, tracker.Evidence)
	}{
		{
			name:    "defaults without labels",
			mapping: defaultMapping(),
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "app-1", ev.EnvironmentID)
				require.Equal(t, "default", ev.Type)
				require.Equal(t, "web", ev.Repository)
				require.Equal(t, "main", ev.Branch)
				require.Equal(t, "abc", ev.CommitSHA)
				require.Equal(t, "https://web.example.com", ev.URL, "first non-empty externalURL")
				require.Equal(t, time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC), ev.CreatedAt)
				require.Equal(t, time.UTC, ev.CreatedAt.Location())
				require.True(t, ev.RequestedAt.IsZero())
				require.True(t, ev.DeletionAt.IsZero())
				require.Empty(t, ev.OpPhase)
			},
		},
		{
			name:    "no labels or annotations configured: the name, the default type",
			mapping: Mapping{DefaultType: config.DefaultArgoCDConfig.DefaultType},
			edit: func(a *Application) {
				a.Metadata.Labels["blueberry.io/environment-id"] = "ignored"
				a.Metadata.Annotations["blueberry.io/url"] = "https://ignored"
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "app-1", ev.EnvironmentID)
				require.Equal(t, "default", ev.Type)
				require.Equal(t, "https://web.example.com", ev.URL)
			},
		},
		{
			name: "labels and annotations override",
			mapping: Mapping{
				EnvironmentIDLabel: "env", EnvironmentTypeLabel: "type", URLAnnotation: "url",
				RequestedAtAnnotation: "req", RepositoryLabel: "repo", BranchLabel: "branch",
				CommitLabel: "sha", DefaultType: "preview",
			},
			edit: func(a *Application) {
				a.Metadata.Labels = map[string]string{"env": "e-1", "type": "qa", "repo": "mono", "branch": "feat", "sha": "deadbeef"}
				a.Metadata.Annotations = map[string]string{"url": " https://e-1.example.com/healthz ", "req": "2025-01-07T10:59:00+01:00"}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "e-1", ev.EnvironmentID)
				require.Equal(t, "app-1", ev.EnvironmentName)
				require.Equal(t, "qa", ev.Type)
				require.Equal(t, "mono", ev.Repository)
				require.Equal(t, "feat", ev.Branch)
				require.Equal(t, "deadbeef", ev.CommitSHA)
				require.Equal(t, "abc", ev.Revision, "Revision stays Argo CD's")
				require.Equal(t, "https://e-1.example.com/healthz", ev.URL)
				require.Equal(t, time.Date(2025, 1, 7, 9, 59, 0, 0, time.UTC), ev.RequestedAt)
				require.Equal(t, time.UTC, ev.RequestedAt.Location())
			},
		},
		{
			name:    "empty label values fall back",
			mapping: Mapping{EnvironmentIDLabel: "env", EnvironmentTypeLabel: "type", DefaultType: "preview", CommitLabel: "sha"},
			edit: func(a *Application) {
				a.Metadata.Labels = map[string]string{"env": "", "type": " ", "sha": ""}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "app-1", ev.EnvironmentID)
				require.Equal(t, "preview", ev.Type)
				require.Equal(t, "abc", ev.CommitSHA)
			},
		},
		{
			name:    "multi-source: first non-ref source and its revision",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Spec.Source = nil
				a.Spec.Sources = []ApplicationSource{
					{RepoURL: "https://github.com/acme/values.git", Ref: "values"},
					{RepoURL: "https://github.com/acme/api.git", TargetRevision: "release-1"},
				}
				a.Status.Sync = SyncStatus{Status: "Synced", Revisions: []string{"v111", "a222"}}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "api", ev.Repository)
				require.Equal(t, "release-1", ev.Branch)
				require.Equal(t, "a222", ev.Revision)
				require.Equal(t, "a222", ev.CommitSHA)
			},
		},
		{
			name:    "helm chart source names the repository after the chart",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Spec.Source = &ApplicationSource{RepoURL: "https://charts.example.com/stable", Chart: "wordpress", TargetRevision: "12.1.7"}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "wordpress", ev.Repository)
				require.Equal(t, "12.1.7", ev.Branch)
			},
		},
		{
			name:    "source hydrator",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Spec.Source = nil
				a.Spec.SourceHydrator = &SourceHydrator{DrySource: ApplicationSource{RepoURL: "https://github.com/acme/dry/", TargetRevision: "HEAD"}}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "dry", ev.Repository)
				require.Equal(t, "HEAD", ev.Branch)
			},
		},
		{
			name:    "no source at all",
			mapping: defaultMapping(),
			edit:    func(a *Application) { a.Spec.Source = nil },
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Empty(t, ev.Repository)
				require.Empty(t, ev.Branch)
			},
		},
		{
			name:    "trimmed answer: revision from the sync result",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Status.Sync.Revision = ""
				a.Status.OperationState = &OperationState{
					Phase: "Succeeded", SyncResult: &RevisionRef{Revision: "from-result"},
					Operation: OperationSpec{Sync: &RevisionRef{Revision: "from-op"}},
				}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "from-result", ev.OpRevision)
				require.Equal(t, "from-result", ev.Revision)
				require.Equal(t, "from-result", ev.CommitSHA)
			},
		},
		{
			name:    "trimmed answer of v2.14: the sync result under operation.sync",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Status.Sync.Revision = ""
				a.Status.OperationState = &OperationState{Phase: "Running", Operation: OperationSpec{Sync: &RevisionRef{Revision: "from-op"}}}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "from-op", ev.OpRevision)
				require.Equal(t, "from-op", ev.CommitSHA)
			},
		},
		{
			name:    "no externalURLs, no annotation: no URL",
			mapping: defaultMapping(),
			edit:    func(a *Application) { a.Status.Summary.ExternalURLs = nil },
			check:   func(t *testing.T, ev tracker.Evidence) { require.Empty(t, ev.URL) },
		},
		{
			name:    "the health message and the error conditions, what a failure is classified on",
			mapping: defaultMapping(),
			edit: func(a *Application) {
				a.Status.Health.Message = "Back-off pulling image"
				a.Status.Conditions = []ApplicationCondition{
					{Type: "SharedResourceWarning", Message: "ConfigMap/x is part of applications a and b"},
					{Type: "InvalidSpecError", Message: "Unable to generate manifests in web: app path does not exist"},
				}
			},
			check: func(t *testing.T, ev tracker.Evidence) {
				require.Equal(t, "Back-off pulling image", ev.HealthMessage)
				require.Equal(t, []tracker.Condition{{Type: "InvalidSpecError", Message: "Unable to generate manifests in web: app path does not exist"}}, ev.Conditions, "warnings are not failures' evidence")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			if tc.edit != nil {
				tc.edit(&a)
			}
			tc.check(t, tc.mapping.Evidence(a))
		})
	}
}

func TestEvidenceBadRequestedAt(t *testing.T) {
	bad := prometheus.NewCounter(prometheus.CounterOpts{Name: "bad"})
	m := defaultMapping()
	m.BadAnnotations = bad
	for _, v := range []string{"yesterday", "2025-01-07 10:00:00", "2025-01-07T10:00:00", "1736244000"} {
		a := Application{Metadata: Metadata{Name: "a", Annotations: map[string]string{"blueberry.io/requested-at": v}}}
		require.True(t, m.Evidence(a).RequestedAt.IsZero(), v)
	}
	require.Equal(t, 4.0, testutil.ToFloat64(bad))

	// Without a counter it is just zero; absent and empty annotations are not "bad".
	m.BadAnnotations = nil
	require.True(t, m.Evidence(Application{Metadata: Metadata{Annotations: map[string]string{"blueberry.io/requested-at": "x"}}}).RequestedAt.IsZero())
	m.BadAnnotations = bad
	m.Evidence(Application{Metadata: Metadata{Annotations: map[string]string{"blueberry.io/requested-at": " "}}})
	m.Evidence(Application{})
	require.Equal(t, 4.0, testutil.ToFloat64(bad))

	ok := Application{Metadata: Metadata{Annotations: map[string]string{"blueberry.io/requested-at": "2025-01-07T09:58:00.5Z"}}}
	require.Equal(t, time.Date(2025, 1, 7, 9, 58, 0, 5e8, time.UTC), m.Evidence(ok).RequestedAt)
}

func TestRepoShortName(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/acme/backend-api.git":  "backend-api",
		"https://github.com/acme/backend-api":      "backend-api",
		"https://github.com/acme/backend-api/":     "backend-api",
		"https://github.com/acme/backend-api.git/": "backend-api",
		"git@github.com:acme/backend-api.git":      "backend-api",
		"git@github.com:backend-api.git":           "backend-api",
		"ssh://git@host:22/acme/backend-api/":      "backend-api",
		"https://gitlab.com/a/b/c/svc.git?ref=x":   "svc",
		"  https://github.com/acme/x.git  ":        "x",
		"oci://ghcr.io/acme/charts":                "charts",
		"backend-api":                              "backend-api",
		"":                                         "",
	} {
		require.Equal(t, want, RepoShortName(in), in)
	}
}

// TestEvidenceStates: Argo CD's words (status.sync.status, status.health.status,
// status.operationState.phase) in the tracker's terms; the health status and the phase
// are kept as Argo CD said them, for the event metadata.
func TestEvidenceStates(t *testing.T) {
	for _, tc := range []struct {
		sync, health, phase string
		noOperation         bool
		want                func(*tracker.Evidence)
	}{
		{sync: "Synced", health: "Healthy", phase: "Succeeded", want: func(e *tracker.Evidence) {
			e.Sync, e.Health, e.Op = tracker.SyncSynced, tracker.HealthHealthy, tracker.OpSucceeded
		}},
		{sync: "OutOfSync", health: "Progressing", phase: "Running", want: func(e *tracker.Evidence) {
			e.Sync, e.Health, e.Op = tracker.SyncOutOfSync, tracker.HealthProgressing, tracker.OpRunning
		}},
		{sync: "Unknown", health: "Degraded", phase: "Failed", want: func(e *tracker.Evidence) {
			e.Health, e.Op = tracker.HealthDegraded, tracker.OpFailed
		}},
		{sync: "", health: "Missing", phase: "Error", want: func(e *tracker.Evidence) {
			e.Health, e.Op = tracker.HealthMissing, tracker.OpFailed
		}},
		{sync: "Synced", health: "Suspended", phase: "Terminating", want: func(e *tracker.Evidence) {
			e.Sync, e.Health, e.Op = tracker.SyncSynced, tracker.HealthSuspended, tracker.OpRunning
		}},
		{health: "Unknown", phase: "", want: func(*tracker.Evidence) {}},
		{health: "a custom check's word", noOperation: true, want: func(*tracker.Evidence) {}},
	} {
		t.Run(tc.sync+"/"+tc.health+"/"+tc.phase, func(t *testing.T) {
			a := Application{Metadata: Metadata{Name: "a"}, Status: Status{
				Sync: SyncStatus{Status: tc.sync}, Health: HealthStatus{Status: tc.health}}}
			if !tc.noOperation {
				a.Status.OperationState = &OperationState{Phase: tc.phase}
			}
			got := defaultMapping().Evidence(a)
			want := tracker.Evidence{HealthStatus: tc.health, OpPhase: tc.phase}
			tc.want(&want)
			require.Equal(t, []any{want.Sync, want.Health, want.HealthStatus, want.Op, want.OpPhase},
				[]any{got.Sync, got.Health, got.HealthStatus, got.Op, got.OpPhase})
		})
	}
}
