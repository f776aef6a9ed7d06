package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/dashboards"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// alertingWorld plays n environments that all become ready after readyAfter, with a
// real Prometheus evaluating the generated rules (short windows and `for`) and a real
// Alertmanager receiving what fires.
type alertingWorld struct {
	h    *harness
	prom *testinfra.Prometheus
	am   *testinfra.Alertmanager
}

func newAlertingWorld(t *testing.T, n int, readyAfter time.Duration) *alertingWorld {
	t.Helper()
	am := testinfra.StartAlertmanager(t, `route: {receiver: blackhole, group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: blackhole}]
`)
	h := newHarness(t, harnessOpts{timeout: time.Hour})
	h.start()
	opts := dashboards.DefaultOptions()
	opts.Window, opts.For = 30*time.Second, 0
	opts.HealthWindow, opts.HealthFor, opts.DownFor = 30*time.Second, 0, 0
	opts.BurnRateFor = 0
	set, err := dashboards.New(opts)
	require.NoError(t, err)
	rules, err := set.RulesYAML()
	require.NoError(t, err)
	rulesFile := filepath.Join(t.TempDir(), "envtrack.rules.yml")
	require.NoError(t, os.WriteFile(rulesFile, rules, 0o600))
	p := testinfra.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: envtrack
    static_configs: [{targets: [%q]}]
`, rulesFile, hostPort(am.URL), h.app.Addr()))
	w := &alertingWorld{h: h, prom: p, am: am}
	// Observations must happen while Prometheus watches, or rate() sees no increase.
	w.waitFor(t, "Prometheus to scrape envtrack", func() bool {
		v, ok := promQuery(t, p.URL, `up{job="envtrack"}`)
		return ok && v == 1
	})
	start := h.sc.Start
	var apps []fakeargocd.Application
	for i := 0; i < n; i++ {
		a := fakeargocd.NewApp(fmt.Sprintf("pr-%03d", i), start, fakeargocd.WithType("preview"))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", start.Add(5*time.Second))
		apps = append(apps, a)
	}
	h.argo.SetApps(apps)
	h.clock.Set(start.Add(time.Minute)) // a poll
	// The type's series exist at zero once it is known; let Prometheus see the zero, so
	// that rate() counts the readies that follow.
	w.waitFor(t, "the zero histogram of type preview", func() bool {
		v, ok := promQuery(t, p.URL, `blueberry_environment_provisioning_duration_seconds_count{type="preview"}`)
		return ok && v == 0
	})
	for i := range apps {
		fakeargocd.SyncSucceeded(&apps[i], "1a2b3c4d5e6f", start.Add(readyAfter-10*time.Second))
		fakeargocd.SetHealth(&apps[i], fakeargocd.HealthHealthy, start.Add(readyAfter))
	}
	h.argo.SetApps(apps)
	h.clock.Set(start.Add(readyAfter + time.Minute)) // a poll

	return w
}

func hostPort(u string) string { return u[len("http://"):] }

func (w *alertingWorld) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// amAlerts returns the names of the alerts Alertmanager holds.
func (w *alertingWorld) amAlerts(t *testing.T) []string {
	resp, err := http.Get(w.am.URL + "/api/v2/alerts")
	require.NoError(t, err)
	defer resp.Body.Close()
	var alerts []struct{ Labels map[string]string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&alerts))
	var names []string
	for _, a := range alerts {
		names = append(names, a.Labels["alertname"])
	}
	return names
}

// TestSlowProvisioningFiresP95: environments that take 15 minutes make the generated
// P95 rule fire in Prometheus, and Alertmanager shows it.
func TestSlowProvisioningFiresP95(t *testing.T) {
	w := newAlertingWorld(t, 20, 15*time.Minute)
	w.waitFor(t, "EnvironmentProvisioningP95Slow in Alertmanager", func() bool {
		for _, n := range w.amAlerts(t) {
			if n == "EnvironmentProvisioningP95Slow" {
				return true
			}
		}
		return false
	})
}

// TestHealthyProvisioningFiresNothing: environments ready in under a minute fire no
// alert at all, once Prometheus has scraped them and evaluated the rules many times.
func TestHealthyProvisioningFiresNothing(t *testing.T) {
	w := newAlertingWorld(t, 20, 50*time.Second)
	// While the attempts are inside the rules' window, the p95 is a number...
	var p95 float64
	w.waitFor(t, "the p95 recording rule over the 20 attempts", func() bool {
		v, ok := promQuery(t, w.prom.URL, `blueberry:environment_provisioning_duration_seconds:p95_rate30s`)
		p95 = v
		return ok && !math.IsNaN(v)
	})
	require.Less(t, p95, 600.0)
	// ...and once every rule group has been evaluated again, nothing is pending or firing.
	since := time.Now()
	w.waitFor(t, "every rule group evaluated again", func() bool { return w.groupsEvaluatedAfter(t, since) })
	v, ok := promQuery(t, w.prom.URL, `count(ALERTS)`)
	require.False(t, ok, "alerts pending or firing: %v", v)
	require.Empty(t, w.amAlerts(t))
}

// groupsEvaluatedAfter reports whether every rule group's last evaluation began after t.
func (w *alertingWorld) groupsEvaluatedAfter(t *testing.T, after time.Time) bool {
	resp, err := http.Get(w.prom.URL + "/api/v1/rules")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Name           string
				LastEvaluation time.Time
			}
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.NotEmpty(t, r.Data.Groups)
	for _, g := range r.Data.Groups {
		if !g.LastEvaluation.After(after) {
			return false
		}
	}
	return true
}
