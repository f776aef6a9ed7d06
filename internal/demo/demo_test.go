package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("GET %s: %s: %s", u, resp.Status, body)}
	}
	return json.Unmarshal(body, v)
}

// statusError is an answer other than 200 OK.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// refused reports whether err is a server's refusal of the query itself (400 Bad
// Request, 422 Unprocessable Entity: Prometheus's bad_data and execution errors), which
// no retry mends; a lost connection or a 5xx on a loaded machine is polled again.
func refused(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.status == http.StatusBadRequest || se.status == http.StatusUnprocessableEntity)
}

func promValue(ctx context.Context, base, q string) (float64, error) {
	var r struct {
		Data struct {
			Result []struct{ Value [2]any }
		}
	}
	if err := getJSON(ctx, base+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), &r); err != nil {
		return 0, err
	}
	if len(r.Data.Result) == 0 {
		return 0, nil
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func influxCount(ctx context.Context, base, measurement, where string) (float64, error) {
	var r struct {
		Results []struct {
			Series []struct{ Values [][]any }
		}
	}
	q := url.Values{"db": {"envtrack"}, "q": {`SELECT COUNT("event_id") FROM "` + measurement + `"` + where}}
	if err := getJSON(ctx, base+"/query?"+q.Encode(), &r); err != nil {
		return 0, err
	}
	if len(r.Results) == 0 || len(r.Results[0].Series) == 0 || len(r.Results[0].Series[0].Values) == 0 {
		return 0, nil
	}
	n, _ := r.Results[0].Series[0].Values[0][1].(float64)
	return n, nil
}

// eventually polls cond until it holds; ctx is the hang guard, not a timing assertion.
func eventually(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never happened (last: %s)", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestDemo runs the demo's orchestration on a short, fast scenario (a simulated hour at
// 600×, then live): InfluxDB holds the points, Prometheus scraped a non-empty provisioning
// histogram (classic and native), the fake Grafana got annotations, and the insights
// API (answered with InfluxQL from InfluxDB as it ships: Flux off) has a sample. No timestamp is in the future and
// nothing is history. Stopped, it leaves no process behind, and a second run on the
// same directory starts clean.
func TestDemo(t *testing.T) {
	tools := testinfra.ToolsDir(t)
	for _, name := range []string{"influxd", "prometheus", "promtool", "alertmanager"} {
		testinfra.Tool(t, name) // skips (fails under CI=true) when `make tools` did not run
	}
	dir := t.TempDir()
	out := &testinfra.SyncBuffer{}
	opts := Options{
		Dir:            dir,
		ToolsDir:       tools,
		RulesFile:      filepath.Join("..", "..", "deploy", "prometheus", "envtrack.rules.yml"),
		Speed:          600,
		History:        time.Hour, // replayed in six seconds, then live
		PerHour:        120,
		Seed:           42,
		AnyPorts:       true,
		ScrapeInterval: time.Second,
		PollInterval:   100 * time.Millisecond, // one simulated minute at 600×
		Out:            out,
		LogLevel:       "debug",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // a hang guard
	defer cancel()
	d, err := Start(ctx, opts)
	require.NoError(t, err, out.String())
	stopped := false
	defer func() {
		if !stopped {
			_ = d.Stop()
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
			if b, err := os.ReadFile(filepath.Join(dir, "logs", "envtrack.log")); err == nil {
				t.Logf("envtrack log (tail):\n%s", tail(string(b), 4000))
			}
		}
	}()
	u := d.URLs()

	// One demo per directory.
	_, err = Start(ctx, Options{Dir: dir, ToolsDir: tools, AnyPorts: true, Out: io.Discard})
	require.ErrorContains(t, err, "another demo is running")

	eventually(t, ctx, "InfluxDB holds lifecycle points", func() (bool, string) {
		n, err := influxCount(ctx, u.InfluxDB, "environment_lifecycle", "")
		return err == nil && n > 0, fmt.Sprint(n, err)
	})
	eventually(t, ctx, "Prometheus scraped a non-empty provisioning histogram", func() (bool, string) {
		classic, err1 := promValue(ctx, u.Prometheus, `sum(blueberry_environment_provisioning_duration_seconds_count{job="envtrack"})`)
		native, err2 := promValue(ctx, u.Prometheus, `histogram_count(sum(blueberry_environment_provisioning_duration_seconds{job="envtrack"}))`)
		return err1 == nil && err2 == nil && classic > 0 && native > 0, fmt.Sprintf("classic %v %v, native %v %v", classic, err1, native, err2)
	})
	eventually(t, ctx, "the fake Grafana got annotations", func() (bool, string) {
		n := len(d.Grafana().Annotations())
		return n > 0, strconv.Itoa(n)
	})
	eventually(t, ctx, "insights have a sample", func() (bool, string) {
		var p struct {
			EnvironmentPerformance struct {
				Provisioning struct {
					SampleSize int `json:"sample_size"`
				} `json:"provisioning"`
			} `json:"environment_performance"`
		}
		err := getJSON(ctx, u.Envtrack+"/api/insights/performance-detailed?window=7d", &p)
		n := p.EnvironmentPerformance.Provisioning.SampleSize
		return err == nil && n > 0, fmt.Sprint(n, err)
	})

	// InfluxDB runs as it ships: Flux off (a Flux query answers 403), and the
	// insights above came from InfluxQL.
	fluxResp, err := http.Post(u.InfluxDB+"/api/v2/query", "application/vnd.flux",
		strings.NewReader(`from(bucket: "envtrack/autogen") |> range(start: -1m)`))
	require.NoError(t, err)
	fluxResp.Body.Close()
	require.Equal(t, http.StatusForbidden, fluxResp.StatusCode, "the demo's InfluxDB runs Flux")
	require.Equal(t, "influxql", d.App().Config().InfluxDB.QueryLanguage)

	// Every panel query of every shipped dashboard runs and returns data.
	checkDashboardQueries(t, ctx, u)

	// The exemplars carry environment ids (exemplar storage on).
	var ex struct {
		Data []struct {
			Exemplars []struct{ Labels map[string]string }
		}
	}
	now := time.Now()
	require.NoError(t, getJSON(ctx, u.Prometheus+"/api/v1/query_exemplars?"+url.Values{
		"query": {"blueberry_environment_provisioning_duration_seconds_bucket"},
		"start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix()+60, 10)},
	}.Encode(), &ex))
	require.NotEmpty(t, ex.Data, "exemplars")
	require.NotEmpty(t, ex.Data[0].Exemplars[0].Labels["environment_id"])

	// The landing page answers, with both sinks.
	resp, err := http.Get(u.Envtrack + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), `data-sink="influxdb"`)
	require.Contains(t, string(page), `data-sink="grafana"`)

	// The virtual clock keeps every timestamp in the past, and every environment is
	// tracked live: none is history.
	evs, err := d.App().Journal().Events(0, 0)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	realNow := time.Now()
	for _, e := range evs {
		require.False(t, e.Time.After(realNow), "event %s %s at %s is in the future", e.EnvironmentID, e.Name, e.Time)
		require.Nil(t, e.Meta("backfill"), "event %s %s is backfill", e.EnvironmentID, e.Name)
	}

	// Caught up with the present, envtrack was reloaded with the live intervals.
	eventually(t, ctx, "the demo goes live", func() (bool, string) {
		return strings.Contains(out.String(), "caught up with the present"), ""
	})
	cfg, err := os.ReadFile(filepath.Join(dir, "envtrack", "envtrack.yml"))
	require.NoError(t, err)
	require.Contains(t, string(cfg), "poll_interval: 5s")
	require.Equal(t, "5s", d.App().Config().ArgoCD.PollInterval.String())

	// The banner names a real environment.
	id, ok := d.WaitExample(ctx, time.Minute)
	require.True(t, ok)
	d.Banner(id)
	require.Contains(t, out.String(), "curl -s "+u.Envtrack+"/api/environments/"+id+"/timeline")
	require.Contains(t, out.String(), "insights --server "+u.Envtrack)
	require.Contains(t, out.String(), "See it: open "+u.Envtrack+"/ for charts")
	require.Contains(t, out.String(), u.Envtrack+"/environments/"+id)
	require.Contains(t, out.String(), PrometheusQueryURL(u.Prometheus, P95Query))

	// Stop: no process is left, nor any member of their process groups.
	pids := d.PIDs()
	require.Len(t, pids, 3)
	require.NoError(t, d.Stop())
	stopped = true
	for _, pid := range pids {
		require.True(t, errors.Is(syscall.Kill(pid, 0), syscall.ESRCH), "process %d is gone", pid)
		require.True(t, errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH), "process group %d is gone", pid)
	}
	_, err = http.Get(u.Envtrack + "/healthz")
	require.Error(t, err, "envtrack stopped")

	// A second run on the same directory starts clean (and can take the lock again).
	opts.History, opts.Out = 0, io.Discard
	d2, err := Start(ctx, opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, d2.Stop()) }()
	evs, err = d2.App().Journal().Events(0, 0)
	require.NoError(t, err)
	for _, e := range evs {
		require.Equal(t, "argocd-sim", e.EnvironmentID, "the journal starts empty (but for the URL-only environment)")
	}
	n, err := influxCount(ctx, d2.URLs().InfluxDB, "environment_lifecycle", ` WHERE "environment_id" != 'argocd-sim'`)
	require.NoError(t, err)
	require.Zero(t, n, "InfluxDB starts empty")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	return "…" + s[strings.IndexByte(s, '\n')+1:]
}
