package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/apitypes"
)

const landingGrafanaToken = "grafana-landing-token"

// landingHarness runs the scenario (one story per kind) through an envtrack with a
// Grafana sink, so the page has every phase, failures with reasons and a sink.
func landingHarness(t *testing.T, extra string) *harness {
	t.Helper()
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken(landingGrafanaToken))
	h := newHarness(t, harnessOpts{perKind: 1, static: 1,
		extraConfig: fmt.Sprintf("grafana: {url: %s, token: %s, timeout: 2s}\n%s", graf.URL(), landingGrafanaToken, extra)})
	h.start()
	end := h.sc.Start.Add(30 * time.Minute) // some stories still running, some over
	for at := h.sc.Start; !at.After(end); at = at.Add(scenario.Step) {
		h.step(at)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	require.NoError(t, waitDelivered(ctx, h.app))
	return h
}

func getBody(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestLandingPage: the page shows the version, every phase with its count, links to
// the timelines, the failures with their reasons, the sink and its lag, the links to
// /metrics and the API, and never a secret.
func TestLandingPage(t *testing.T) {
	h := landingHarness(t, "")
	code, ctype, body := getBody(t, "http://"+h.app.Addr()+"/")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/html; charset=utf-8", ctype)
	require.NotContains(t, body, "<script", "no JavaScript")

	counts := map[tracker.Phase]int{}
	for _, s := range h.app.tracker.States() {
		counts[s.Phase]++
	}
	for _, p := range tracker.Phases {
		require.Contains(t, body, fmt.Sprintf(`data-phase="%s">%d</td>`, p, counts[p]), "count of phase %s", p)
	}
	require.Greater(t, counts[tracker.PhaseReady], 0)
	require.Greater(t, counts[tracker.PhaseFailed], 0)
	for _, s := range h.app.tracker.States() {
		require.Contains(t, body, fmt.Sprintf(`href="api/environments/%s/timeline"`, s.ID))
	}
	for _, reason := range []string{"sync_failed", "degraded", "timeout", "url_unreachable", "deleted_before_ready"} {
		require.Contains(t, body, `<td class="reason">`+reason+`</td>`)
	}
	require.Regexp(t, `data-sink="grafana"><td>grafana</td>\s*<td class="ok">ok</td>\s*<td class="num lag">0</td>`, body)
	for _, link := range []string{`href="metrics"`, `href="api/environments"`, `href="api/insights/performance-detailed?window=7d"`, `href="healthz"`, `href="readyz"`} {
		require.Contains(t, body, link)
	}
	require.Contains(t, body, "Effective configuration (secrets redacted)")
	require.Contains(t, body, "token set")
	require.Contains(t, body, "&lt;secret&gt;", "the redacted configuration shows that secrets exist")
	for _, secret := range []string{"argo-secret-token", landingGrafanaToken} {
		require.NotContains(t, body, secret)
	}
}

// TestLandingPagePrivate: with read tokens, environment ids and the configuration stay
// behind the API's authentication; the sinks still show.
func TestLandingPagePrivate(t *testing.T) {
	h := landingHarness(t, "api: {read_tokens: [landing-read-token]}\n")
	code, _, body := getBody(t, "http://"+h.app.Addr()+"/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `class="num lag">0</td>`)
	require.NotContains(t, body, "env-000")
	require.NotContains(t, body, "/timeline\"")
	require.NotContains(t, body, "landing-read-token")
	require.NotContains(t, body, h.argo.URL())
}

// chromium returns Debian's chromium (or $CHROMIUM). Without one the test is skipped,
// except under CI=true, where `make test` installs it first.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM"), "chromium", "/usr/bin/chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("headless Chromium is required in CI: install Debian's chromium package (make test does when it can)")
	}
	t.Skip("no Chromium installed (apt-get install chromium, or set CHROMIUM): skipping the headless browser test")
	return ""
}

// dumpDOM loads url in headless Chromium and returns the DOM after load. The page must
// render under its Content-Security-Policy: the browser's console (logged on stderr)
// must report no violation, such as a style or an image the policy blocked.
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--no-zygote", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "--dump-dom", url)
	// Its own process group, so that a hang kills its helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
		}
		t.Fatalf("chromium: %v", err)
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		require.NotContains(t, l, "Content Security Policy", "%s renders under its CSP", url)
	}
	return string(out)
}

var (
	timelineLinkRe = regexp.MustCompile(`<a class="timeline" href="([^"]+)">([^<]+)</a>`)
	lagRe          = regexp.MustCompile(`<tr class="sink" data-sink="([a-z]+)">(?s:.*?)<td class="num lag">(\d+)</td>`)
	preRe          = regexp.MustCompile(`(?s)<pre[^>]*>(.*?)</pre>`)
)

// TestLandingPageInChromium: a real browser renders the page; it shows the environments,
// the Grafana sink's lag and timeline links, and following a link gives a valid timeline.
func TestLandingPageInChromium(t *testing.T) {
	bin := chromium(t)
	h := landingHarness(t, "")
	base := "http://" + h.app.Addr() + "/"
	dom := dumpDOM(t, bin, base)

	require.Contains(t, dom, "<h1>envtrack</h1>")
	require.Contains(t, dom, "Environments by phase")
	m := lagRe.FindStringSubmatch(dom)
	require.NotNil(t, m, "a sink row with its lag:\n%s", dom)
	require.Equal(t, []string{"grafana", "0"}, m[1:])

	links := timelineLinkRe.FindAllStringSubmatch(dom, -1)
	require.NotEmpty(t, links, "timeline links:\n%s", dom)
	seen := map[string]bool{}
	for _, l := range links {
		seen[l[2]] = true
	}
	for _, s := range h.app.tracker.States() {
		require.True(t, seen[s.ID], "environment %s (%s) listed with a timeline link", s.ID, s.Phase)
	}

	// The first link leads to the environment's page, the JSON is next to it: follow it,
	// as a reader would, and read the JSON Chromium shows.
	link, id := links[0][1], links[0][2]
	require.Equal(t, "environments/"+id, link)
	require.Contains(t, dom, `<a class="json muted" href="api/environments/`+id+`/timeline">json</a>`)
	page := dumpDOM(t, bin, base+"api/environments/"+id+"/timeline")
	pre := preRe.FindStringSubmatch(page)
	require.NotNil(t, pre, "the timeline shows as JSON:\n%s", page)
	var tl apitypes.Timeline
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(pre[1])), &tl), pre[1])
	require.Equal(t, id, tl.EnvironmentID)
	require.NotEmpty(t, tl.Timeline)
	known := map[string]bool{"created": true, "provisioning_started": true, "ready": true, "provisioning_failed": true,
		"deployed": true, "degraded": true, "recovered": true, "termination_started": true, "terminated": true}
	for _, e := range tl.Timeline {
		require.True(t, known[string(e.Event)], "event %q", e.Event)
		require.False(t, e.Timestamp.IsZero())
	}
}
