package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// expectedOutcomes derives, from the scenario alone, the provisioning durations of the
// successful attempts and the number of failures.
func expectedOutcomes(sc *scenario.Scenario) (durations []float64, failures int) {
	for _, evs := range sc.Expected() {
		var start time.Time
		for _, e := range evs {
			switch e.Event {
			case event.ProvisioningStarted:
				start = e.Time
			case event.Ready:
				if late, _ := e.Meta["late"].(bool); late || start.IsZero() {
					continue
				}
				durations = append(durations, e.Time.Sub(start).Seconds())
			case event.ProvisioningFailed:
				failures++
			}
		}
	}
	sort.Float64s(durations)
	return durations, failures
}

// classicQuantile is Prometheus's histogram_quantile over classic buckets, written
// out for the test: linear interpolation inside the bucket that holds the rank.
func classicQuantile(q float64, sorted []float64, bounds []float64) float64 {
	counts := make([]float64, len(bounds))
	for i, b := range bounds {
		for _, v := range sorted {
			if v <= b {
				counts[i]++
			}
		}
	}
	rank := q * float64(len(sorted))
	for i, c := range counts {
		if c >= rank {
			lower, below := 0.0, 0.0
			if i > 0 {
				lower, below = bounds[i-1], counts[i-1]
			}
			return lower + (bounds[i]-lower)*(rank-below)/(c-below)
		}
	}
	return bounds[len(bounds)-1]
}

func promQuery(t *testing.T, base, q string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct{ Value [2]any }
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, "success", r.Status)
	if len(r.Data.Result) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
	require.NoError(t, err)
	return v, true
}

// TestPrometheusScrapesEnvtrack: a real Prometheus scrapes envtrack after the scenario;
// histogram_quantile and the success ratio give what the scenario implies, and
// promtool check metrics accepts /metrics.
func TestPrometheusScrapesEnvtrack(t *testing.T) {
	promtool := testinfra.Tool(t, "promtool")
	h := newHarness(t, harnessOpts{perKind: 4, static: 2})
	h.start()
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.step(at)
	}
	p := testinfra.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: envtrack
    static_configs: [{targets: [%q]}]
`, h.app.Addr()))

	durations, failures := expectedOutcomes(h.sc)
	require.NotEmpty(t, durations)
	total := float64(len(durations) + failures)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	for {
		if v, ok := promQuery(t, p.URL, `sum(blueberry_environment_provisioning_total)`); ok && v == total {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Prometheus never saw %v attempts", total)
		case <-time.After(200 * time.Millisecond):
		}
	}
	bounds := append(append([]float64{}, metric.ProvisioningBuckets...), math.Inf(1))
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, ok := promQuery(t, p.URL, fmt.Sprintf(`histogram_quantile(%g, sum by (le) (blueberry_environment_provisioning_duration_seconds_bucket))`, q))
		require.True(t, ok)
		require.InDelta(t, classicQuantile(q, durations, bounds), got, 1e-9, "p%g", q*100)
	}
	rate, ok := promQuery(t, p.URL, `sum(blueberry_environment_provisioning_total{status="success"}) / sum(blueberry_environment_provisioning_total)`)
	require.True(t, ok)
	require.InDelta(t, float64(len(durations))/total, rate, 1e-9)
	count, ok := promQuery(t, p.URL, `sum(blueberry_environment_provisioning_duration_seconds_count)`)
	require.True(t, ok)
	require.Equal(t, float64(len(durations)), count)

	// promtool check metrics over the real /metrics.
	resp, err := http.Get("http://" + h.app.Addr() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)

	// Exemplars (OpenMetrics) carry the environment id.
	req, _ := http.NewRequest("GET", "http://"+h.app.Addr()+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	om, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(om), `# {environment_id="env-`)
}
