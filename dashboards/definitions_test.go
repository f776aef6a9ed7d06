package dashboards_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/dashboards"
	"github.com/blueberry-idp/envtrack/model/metric"
)

func defaultSet(t testing.TB) *dashboards.Set {
	t.Helper()
	s, err := dashboards.New(dashboards.DefaultOptions())
	require.NoError(t, err)
	return s
}

// The lifecycle metrics of DESIGN §4, as exporter/prom exposes them.
func TestLifecycleMetricsAreDesignFour(t *testing.T) {
	s := defaultSet(t)
	want := map[string]struct {
		typ     dashboards.Type
		labels  []string
		buckets []float64
	}{
		"blueberry_environment_provisioning_duration_seconds": {dashboards.Histogram, []string{"type"}, []float64{30, 60, 120, 300, 600}},
		"blueberry_environment_provisioning_total":            {dashboards.Counter, []string{"status", "type"}, nil},
		"blueberry_environment_provisioning_failures_total":   {dashboards.Counter, []string{"reason", "type", "class"}, nil},
		"blueberry_environment_provisioning_in_progress":      {dashboards.Gauge, []string{"type"}, nil},
		"blueberry_environments":                              {dashboards.Gauge, []string{"phase", "type"}, nil},
		"blueberry_environment_termination_duration_seconds":  {dashboards.Histogram, []string{"type"}, metric.TerminationBuckets},
		"blueberry_environment_terminations_stuck":            {dashboards.Gauge, []string{"type"}, nil},
		"blueberry_environment_lifecycle_events_total":        {dashboards.Counter, []string{"event"}, nil},
		"blueberry_deployments_total":                         {dashboards.Counter, []string{"status"}, nil},
	}
	got := 0
	for _, m := range s.Metrics() {
		if m.Source != metric.SourceLifecycle {
			require.True(t, m.Name == "up" || strings.HasPrefix(m.Name, "envtrack_"), m.Name)
			continue
		}
		got++
		w, ok := want[m.Name]
		require.True(t, ok, "unexpected lifecycle metric %s", m.Name)
		require.Equal(t, w.typ, m.Type, m.Name)
		require.Equal(t, w.labels, m.Labels, m.Name)
		require.Equal(t, w.buckets, m.Buckets, m.Name)
		require.NotEmpty(t, m.Help, m.Name)
		require.NotContains(t, m.Labels, "environment_id", "no label takes an environment id")
	}
	require.Equal(t, len(want), got)
}

func TestNamespace(t *testing.T) {
	o := dashboards.DefaultOptions()
	o.Namespace = "acme"
	s, err := dashboards.New(o)
	require.NoError(t, err)
	require.Equal(t, "acme_environment_provisioning_duration_seconds", s.Metric(metric.ProvisioningDuration.ID).Name)
	require.Equal(t, "envtrack_sink_lag_events", s.Metric("envtrack_sink_lag_events").Name)
	for _, r := range s.Rules().Groups {
		for _, rule := range r.Rules {
			require.NotContains(t, rule.Expr, "blueberry", rule.Alert+rule.Record)
		}
	}
	o.Namespace = "not a namespace"
	_, err = dashboards.New(o)
	require.ErrorContains(t, err, `namespace "not a namespace" is not a metric name prefix`)
	require.Panics(t, func() { s.Metric("no_such_metric") })
}

func TestAlerts(t *testing.T) {
	s := defaultSet(t)
	handbook := string(s.Handbook())
	anchors := headingAnchors(handbook)
	var names []string
	for _, a := range s.Alerts() {
		names = append(names, a.Name)
		require.Contains(t, []string{dashboards.SeverityCritical, dashboards.SeverityWarning}, a.Severity, a.Name)
		require.NotEmpty(t, a.Summary, a.Name)
		require.NotEmpty(t, a.Description, a.Name)
		require.NotEmpty(t, a.Meaning, a.Name)
		require.NotEmpty(t, a.Steps, a.Name)
		require.NotEmpty(t, a.Threshold, a.Name)
		fires, silent := 0, 0
		for _, c := range a.Cases {
			if c.Fires {
				fires++
			} else {
				silent++
			}
		}
		require.Positive(t, fires, "%s has no firing test case", a.Name)
		require.Positive(t, silent, "%s has no silent test case", a.Name)
	}
	require.Equal(t, []string{
		"EnvironmentProvisioningP50Slow", "EnvironmentProvisioningP95Slow", "EnvironmentProvisioningSuccessRateLow",
		"EnvironmentProvisioningErrorBudgetBurn", "EnvironmentTerminationStuck",
		"EnvtrackDown", "EnvtrackConfigReloadFailed", "EnvtrackArgoCDPollsFailing", "EnvtrackProbesFailing",
		"EnvtrackSinkLagging", "EnvtrackSinkSettingEventsAside", "EnvtrackSinkUndeliveredSetAside", "EnvtrackNoLeader", "EnvtrackLeaseFlapping",
	}, names)
	// The SLO alerts: a page and a ticket alert per SLI, one rule per SLO (one SLO of
	// each SLI by default), each with its runbook.
	var sloNames []string
	for _, a := range s.SLOAlerts() {
		sloNames = append(sloNames, a.Name)
	}
	require.Equal(t, []string{"EnvironmentProvisioningLatencyBudgetBurn", "EnvironmentProvisioningLatencyBudgetBurnSlow",
		"EnvironmentProvisioningSuccessBudgetBurn", "EnvironmentProvisioningSuccessBudgetBurnSlow"}, sloNames)
	names = append(names, sloNames...)

	// Every alerting rule has severity, summary, description and a runbook_url whose
	// anchor is a heading of the handbook.
	n := 0
	for _, g := range s.Rules().Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			require.Contains(t, r.Labels, "severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			require.NotEmpty(t, r.Annotations["description"], r.Alert)
			url := r.Annotations["runbook_url"]
			require.True(t, strings.HasPrefix(url, dashboards.HandbookURL+"#"), url)
			anchor := strings.TrimPrefix(url, dashboards.HandbookURL+"#")
			require.Contains(t, anchors, anchor, "%s: runbook anchor %q is no heading of docs/operations.md", r.Alert, anchor)
			require.Contains(t, handbook, "### "+r.Alert+"\n")
		}
	}
	require.Equal(t, len(names), n)
}

// headingAnchors computes the anchors GitHub gives the handbook's headings.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		h = regexp.MustCompile(`[^\p{L}\p{N} _-]`).ReplaceAllString(h, "")
		out[strings.ReplaceAll(h, " ", "-")] = true
	}
	return out
}

func ruleExpr(t *testing.T, s *dashboards.Set, alert string) string {
	t.Helper()
	for _, g := range s.Rules().Groups {
		for _, r := range g.Rules {
			if r.Alert == alert {
				return r.Expr
			}
		}
	}
	t.Fatalf("no alert %s", alert)
	return ""
}

// Thresholds come from the targets; windows and `for` from the options.
func TestThresholdsFollowTargetsAndOptions(t *testing.T) {
	s := defaultSet(t)
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningP50Slow"), ":p50_rate1h > 180 ")
	// 10m is the highest classic bucket: histogram_quantile cannot exceed it.
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningP95Slow"), ":p95_rate1h >= 600 ")
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningSuccessRateLow"), ":ratio_rate1h < 0.95 ")
	burn := ruleExpr(t, s, "EnvironmentProvisioningErrorBudgetBurn")
	require.Contains(t, burn, "blueberry:environment_provisioning_errors:ratio_rate1h > (14.4 * (1 - 0.98)) and blueberry:environment_provisioning_errors:ratio_rate5m > (14.4 * (1 - 0.98))")
	require.Contains(t, burn, "blueberry:environment_provisioning_errors:ratio_rate6h > (6 * (1 - 0.98)) and blueberry:environment_provisioning_errors:ratio_rate30m > (6 * (1 - 0.98))")
	require.Equal(t, `up{job=~"envtrack"} == 0`, ruleExpr(t, s, "EnvtrackDown"))

	o := dashboards.DefaultOptions()
	o.Targets.ProvisioningP50.Alert = model.Duration(4 * time.Minute)
	o.Targets.ProvisioningP95.Alert = model.Duration(5 * time.Minute)
	o.Targets.SuccessRate = dashboards.RateTarget{Target: 99.5, Alert: 97}
	o.Window, o.For = 10*time.Minute, time.Minute
	o.Job = "envtrack|envtrack-staging"
	s, err := dashboards.New(o)
	require.NoError(t, err)
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningP50Slow"), ":p50_rate10m > 240 ")
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningP95Slow"), ":p95_rate10m > 300 ")
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningSuccessRateLow"), ":ratio_rate10m < 0.97 ")
	require.Contains(t, ruleExpr(t, s, "EnvironmentProvisioningErrorBudgetBurn"), "(14.4 * (1 - 0.995))")
	require.Equal(t, `up{job=~"envtrack|envtrack-staging"} == 0`, ruleExpr(t, s, "EnvtrackDown"))
	for _, g := range s.Rules().Groups {
		for _, r := range g.Rules {
			if r.Alert == "EnvironmentProvisioningP95Slow" {
				require.Equal(t, "1m", r.For)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, dashboards.DefaultOptions().Validate())
	for _, tc := range []struct {
		name   string
		change func(*dashboards.Options)
		err    string
	}{
		{"namespace", func(o *dashboards.Options) { o.Namespace = "9x" }, `namespace "9x"`},
		{"p95 above the buckets", func(o *dashboards.Options) { o.Targets.ProvisioningP95.Alert = model.Duration(15 * time.Minute) }, "targets.provisioning_p95.alert 15m0s is outside the histogram's classic buckets"},
		{"p50 below the buckets", func(o *dashboards.Options) { o.Targets.ProvisioningP50.Alert = model.Duration(10 * time.Second) }, "targets.provisioning_p50.alert 10s is outside"},
		{"slo 100", func(o *dashboards.Options) { o.Targets.SuccessRate.Target = 100 }, "leaves no error budget"},
		{"burn rate impossible", func(o *dashboards.Options) { o.Targets.SuccessRate.Target = 90 }, "burn rate 14.4 with a 90 % SLO"},
		{"window", func(o *dashboards.Options) { o.Window = 0 }, "window 0s must be a positive"},
		{"short window", func(o *dashboards.Options) { o.BurnRates[0].Short = 2 * time.Hour }, "must be shorter than the long window"},
		{"job", func(o *dashboards.Options) { o.Job = "(" }, `job "("`},
		{"ratio", func(o *dashboards.Options) { o.ProbeFailureRatio = 1 }, "probe failure ratio 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := dashboards.DefaultOptions()
			tc.change(&o)
			_, err := dashboards.New(o)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// Every metric envtrack exposes is shown on a panel.
func TestEveryMetricIsShown(t *testing.T) {
	s := defaultSet(t)
	var exprs []string
	for _, d := range s.DashboardSpecs() {
		for _, row := range d.Rows {
			panels := s.Panels(d.UID, row)
			require.NotEmpty(t, panels, "%s row %q has no panels", d.UID, row)
			width := 0
			for _, p := range panels {
				width += p.Width
				for _, q := range p.Queries {
					exprs = append(exprs, q.Expr)
				}
			}
			require.Zero(t, width%24, "%s row %q does not fill whole lines", d.UID, row)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range s.Metrics() {
		re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(m.Name) + `(_bucket|_count|_sum)?($|[^a-zA-Z0-9_:])`)
		require.True(t, re.MatchString(all), "no panel shows %s", m.Name)
	}
}
