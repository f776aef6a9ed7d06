package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// A type's entry takes what it does not say from default, and default from 000's table.
func TestSLOsInherit(t *testing.T) {
	cfg, err := loadBytes([]byte(`
types: [preview, staging]
slos:
  default: {success: {objective: 99}, window: 28d}
  preview: {latency: {threshold: 10m}}
  staging: {latency: {objective: 99, threshold: 2m}, success: {objective: 99.5}, window: 30d}
`), "slos.yml", lookup(nil))
	require.NoError(t, err)
	require.Equal(t, SLOs{
		SLODefault: {Latency: LatencyObjective{Objective: 95, Threshold: dur("5m")}, Success: SuccessObjective{Objective: 99}, Window: dur("28d")},
		"preview":  {Latency: LatencyObjective{Objective: 95, Threshold: dur("10m")}, Success: SuccessObjective{Objective: 99}, Window: dur("28d")},
		"staging":  {Latency: LatencyObjective{Objective: 99, Threshold: dur("2m")}, Success: SuccessObjective{Objective: 99.5}, Window: dur("30d")},
	}, cfg.SLOs)
	require.Equal(t, cfg.SLOs[SLODefault], cfg.SLOs.For("prod"), "an unnamed type: default")
	require.Equal(t, []string{"preview", "staging"}, cfg.SLOs.Types())
	require.Equal(t, []float64{120, 300, 600}, cfg.SLOs.LatencyThresholds())

	// A file without slos: 000's table for every type.
	cfg, err = loadBytes([]byte("listen_address: :9465\n"), "none.yml", lookup(nil))
	require.NoError(t, err)
	require.Equal(t, DefaultSLOs, cfg.SLOs)
	require.Equal(t, DefaultSLO, cfg.SLOs.For("preview"))
	require.Equal(t, DefaultFailures, cfg.Failures)

	// 000's latency objective is vacuous, not wrong, with a short provisioning timeout:
	// a file that loaded before slos: existed still loads.
	_, err = loadBytes([]byte("readiness: {provisioning_timeout: 4m}\n"), "short.yml", lookup(nil))
	require.NoError(t, err)
}

// The burn-rate factors are Sloth's for its 30d and 28d windows (the SRE workbook's
// 14.4, 6, 3 and 1 for 30 days).
func TestBurnWindowFactors(t *testing.T) {
	got := func(window string) []float64 {
		var out []float64
		for _, b := range BurnWindows {
			out = append(out, round4(b.Factor(time.Duration(dur(window)))))
		}
		return out
	}
	require.Equal(t, []float64{14.4, 6, 3, 1}, got("30d"))
	require.Equal(t, []float64{13.44, 5.6, 2.8, 0.9333}, got("28d"))
}

// The default matchers on the messages Argo CD writes: its own outages are the
// platform's even inside a ComparisonError, what does not render or validate is the
// user's, and what nothing recognises is the platform's.
func TestDefaultFailures(t *testing.T) {
	const (
		helm = "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = " +
			"`helm template . --name-template pr-12 --namespace pr-12 --kube-version 1.30 --include-crds` failed exit status 1: Error: " +
			"template: web/templates/deployment.yaml:12:20: executing \"web/templates/deployment.yaml\" at <.Values.image.tag>: nil pointer evaluating interface {}.tag"
		repoDown = "ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = " +
			"connection error: desc = \"transport: Error while dialing: dial tcp 10.96.12.7:8081: connect: connection refused\""
		liveState = "Failed to load live state: failed to get cluster info for \"https://kubernetes.default.svc\": error synchronizing cache state : the server has asked for the client to provide credentials"
	)
	for _, tc := range []struct {
		name                string
		reason              string
		conditions, message []string
		class, matcher      string
	}{
		{"a chart that does not render", event.ReasonSyncFailed, nil, []string{helm}, event.ClassUser, "argocd-manifest-generation"},
		{"the repo-server down, in a ComparisonError", event.ReasonSyncFailed, nil, []string{repoDown}, event.ClassPlatform, "argocd-repo-server-unavailable"},
		{"a cluster that does not answer", event.ReasonTimeout, []string{"ComparisonError"}, []string{"ComparisonError: " + liveState}, event.ClassPlatform, "argocd-cluster-unavailable"},
		{"a path that is not in the repository", event.ReasonTimeout, []string{"ComparisonError"},
			[]string{"ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = previews/pr-12: app path does not exist"},
			event.ClassUser, "argocd-manifest-generation"},
		{"a branch that is gone", event.ReasonTimeout, []string{"ComparisonError"},
			[]string{"ComparisonError: Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = unable to resolve 'feature/x' to a commit SHA"},
			event.ClassUser, "argocd-manifest-generation"},
		{"a repository the project does not permit", event.ReasonSyncFailed, nil,
			[]string{"InvalidSpecError: application repo https://github.com/acme/x.git is not permitted in project 'previews'"}, event.ClassUser, "argocd-invalid-spec"},
		{"an invalid Deployment", event.ReasonSyncFailed, nil,
			[]string{"one or more objects failed to apply, reason: Deployment.apps \"web\" is invalid: spec.template.spec.containers[0].image: Required value"}, event.ClassUser, "kubernetes-invalid-manifests"},
		{"a quota the platform set", event.ReasonSyncFailed, nil,
			[]string{"one or more objects failed to apply, reason: pods \"web-0\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=9, limited: cpu=10"}, event.ClassPlatform, "kubernetes-quota-exceeded"},
		{"deleted before ready", event.ReasonDeletedBeforeReady, nil, nil, event.ClassUser, "deleted-before-ready"},
		{"a timeout nothing explains", event.ReasonTimeout, nil, nil, event.ClassPlatform, event.MatcherUnmatched},
		{"an unreachable URL", event.ReasonURLUnreachable, nil, []string{"Get \"https://pr-12.example.com/\": dial tcp: lookup pr-12.example.com: no such host"}, event.ClassPlatform, event.MatcherUnmatched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, matcher := DefaultFailures.Classify(tc.reason, tc.conditions, tc.message)
			require.Equal(t, tc.class, class)
			require.Equal(t, tc.matcher, matcher)
		})
	}
}

// The file's matchers come before the defaults; a last one that matches everything
// leaves the defaults out. Names default to their place.
func TestFailuresOrder(t *testing.T) {
	cfg, err := loadBytes([]byte(`
failures:
  - {class: platform, reason: deleted_before_ready, condition: "ComparisonError|InvalidSpecError"}
  - {name: quota, class: user, message: "(?i)EXCEEDED QUOTA"}
`), "f.yml", lookup(nil))
	require.NoError(t, err)
	require.Len(t, cfg.Failures, 2+len(DefaultFailures))
	class, m := cfg.Failures.Classify(event.ReasonDeletedBeforeReady, []string{"InvalidSpecError"}, nil)
	require.Equal(t, []string{event.ClassPlatform, "failures[0]"}, []string{class, m})
	class, m = cfg.Failures.Classify(event.ReasonDeletedBeforeReady, []string{"SyncError"}, nil)
	require.Equal(t, []string{event.ClassUser, "deleted-before-ready"}, []string{class, m}, "the condition is anchored: no match, the defaults decide")
	class, m = cfg.Failures.Classify(event.ReasonSyncFailed, nil, []string{"pods is forbidden: exceeded quota: compute"})
	require.Equal(t, []string{event.ClassUser, "quota"}, []string{class, m})

	cfg, err = loadBytes([]byte(`
failures:
  - {class: user, reason: "sync_failed|degraded"}
  - {class: platform}
`), "f.yml", lookup(nil))
	require.NoError(t, err)
	require.Len(t, cfg.Failures, 2, "a last catch-all: the defaults cannot be reached, and are left out")
	class, m = cfg.Failures.Classify(event.ReasonDeletedBeforeReady, nil, nil)
	require.Equal(t, []string{event.ClassPlatform, "failures[1]"}, []string{class, m})
	class, m = cfg.Failures.Classify("sync_failed_again", nil, nil)
	require.Equal(t, []string{event.ClassPlatform, "failures[1]"}, []string{class, m}, "reason is anchored")

	// Printed (check-config) and loaded again, the same configuration.
	back, err := loadBytes([]byte(cfg.Redacted()), "f.yml", lookup(nil))
	require.NoError(t, err)
	require.Equal(t, cfg.Failures, back.Failures)
	require.Equal(t, cfg.SLOs, back.SLOs)
}

// The histogram's buckets follow the latency thresholds, which are registered once:
// a reload that changes them needs a restart.
func TestSLOThresholdsNeedRestart(t *testing.T) {
	old := DefaultConfig()
	cfg := DefaultConfig()
	cfg.SLOs = SLOs{SLODefault: DefaultSLO, "preview": {Latency: LatencyObjective{Objective: 90, Threshold: dur("7m")}, Success: DefaultSLO.Success, Window: DefaultSLO.Window}}
	require.EqualError(t, NeedsRestart(&old, &cfg), "slos latency thresholds (the provisioning histogram's buckets) changed from [300] to [300 420]: that needs a restart; keeping the previous configuration")
	cfg.SLOs = SLOs{SLODefault: DefaultSLO, "preview": {Latency: LatencyObjective{Objective: 90, Threshold: dur("5m")}, Success: SuccessObjective{Objective: 96}, Window: dur("28d")}}
	require.NoError(t, NeedsRestart(&old, &cfg), "objectives and windows reload")
}
