package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// TestAnnotate: `envtrack annotate` against a running envtrack records the marker,
// which reaches InfluxDB's deployments measurement and Grafana as an annotation; against
// an unreachable envtrack it exits 1 with a one-line reason.
func TestAnnotate(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-token"))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: ./data
api: {write_tokens: [ci-token]}
influxdb: {url: %s, bucket: %s}
grafana: {url: %s, token: grafana-token}
`, db.URL, db.Bucket, graf.URL())), 0o600))
	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0", Sinks: sinks})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	var out, errb bytes.Buffer
	code := run([]string{"annotate", "--server", "http://" + a.Addr(), "--token", "ci-token",
		"--environment", "test", "--host", "host1", "--application", "app1",
		"--activity", "deployment-app1-1.2.34", "--status", "success"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "recorded deployment marker")

	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer wcancel()
	waitDelivered(wctx, t, a, 2)
	rows := db.Select(t, `SELECT activity, status, failed, host, environment, application FROM deployments`)
	require.Len(t, rows, 1)
	require.Equal(t, "deployment-app1-1.2.34", rows[0]["activity"])
	require.Equal(t, "success", rows[0]["status"])
	require.Equal(t, false, rows[0]["failed"])
	require.Equal(t, "host1", rows[0]["host"])
	anns := graf.Annotations()
	require.Len(t, anns, 1)
	require.Contains(t, anns[0].Tags, "deployment")
	require.Contains(t, anns[0].Text, "deployment-app1-1.2.34")

	// A wrong token: the API's reason, one line, exit 1.
	out.Reset()
	errb.Reset()
	code = run([]string{"annotate", "--server", "http://" + a.Addr(), "--token", "wrong",
		"--environment", "test", "--application", "app1", "--activity", "x"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Equal(t, "envtrack annotate: envtrack answered 401: invalid bearer token\n", errb.String())

	// Unreachable: exit 1, one line.
	errb.Reset()
	code = run([]string{"annotate", "--server", "http://127.0.0.1:1", "--token", "ci-token",
		"--environment", "test", "--application", "app1", "--activity", "x"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
	require.Contains(t, errb.String(), "cannot reach envtrack at http://127.0.0.1:1")
	require.NotContains(t, errb.String(), "ci-token")

	// Missing flags: usage error.
	errb.Reset()
	require.Equal(t, 2, run([]string{"annotate", "--environment", "test"}, &out, &errb))
	require.Contains(t, errb.String(), "missing --application, --activity")
}

// TestTimelineAndInsights: the CLI prints a timeline and the insights (table and JSON).
func TestTimelineAndInsights(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\napi: {write_tokens: [ci-token]}\n"), 0o600))
	now := time.Now().UTC().Truncate(time.Second)
	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	for _, p := range []struct {
		ev  string
		off time.Duration
	}{{"provisioning_started", -10 * time.Minute}, {"ready", -9 * time.Minute}} {
		pushEvent(t, "http://"+a.Addr(), "ci-token", fmt.Sprintf(`{"environment_id":"pr-7","event":%q,"timestamp":%q}`,
			p.ev, now.Add(p.off).Format(time.RFC3339)))
	}
	// A user's failure: shown on its own, a success of the platform's SLO.
	pushEvent(t, "http://"+a.Addr(), "ci-token", fmt.Sprintf(`{"environment_id":"pr-8","event":"provisioning_started","timestamp":%q}`, now.Add(-8*time.Minute).Format(time.RFC3339)))
	pushEvent(t, "http://"+a.Addr(), "ci-token", fmt.Sprintf(`{"environment_id":"pr-8","event":"provisioning_failed","timestamp":%q,"metadata":{"reason":"chart","failure_class":"user"}}`, now.Add(-7*time.Minute).Format(time.RFC3339)))
	server := "http://" + a.Addr()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"timeline", "pr-7", "--server", server}, &out, &errb), errb.String())
	require.Contains(t, out.String(), "provisioning_started")
	require.Contains(t, out.String(), "provisioning_duration_seconds=60")
	require.Contains(t, out.String(), "Outcome: ready · provisioning 1m0s · lifetime 10m")
	out.Reset()
	require.Equal(t, 0, run([]string{"timeline", "pr-7", "--server", server, "--json"}, &out, &errb), errb.String())
	require.Contains(t, out.String(), `"environment_id": "pr-7"`)
	out.Reset()
	require.Equal(t, 0, run([]string{"insights", "--server", server, "--window", "1d", "--environment", "pr-7"}, &out, &errb), errb.String())
	for _, want := range []string{"Provisioning performance, last 1d", "all", "50.00%", "1m0s", "provisioning_p50", "PASS", "Recommendations", "Environment pr-7",
		"Failures: chart 1 (user 1, platform 0)", "SLOs (each over its own window; burn rate over the last hour)"} {
		require.Contains(t, out.String(), want)
	}
	// 000's table by default: the user's failure spends none of the platform's budget.
	require.Regexp(t, `default +30d +success +98% +100.00% +100.00% +0 +1\n`, out.String())
	require.Regexp(t, `default +30d +latency <= 5m0s +95% +100.00% +100.00% +0 +-\n`, out.String())
	errb.Reset()
	require.Equal(t, 1, run([]string{"timeline", "nope", "--server", server}, &out, &errb))
	require.Equal(t, "envtrack timeline: envtrack answered 404: environment not found: nope\n", errb.String())
}

// pushEvent posts one event to envtrack's API, as the platform does.
func pushEvent(t *testing.T, server, token, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, server+"/api/events", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
}
