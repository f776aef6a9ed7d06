package app

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

const pagesWriteToken = "pages-ci-token"

// pagesHarness runs the whole scenario (one story per kind, every lifecycle path) to
// its end and pushes one CI deployment marker for the redeployed environment.
func pagesHarness(t *testing.T) (*harness, time.Time) {
	t.Helper()
	h := newHarness(t, harnessOpts{perKind: 1, static: 1,
		extraConfig: "api: {write_tokens: [" + pagesWriteToken + "]}\n"})
	h.start()
	end := h.sc.End().Add(2 * time.Minute)
	for at := h.sc.Start; !at.After(end); at = at.Add(scenario.Step) {
		h.step(at)
	}
	ciAt := h.sc.Start.Add(40 * time.Minute)
	body := fmt.Sprintf(`{"kind":"deployment","environment":"%s","host":"host1","application":"app1","activity":"deploy <b>1.2.3</b>","status":"success","timestamp":"%s"}`,
		storyOf(t, h.sc, scenario.KindDeployed).ID, ciAt.Format(time.RFC3339))
	req, err := http.NewRequest(http.MethodPost, "http://"+h.app.Addr()+"/api/events", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+pagesWriteToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	return h, ciAt
}

func storyOf(t *testing.T, sc *scenario.Scenario, kind string) scenario.Story {
	t.Helper()
	for _, st := range sc.Stories {
		if st.Kind == kind {
			return st
		}
	}
	t.Fatalf("no story of kind %s", kind)
	return scenario.Story{}
}

// span of the oracle: a phase from the from-th expected event to the to-th (-1: still
// going on, until now).
type wantSpan struct {
	phase    string
	from, to int
}

// phasesByKind is the independent oracle: what each lifecycle path looks like as phases,
// by the indices of the scenario's expected events.
var phasesByKind = map[string][]wantSpan{
	scenario.KindReady:          {{"provisioning", 0, 1}, {"ready", 1, -1}},
	scenario.KindReadyURL:       {{"provisioning", 0, 1}, {"ready", 1, -1}},
	scenario.KindRequested:      {{"queued", 0, 1}, {"provisioning", 1, 2}, {"ready", 2, -1}},
	scenario.KindSyncFailed:     {{"provisioning", 0, 1}, {"failed", 1, -1}},
	scenario.KindDegraded:       {{"provisioning", 0, 1}, {"failed", 1, -1}},
	scenario.KindDeleted:        {{"provisioning", 0, 1}, {"failed", 1, 2}, {"terminating", 2, 3}},
	scenario.KindVanished:       {{"provisioning", 0, 1}, {"failed", 1, 2}},
	scenario.KindTimeout:        {{"provisioning", 0, 1}, {"failed", 1, 2}, {"terminating", 2, 3}},
	scenario.KindURLUnreachable: {{"provisioning", 0, 1}, {"failed", 1, -1}},
	scenario.KindLate:           {{"provisioning", 0, 1}, {"failed", 1, 2}, {"ready", 2, -1}},
	scenario.KindDeployed:       {{"provisioning", 0, 1}, {"ready", 1, -1}},
	scenario.KindHealthFlap:     {{"provisioning", 0, 1}, {"ready", 1, 2}, {"degraded", 2, 3}, {"ready", 3, -1}},
	scenario.KindURLFlap:        {{"provisioning", 0, 1}, {"ready", 1, 2}, {"degraded", 2, 3}, {"ready", 3, -1}},
	scenario.KindTerminated:     {{"provisioning", 0, 1}, {"ready", 1, 2}, {"terminating", 2, 3}},
	scenario.KindStatic:         {{"ready", 0, 1}, {"degraded", 1, 2}, {"ready", 2, -1}},
}

var (
	spanRe   = regexp.MustCompile(`<rect class="span [a-z]+"[^>]* data-phase="([a-z]+)" data-start="([^"]+)" data-end="([^"]+)" data-seconds="(\d+)"`)
	deployRe = regexp.MustCompile(`<line class="deploy[^"]*"[^>]* data-time="([^"]+)" data-source="([a-z]+)"`)
)

// TestEnvironmentPages: for every lifecycle path, the environment page shows the right
// phases in the right order with the right durations (in the SVG's attributes and the
// phases table), the deployment markers at their times, repository, branch and commit,
// the failure reason, and links to the JSON.
func TestEnvironmentPages(t *testing.T) {
	h, ciAt := pagesHarness(t)
	base := "http://" + h.app.Addr() + "/"
	now := h.clock.Now()
	exp := h.sc.Expected()
	for _, st := range h.sc.Stories {
		t.Run(st.Kind, func(t *testing.T) {
			code, ctype, body := getBody(t, base+"environments/"+st.ID)
			require.Equal(t, http.StatusOK, code, body)
			require.Equal(t, "text/html; charset=utf-8", ctype)
			require.NotContains(t, body, "<script")
			want := phasesByKind[st.Kind]
			require.NotNil(t, want, "oracle for %s", st.Kind)
			got := spanRe.FindAllStringSubmatch(body, -1)
			require.Len(t, got, len(want), "phases of %s (%s):\n%s", st.ID, st.Kind, body)
			e := exp[st.ID]
			for i, w := range want {
				start := e[w.from].Time
				end := now
				if w.to >= 0 {
					end = e[w.to].Time
				}
				require.Equal(t, w.phase, got[i][1], "phase %d of %s", i, st.ID)
				require.Equal(t, start.UTC().Format(time.RFC3339), got[i][2], "start of %s in %s", w.phase, st.ID)
				require.Equal(t, end.UTC().Format(time.RFC3339), got[i][3], "end of %s in %s", w.phase, st.ID)
				require.Equal(t, strconv.Itoa(int(end.Sub(start)/time.Second)), got[i][4], "seconds of %s in %s", w.phase, st.ID)
				require.Contains(t, body, fmt.Sprintf(`<tr class="span" data-phase="%s">`, w.phase))
			}
			var wantDeploys []string
			for _, x := range e {
				if x.Event == "deployed" {
					wantDeploys = append(wantDeploys, x.Time.UTC().Format(time.RFC3339)+" argocd")
				}
			}
			if st.Kind == scenario.KindDeployed {
				wantDeploys = append(wantDeploys, ciAt.UTC().Format(time.RFC3339)+" ci")
				sort.Strings(wantDeploys) // in time order (RFC 3339 UTC sorts as time)
				require.Contains(t, body, "deploy &lt;b&gt;1.2.3&lt;/b&gt;", "a CI marker's activity is text")
				require.NotContains(t, body, "<b>1.2.3</b>")
			}
			var gotDeploys []string
			for _, m := range deployRe.FindAllStringSubmatch(body, -1) {
				gotDeploys = append(gotDeploys, m[1]+" "+m[2])
			}
			require.Equal(t, wantDeploys, gotDeploys, "deployment markers of %s", st.ID)

			s, ok := h.app.tracker.Get(st.ID)
			require.True(t, ok)
			if s.Repository != "" {
				require.Contains(t, body, `<td id="repository">`+html.EscapeString(s.Repository)+`</td>`)
				require.Contains(t, body, `<td id="branch">`+html.EscapeString(s.Branch)+`</td>`)
			}
			if s.FailureReason != "" {
				require.Contains(t, body, `<td id="failure-reason" class="bad">`+s.FailureReason)
			}
			require.Contains(t, body, `href="../api/environments/`+st.ID+`/timeline"`, "the JSON is one click away")
		})
	}
	code, _, body := getBody(t, base+"environments/no-such-env")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "No environment <code>no-such-env</code>")
	code, _, _ = getBody(t, base+"environments/%3Cscript%3E")
	require.Equal(t, http.StatusNotFound, code)
}

var (
	pathDRe   = regexp.MustCompile(`<path class="([a-z-]+)" data-n="(\d+)"(?: data-bars="(\d+)")? d="([^"]*)"`)
	lineValRe = regexp.MustCompile(`<line class="(p50|p95)"[^>]* data-value="([^"]+)"`)
)

// TestLandingCharts: the landing page's charts hold one point per attempt that ended in
// the window (ready or failed), one bar per deployment (Argo CD's and CI's), p50 and
// p95 lines equal to GET /api/insights/performance-detailed, and every environment
// link leads to its page.
func TestLandingCharts(t *testing.T) {
	h, _ := pagesHarness(t)
	base := "http://" + h.app.Addr() + "/"
	exp := h.sc.Expected()
	wantOK, wantFailed, wantDeploys := 0, 0, 1 // the CI marker
	for _, evs := range exp {
		for _, e := range evs {
			switch {
			case e.Event == "ready" && e.Meta["late"] == nil && e.Meta["baseline"] == nil:
				wantOK++
			case e.Event == "provisioning_failed":
				wantFailed++
			case e.Event == "deployed":
				wantDeploys++
			}
		}
	}
	require.Greater(t, wantFailed, 0)
	for _, win := range []string{"24h", "7d", "30d"} {
		code, _, body := getBody(t, base+"?window="+win)
		require.Equal(t, http.StatusOK, code)
		paths := map[string][]string{}
		for _, m := range pathDRe.FindAllStringSubmatch(body, -1) {
			paths[m[1]] = m[2:]
		}
		require.Equal(t, strconv.Itoa(wantOK), paths["ok-pts"][0], win)
		require.Equal(t, wantOK, strings.Count(paths["ok-pts"][2], "M"), "one point per ready attempt, %s", win)
		require.Equal(t, strconv.Itoa(wantFailed), paths["fail-pts"][0], win)
		require.Equal(t, wantFailed, strings.Count(paths["fail-pts"][2], "M"), "one mark per failed attempt, %s", win)
		require.Equal(t, strconv.Itoa(wantDeploys), paths["deploys"][0], win)
		require.Equal(t, strconv.Itoa(wantDeploys), paths["deploys"][1], "one bar per deployment, %s", win)
		require.Equal(t, wantDeploys, strings.Count(paths["deploys"][2], "M"), win)

		var perf apitypes.Performance
		_, _, js := getBody(t, base+"api/insights/performance-detailed?window="+win)
		require.NoError(t, json.Unmarshal([]byte(js), &perf))
		pr := perf.EnvironmentPerformance.Provisioning
		require.Equal(t, wantOK+wantFailed, pr.SampleSize)
		lines := map[string]string{}
		for _, m := range lineValRe.FindAllStringSubmatch(body, -1) {
			lines[m[1]] = m[2]
		}
		require.Equal(t, strconv.FormatFloat(*pr.P50Seconds, 'g', -1, 64), lines["p50"], "p50 line, %s", win)
		require.Equal(t, strconv.FormatFloat(*pr.P95Seconds, 'g', -1, 64), lines["p95"], "p95 line, %s", win)
		for reason, n := range pr.FailuresByReason {
			require.Contains(t, body, fmt.Sprintf(`data-reason="%s" data-count="%d"`, reason, n))
		}
		require.Contains(t, body, `class="current">`+win+`</a>`)
	}
	// A type narrows the charts; markers (no type) drop out.
	_, _, body := getBody(t, base+"?window=24h&type=preview")
	require.Contains(t, body, "(type preview)")
	// Environment links go to the pages, the JSON next to them.
	for _, s := range h.app.tracker.States() {
		require.Contains(t, body, fmt.Sprintf(`<a class="timeline" href="environments/%s">%s</a> <a class="json muted" href="api/environments/%s/timeline">json</a>`, s.ID, s.ID, s.ID))
	}
}

// TestInsightsPage: GET /insights shows the API's numbers, each target with its
// pass/warn/alert status (and colour class), and the recommendations.
func TestInsightsPage(t *testing.T) {
	h, _ := pagesHarness(t)
	base := "http://" + h.app.Addr() + "/"
	code, ctype, body := getBody(t, base+"insights?window=30d")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/html; charset=utf-8", ctype)
	var perf apitypes.Performance
	_, _, js := getBody(t, base+"api/insights/performance-detailed?window=30d")
	require.NoError(t, json.Unmarshal([]byte(js), &perf))
	require.NotEmpty(t, perf.Targets)
	for _, tg := range perf.Targets {
		require.Regexp(t, fmt.Sprintf(`data-target="%s" data-status="%s">(?s:.*?)<span class="status %s">%s</span>`, tg.Name, tg.Status, tg.Status, tg.Status), body)
	}
	require.NotEmpty(t, perf.Recommendations)
	for _, r := range perf.Recommendations {
		require.Contains(t, body, html.EscapeString(r.Title))
		require.Contains(t, body, html.EscapeString(r.Detail))
	}
	pr := perf.EnvironmentPerformance.Provisioning
	require.Contains(t, body, fmt.Sprintf(`<tr data-type="all"><td>all</td><td class="num">%d</td>`, pr.SampleSize))
	for typ := range perf.EnvironmentPerformance.ByType {
		require.Contains(t, body, `<tr data-type="`+typ+`">`)
	}
	require.Contains(t, body, `href="api/insights/performance-detailed?window=30d"`, "the JSON is one click away")
	// A bad window falls back to 7d instead of failing.
	code, _, body = getBody(t, base+"insights?window=%3Cb%3E&type=%3Cb%3E")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "last 7d")
	require.NotContains(t, body, "<b>")
}

// TestPagesPrivate: with read tokens, the pages that show environment data need one.
func TestPagesPrivate(t *testing.T) {
	h := landingHarness(t, "api: {read_tokens: [pages-read-token]}\n")
	base := "http://" + h.app.Addr() + "/"
	for _, p := range []string{"environments/env-000", "insights"} {
		code, _, body := getBody(t, base+p)
		require.Equal(t, http.StatusUnauthorized, code, p)
		require.NotContains(t, body, "env-000 ")
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Authorization", "Bearer pages-read-token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	_, _, body := getBody(t, base)
	require.NotContains(t, body, `id="charts"`, "no charts without a token")
}

// TestPagesInChromium: a real browser renders the landing page (with its SVG charts),
// an environment page and the insights page; the DOM after load holds the phases and
// the markers, and no page needs JavaScript.
func TestPagesInChromium(t *testing.T) {
	bin := chromium(t)
	h, ciAt := pagesHarness(t)
	// A window in which Argo CD could not be seen, as the watch records one.
	blindFrom := h.sc.Start.Add(30 * time.Minute).UTC()
	_, err := h.app.store.Gap(event.Gap{From: blindFrom, To: blindFrom.Add(90 * time.Second), Source: event.GapArgoCD, Reason: event.GapStalled})
	require.NoError(t, err)
	base := "http://" + h.app.Addr() + "/"
	dom := dumpDOM(t, bin, base+"?window=24h")
	require.Contains(t, dom, `<svg id="attempts-chart"`)
	require.Contains(t, dom, `<svg id="success-chart"`)
	blind := fmt.Sprintf("not observed from %s to %s (argocd stalled)", blindFrom.Format(time.RFC3339), blindFrom.Add(90*time.Second).Format(time.RFC3339))
	require.Equal(t, 2, strings.Count(dom, blind), "the blind window is drawn on the attempts and the per-day charts")
	require.Contains(t, dom, "hatched: not observed")
	require.Contains(t, dom, `<svg id="reasons-chart"`)
	require.Contains(t, dom, `<svg id="histogram-chart"`)
	require.NotContains(t, dom, "<script")

	st := storyOf(t, h.sc, scenario.KindDeployed)
	dom = dumpDOM(t, bin, base+"environments/"+st.ID)
	var phases []string
	for _, m := range spanRe.FindAllStringSubmatch(dom, -1) {
		phases = append(phases, m[1])
	}
	require.Equal(t, []string{"provisioning", "ready"}, phases)
	require.Len(t, deployRe.FindAllStringSubmatch(dom, -1), 3)
	require.Contains(t, dom, `data-time="`+ciAt.UTC().Format(time.RFC3339)+`" data-source="ci"`)

	dom = dumpDOM(t, bin, base+"insights")
	require.Contains(t, dom, `<table id="targets">`)
	require.Regexp(t, `<span class="status (pass|warn|alert|no_data)">`, dom)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, waitDelivered(ctx, h.app))
}
