package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/model/event"
)

// landingWithGaps renders the landing page at now with the windows not observed gaps.
func landingWithGaps(t *testing.T, gaps fakeGaps, now time.Time) string {
	t.Helper()
	evs := []event.Event{
		{EnvironmentID: "pr-1", Name: event.ProvisioningStarted, Time: now.Add(-3 * time.Hour), Type: "preview"},
		{EnvironmentID: "pr-1", Name: event.Ready, Time: now.Add(-3*time.Hour + 2*time.Minute), Type: "preview",
			Metadata: map[string]any{event.MetaProvisioningDuration: 120.0}},
	}
	p, _ := newTestPages(evs, nil, now)
	svc := p.o.Query().WithGaps(gaps)
	p.o.Query = func() *query.Service { return svc }
	mux := http.NewServeMux()
	p.Register(mux)
	code, body := get(t, mux, "/?window=24h")
	require.Equal(t, http.StatusOK, code)
	return body
}

// TestLandingChartsShowGaps (issue 19, item 2): a window in which Argo CD could not be
// seen is drawn as a shaded region on each of the landing page's time-series charts (the
// attempts and the success rate per day), with a title that says when and why, and the
// legend names the hatching only when there is one; a window outside the chart's range is
// not drawn. Before, the windows were drawn on the environment pages only.
func TestLandingChartsShowGaps(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	body := landingWithGaps(t, fakeGaps{
		{From: now.Add(-48 * time.Hour), To: now.Add(-47 * time.Hour), Source: event.GapArgoCD, Reason: event.GapRefused},
		{From: now.Add(-6 * time.Hour), To: now.Add(-6*time.Hour + 90*time.Second), Source: event.GapArgoCD, Reason: event.GapStalled},
	}, now)
	_, attempts, ok := strings.Cut(body, `id="attempts-chart"`)
	require.True(t, ok)
	attempts, _, _ = strings.Cut(attempts, "</svg>")
	_, days, ok := strings.Cut(body, `id="success-chart"`)
	require.True(t, ok)
	days, _, _ = strings.Cut(days, "</svg>")
	title := "not observed from 2025-03-05T03:00:00Z to 2025-03-05T03:01:30Z (argocd stalled)"
	for name, svg := range map[string]string{"attempts": attempts, "success per day": days} {
		require.Equal(t, 1, strings.Count(svg, `<rect class="gap"`), "%s: one region", name)
		require.Contains(t, svg, title, name)
		require.NotContains(t, svg, "2025-03-03T", "%s: a window before the chart's range is not drawn", name)
	}
	// Placed where the window is: 18 h into a 24 h range.
	m := regexp.MustCompile(`<rect class="gap" x="([0-9.]+)"`).FindStringSubmatch(attempts)
	require.NotNil(t, m)
	x, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	require.InDelta(t, scL+(scR-scL)*18/24, x, 0.2)
	require.Contains(t, body, "hatched: not observed")

	// None in range: no region, no legend entry.
	body = landingWithGaps(t, fakeGaps{{From: now.Add(-48 * time.Hour), To: now.Add(-47 * time.Hour), Source: event.GapArgoCD, Reason: event.GapRefused}}, now)
	require.NotContains(t, body, `class="gap"`)
	require.NotContains(t, body, "hatched: not observed")
	require.NotContains(t, body, "Hatched: not observed")
}

// TestLandingChartsBoundGaps: a stream that flapped every few seconds for a day leaves
// thousands of windows; the charts draw at most one region per gapColumn, each saying
// how many windows it stands for, and an ongoing window ends "now".
func TestLandingChartsBoundGaps(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	var gaps fakeGaps
	for i := range 5000 {
		from := now.Add(-24*time.Hour + time.Duration(i)*15*time.Second)
		gaps = append(gaps, event.Gap{From: from, To: from.Add(2 * time.Second), Source: event.GapArgoCD, Reason: event.GapTruncated})
	}
	gaps = append(gaps, event.Gap{From: now.Add(-time.Minute), Source: event.GapArgoCD, Reason: event.GapUnreachable}) // open
	body := landingWithGaps(t, gaps, now)
	_, attempts, _ := strings.Cut(body, `id="attempts-chart"`)
	attempts, _, _ = strings.Cut(attempts, "</svg>")
	n := strings.Count(attempts, `<rect class="gap"`)
	require.Positive(t, n)
	require.LessOrEqual(t, float64(n), (scR-scL)/gapColumn+1)
	require.Regexp(t, `[0-9]+ windows not observed from`, attempts)
	require.Contains(t, attempts, "to now (")
	require.Contains(t, attempts, "argocd unreachable")
	require.Less(t, len(body), 300<<10, "the page stays light")
}
