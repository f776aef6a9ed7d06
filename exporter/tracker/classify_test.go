package tracker

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// classified runs the observations with the default failures: matchers and returns the
// failure event.
func classified(t *testing.T, obs ...Observation) (event.Event, State) {
	t.Helper()
	cfg := Config{ProvisioningTimeout: testTimeout, URLFailuresBeforeDegraded: 1, Classify: config.DefaultFailures.Classify}
	var s State
	var fail *event.Event
	for _, o := range obs {
		var evs []event.Event
		s, evs = Step(s, o, cfg)
		for i := range evs {
			if evs[i].Name == event.ProvisioningFailed {
				fail = &evs[i]
			}
		}
	}
	require.NotNil(t, fail, "a provisioning_failed")
	return *fail, s
}

const testTimeout = 30 * time.Minute

// Every failure carries its class and the matcher that decided it, on what the source
// showed at the failure: the operation's message, the error conditions, a pushed class.
func TestFailureClass(t *testing.T) {
	helm := "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = " +
		"`helm template . --name-template pr-1 --namespace pr-1 --include-crds` failed exit status 1: Error: parse error at (web/templates/svc.yaml:4)"
	for _, tc := range []struct {
		name            string
		obs             []Observation
		class, matcher  string
		meta            map[string]any
		noMetaKey       string
		stateUnaffected bool
	}{
		{
			name: "a sync that failed on a chart that does not render: the user's",
			obs: []Observation{seen("1m", newApp()), seen("2m", newApp(func(a *Evidence) {
				a.Op, a.OpPhase, a.OpFinishedAt, a.OpMessage = OpFailed, "Error", at("1m50s"), helm
			}))},
			class: event.ClassUser, matcher: "argocd-manifest-generation",
			meta: map[string]any{event.MetaReason: event.ReasonSyncFailed, event.MetaMessage: helm},
		},
		{
			name: "a timeout while Argo CD shows the repo-server down: the platform's",
			obs: []Observation{seen("1m", newApp()), seen("31m", newApp(func(a *Evidence) {
				a.Conditions = []Condition{{Type: "ComparisonError", Message: "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error"}}
			}))},
			class: event.ClassPlatform, matcher: "argocd-repo-server-unavailable",
			meta: map[string]any{event.MetaReason: event.ReasonTimeout,
				event.MetaConditions: "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error"},
		},
		{
			name: "a timeout behind an invalid spec condition: the user's",
			obs: []Observation{seen("1m", newApp()), seen("31m", newApp(func(a *Evidence) {
				a.Conditions = []Condition{{Type: "InvalidSpecError", Message: "application destination server 'https://prod' and namespace 'x' do not match any of the allowed destinations in project 'previews'"}}
			}))},
			class: event.ClassUser, matcher: "argocd-invalid-spec",
		},
		{
			name:  "a timeout nothing explains: the platform's",
			obs:   []Observation{seen("1m", newApp()), seen("31m", newApp())},
			class: event.ClassPlatform, matcher: event.MatcherUnmatched, noMetaKey: event.MetaConditions,
		},
		{
			name:  "deleted before ready: the user's",
			obs:   []Observation{seen("1m", newApp()), seen("2m", newApp(deleting("1m30s")))},
			class: event.ClassUser, matcher: "deleted-before-ready",
		},
		{
			name: "a degradation with its health message",
			obs: []Observation{seen("1m", newApp()), seen("3m", newApp(health("Degraded", "2m"), func(a *Evidence) {
				a.HealthMessage = "Caused by apps/Deployment:pr-1/web"
			}))},
			class: event.ClassPlatform, matcher: event.MatcherUnmatched,
			meta: map[string]any{event.MetaHealthMessage: "Caused by apps/Deployment:pr-1/web"},
		},
		{
			name: "a pushed failure that names its class keeps it",
			obs: []Observation{push("1m", event.ProvisioningStarted, "0s", nil),
				push("2m", event.ProvisioningFailed, "1m", map[string]any{event.MetaReason: "quota", event.MetaFailureClass: event.ClassPlatform})},
			class: event.ClassPlatform, matcher: event.MatcherPushed,
		},
		{
			name: "a pushed failure is classified on its reason and message",
			obs: []Observation{push("1m", event.ProvisioningStarted, "0s", nil),
				push("2m", event.ProvisioningFailed, "1m", map[string]any{event.MetaReason: "render", event.MetaMessage: "app path does not exist"})},
			class: event.ClassUser, matcher: "argocd-manifest-generation",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s := classified(t, tc.obs...)
			require.Equal(t, tc.class, e.Meta(event.MetaFailureClass))
			require.Equal(t, tc.matcher, e.Meta(event.MetaFailureMatcher))
			require.Equal(t, tc.class, e.FailureClass())
			for k, v := range tc.meta {
				require.Equal(t, v, e.Meta(k), k)
			}
			if tc.noMetaKey != "" {
				require.Nil(t, e.Meta(tc.noMetaKey))
			}
			require.Equal(t, tc.class, s.FailureClass)
			require.Equal(t, tc.matcher, s.FailureMatcher)
		})
	}
}

// Without a classifier (a tracker built by a test, or a store replayed), failures carry
// no class; event.FailureClass reads them as the platform's, as every failure was
// before failures were classified.
func TestNoClassifier(t *testing.T) {
	var s State
	cfg := Config{ProvisioningTimeout: testTimeout}
	s, _ = Step(s, seen("1m", newApp()), cfg)
	_, evs := Step(s, seen("2m", newApp(syncFailed("1m30s"))), cfg)
	require.Len(t, evs, 1)
	require.Nil(t, evs[0].Meta(event.MetaFailureClass))
	require.Equal(t, event.ClassPlatform, evs[0].FailureClass())
}

// What the source says is bounded before the state keeps it: long messages are cut at
// a character boundary, at most MaxConditions conditions are kept.
func TestEvidenceBounded(t *testing.T) {
	long := strings.Repeat("é", MaxMessageBytes)
	a := newApp(func(a *Evidence) {
		a.OpMessage, a.HealthMessage = long, long
		for range MaxConditions + 3 {
			a.Conditions = append(a.Conditions, Condition{Type: "ComparisonError", Message: long})
		}
	})
	s, _ := Step(State{}, seen("1m", a), Config{ProvisioningTimeout: testTimeout})
	require.LessOrEqual(t, len(s.App.OpMessage), MaxMessageBytes)
	require.True(t, strings.HasSuffix(s.App.OpMessage, "é…"))
	require.LessOrEqual(t, len(s.App.HealthMessage), MaxMessageBytes)
	require.Len(t, s.App.Conditions, MaxConditions)
	for _, c := range s.App.Conditions {
		require.LessOrEqual(t, len(c.Message), MaxMessageBytes)
	}
	empty := newApp(func(a *Evidence) { a.Conditions = []Condition{} })
	s2, _ := Step(State{}, seen("1m", empty), Config{ProvisioningTimeout: testTimeout})
	require.Nil(t, s2.App.Conditions, "no condition is nil, so an answer without them changes no state")
}

// TestEvidenceURLsRedacted (issue 18): a sync failure that quotes its repository's URL
// with the credentials in it (as a git error does) is kept, and recorded in the failure's
// metadata, with the URL redacted as every URL envtrack shows; the URL probed is not.
func TestEvidenceURLsRedacted(t *testing.T) {
	msg := "rpc error: authentication required: https://bot:GitPass42@git.example/org/app.git?private_token=Tok42"
	var s State
	cfg := Config{ProvisioningTimeout: testTimeout}
	s, _ = Step(s, seen("1m", newApp(withURL("https://u:ProbePass@app.example/health"))), cfg)
	s, evs := Step(s, seen("2m", newApp(withURL("https://u:ProbePass@app.example/health"), syncFailed("1m30s"), func(a *Evidence) {
		a.OpMessage, a.HealthMessage = msg, msg
		a.Conditions = []Condition{{Type: "ComparisonError", Message: msg}}
	})), cfg)
	require.Len(t, evs, 1)
	want := "rpc error: authentication required: https://bot:<secret>@git.example/org/app.git?private_token=<secret>"
	require.Equal(t, want, evs[0].Meta(event.MetaMessage))
	require.Equal(t, want, s.App.OpMessage)
	require.Equal(t, want, s.App.HealthMessage)
	require.Equal(t, want, s.App.Conditions[0].Message)
	require.Equal(t, "https://u:ProbePass@app.example/health", s.URL, "the probe needs the URL as configured")
}
