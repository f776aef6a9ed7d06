package dashboards_test

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/dashboards"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// shortOptions are what an end-to-end test generates its rules with: windows and `for`
// of seconds to minutes.
func shortOptions() dashboards.Options {
	o := dashboards.DefaultOptions()
	o.Window, o.For = 2*time.Minute, time.Minute
	o.BurnRates = []dashboards.BurnRate{
		{Long: 2 * time.Minute, Short: 30 * time.Second, Factor: 14.4},
		{Long: 4 * time.Minute, Short: time.Minute, Factor: 6},
	}
	o.BurnRateFor = 30 * time.Second
	o.HealthWindow, o.HealthFor, o.DownFor = time.Minute, time.Minute, 30*time.Second
	return o
}

// TestPromtool runs the real promtool (v0.316.0, from .cache/bin) on the generated rule
// file and its tests: `promtool check rules` and `promtool test rules`, where every
// alert is tested firing and not firing. Also with short windows, other targets and
// another namespace, since the tests are generated from the options too.
func TestPromtool(t *testing.T) {
	promtool := testinfra.Tool(t, "promtool")
	other := dashboards.DefaultOptions()
	other.Namespace = "acme"
	other.Targets = dashboards.Targets{
		ProvisioningP50: dashboards.DurationTarget{Target: model.Duration(time.Minute), Alert: model.Duration(90 * time.Second)},
		ProvisioningP95: dashboards.DurationTarget{Target: model.Duration(3 * time.Minute), Alert: model.Duration(5 * time.Minute)},
		SuccessRate:     dashboards.RateTarget{Target: 99, Alert: 90},
	}
	other.Job = "envtrack|envtrack-staging"
	other.SinkLagEvents = 100
	for name, opts := range map[string]dashboards.Options{
		"default":       dashboards.DefaultOptions(),
		"short windows": shortOptions(),
		"other targets": other,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			files := generated(t, opts)
			dir := t.TempDir()
			for _, f := range []string{dashboards.RulesFile, dashboards.RuleTestsFile} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, path.Base(f)), files[f], 0o600))
			}
			run := func(args ...string) {
				cmd := exec.Command(promtool, args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "promtool %v:\n%s", args, out)
				t.Logf("promtool %v:\n%s", args, out)
			}
			run("check", "rules", path.Base(dashboards.RulesFile))
			run("test", "rules", path.Base(dashboards.RuleTestsFile))
		})
	}
}

// The committed files (deploy/prometheus/) pass too, in place.
func TestPromtoolOnCommittedFiles(t *testing.T) {
	promtool := testinfra.Tool(t, "promtool")
	dir := filepath.Join(moduleRoot(t), "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "envtrack.rules.yml"}, {"test", "rules", "envtrack.rules.test.yml"}, {"test", "rules", "envtrack.slo.rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

// The SLO rules and their tests with objectives per type: a named type gets its own
// SLOs, the default (tested) covers the others, with a 28d window (Sloth's 13.44 page
// burn rate). The SLO tests take promtool about 20 s of CPU: they run here and on the
// committed files only.
func TestPromtoolSLOsPerType(t *testing.T) {
	promtool := testinfra.Tool(t, "promtool")
	opts := dashboards.DefaultOptions()
	preview := config.DefaultSLO
	preview.Latency = config.LatencyObjective{Objective: 90, Threshold: model.Duration(10 * time.Minute)}
	def := config.DefaultSLO
	def.Window = model.Duration(28 * 24 * time.Hour)
	def.Success.Objective = 99
	opts.SLOs = config.SLOs{config.SLODefault: def, "preview": preview}
	opts.Types = []string{"staging"}
	files := generated(t, opts)
	rules := string(files[dashboards.RulesFile])
	for _, want := range []string{`sloth_service: envtrack-preview`, `sloth_service: envtrack-staging`, `type!~"preview|staging"`,
		`le=~"600|600\\.0", type="preview"`, `(13.44 * 0.01)`} {
		require.Contains(t, rules, want)
	}
	dir := t.TempDir()
	for _, f := range []string{dashboards.RulesFile, dashboards.SLORuleTestsFile} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, path.Base(f)), files[f], 0o600))
	}
	for _, args := range [][]string{{"check", "rules", "envtrack.rules.yml"}, {"test", "rules", "envtrack.slo.rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

// A broken alert is caught by the generated tests (the promtool test is not vacuous).
func TestPromtoolCatchesAWrongExpectation(t *testing.T) {
	promtool := testinfra.Tool(t, "promtool")
	files := generated(t, dashboards.DefaultOptions())
	dir := t.TempDir()
	rules := []byte(string(files[dashboards.RulesFile]))
	// Make the P95 alert impossible: the firing case must now fail.
	broken := []byte(replaceOnce(t, string(rules), ":p95_rate1h >= 600", ":p95_rate1h >= 601"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "envtrack.rules.yml"), broken, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "envtrack.rules.test.yml"), files[dashboards.RuleTestsFile], 0o600))
	cmd := exec.Command(promtool, "test", "rules", "envtrack.rules.test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "EnvironmentProvisioningP95Slow: slow provisioning fires")
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	i := len(s)
	for j := range len(s) - len(old) + 1 {
		if s[j:j+len(old)] == old {
			require.Equal(t, len(s), i, "%q occurs more than once", old)
			i = j
		}
	}
	require.Less(t, i, len(s), "%q not found", old)
	return s[:i] + new + s[i+len(old):]
}
