package web

import (
	"context"
	"html/template"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Buckets are 000's provisioning-duration buckets (seconds), those of
// blueberry_environment_provisioning_duration_seconds.
var Buckets = []float64{30, 60, 120, 300, 600}

// Geometry of the attempts chart (SVG user units).
const (
	scW, scH           = 960.0, 300.0
	scL, scR, scT, scB = 70.0, 950.0, 16.0, 270.0
	smW, smH           = 460.0, 200.0
	smL, smR, smT, smB = 44.0, 450.0, 12.0, 170.0
	failureMark        = "m-3-3l6 6m0-6l-6 6"
	deployBar          = " 16V270" // from scT to scB
	// Beyond denseDeploys deployments in the window (one per 4 units of the plot's width
	// on average) bars would paint the plot and hide the attempts: the deployments get a
	// lane of their own under the plot instead, binned, as Grafana does with dense
	// annotations. The demo's 7-day window has about 1,500.
	denseDeploys   = int((scR - scL) / 4)
	laneBins       = 110              // bins of the lane, 8 units wide
	laneTop, laneH = scB + 24.0, 16.0 // under the x axis labels
	laneExtra      = 44.0             // the svg grows by this much for the lane
	// Windows not observed closer than gapColumn units (of the attempts chart) are drawn
	// as one region that says how many it stands for: at most one region per column,
	// however often a stream flapped, as the deployments are bounded.
	gapColumn            = 4.0
	maxGapWhats          = 3 // the distinct "source reason" a merged region names
	chartsNoDataHeadline = "No provisioning attempt ended in this window."
)

// chartGap is a window (or, merged, several) in which envtrack could not see a source,
// drawn as a shaded region across the time-series charts: X and W on the attempts
// chart, DX and DW on the success-per-day chart.
type chartGap struct {
	From, To     time.Time // clipped to the chart's range
	Ongoing      bool
	Count        int
	What         string // "argocd stalled", the distinct ones of a merged region joined
	whats        []string
	X, W, DX, DW float64
}

type line struct {
	Class  string
	LabelX float64
	Anchor string  // the targets' labels go left, the window's right, so they do not overlap
	Value  float64 // seconds
	Y      float64
	Label  string
}

type dayBar struct {
	Day               string
	Attempts, Success int
	Rate              float64 // percent; -1 without attempts
	X, W, Y, H        float64
}

type reasonBar struct {
	Reason string
	Count  int
	Y, W   float64
}

type bucketBar struct {
	Le         string // upper bound in seconds, +Inf for the last
	Label      string
	Count      int
	X, W, Y, H float64
}

type chartsData struct {
	Sel                       Selection
	Err                       string
	From, To                  time.Time
	Perf                      *apitypes.Performance
	Attempts, Failures        int
	Successes                 int
	OKPath, FailPath          string
	Deploys, DeployBars       int
	DeployPath                string
	Lane                      []laneBin // dense deployments, binned under the plot
	Gaps                      []chartGap
	LaneTop, LaneH            float64
	Lines                     []line
	XAxis                     []tick
	YAxis                     []tick // X holds the y position
	Days                      []dayBar
	DayAxis                   []tick
	Reasons                   []reasonBar
	Buckets                   []bucketBar
	BucketMax                 int
	P50, P95                  *float64
	NoData                    string
	ScW, ScH, ScL, ScR, ScT   float64
	ScB, SmW, SmH, SmL, SmR   float64
	SmT, SmB                  float64
	ScPlotH, SmPlotH          float64 // the plots' heights, those of the regions not observed
	WindowLinks, TypeLinksAll []selLink
	TypeLinks                 []selLink
}

// laneBin is one bin of the deployments lane: its count drawn as a bar, taller and
// darker the more deployments it holds.
type laneBin struct {
	X, W, Y, H, Opacity float64
	Count               int
	From, To            string // the bin's time span, for the tooltip
}

type selLink struct {
	Label, Href string
	Current     bool
}

// Charts renders the landing page's charts for the request's ?window= and ?type=, as
// an HTML fragment. A query failure renders as a message: the rest of the landing page
// still shows.
func (p *Pages) Charts(ctx context.Context, r *http.Request) template.HTML {
	sel := p.selection(r)
	d := p.chartsData(ctx, sel)
	var b strings.Builder
	if err := chartsTmpl.Execute(&b, d); err != nil {
		level.Error(p.o.Logger).Log("msg", "landing charts", "err", err)
		return template.HTML(`<p class="bad">charts: ` + template.HTMLEscapeString(err.Error()) + `</p>`)
	}
	return template.HTML(b.String()) //nolint:gosec // rendered by html/template above
}

func (p *Pages) chartsData(ctx context.Context, sel Selection) chartsData {
	d := chartsData{Sel: sel, ScW: scW, ScH: scH, ScL: scL, ScR: scR, ScT: scT, ScB: scB,
		SmW: smW, SmH: smH, SmL: smL, SmR: smR, SmT: smT, SmB: smB, ScPlotH: scB - scT, SmPlotH: smB - smT}
	for _, w := range Windows {
		d.WindowLinks = append(d.WindowLinks, selLink{Label: w, Href: selHref(w, sel.Type), Current: w == sel.Window})
	}
	d.TypeLinks = append(d.TypeLinks, selLink{Label: "all types", Href: selHref(sel.Window, ""), Current: sel.Type == ""})
	for _, t := range sel.Types {
		d.TypeLinks = append(d.TypeLinks, selLink{Label: t, Href: selHref(sel.Window, t), Current: t == sel.Type})
	}
	q := p.o.Query()
	c, err := q.Chart(ctx, windowDur[sel.Window], sel.Window, sel.Type)
	if err != nil {
		level.Warn(p.o.Logger).Log("msg", "landing charts", "err", err)
		d.Err = err.Error()
		return d
	}
	d.Perf = c.Performance
	d.From, d.To = c.Performance.From, c.Performance.To
	pr := c.Performance.EnvironmentPerformance.Provisioning
	d.P50, d.P95 = pr.P50Seconds, pr.P95Seconds
	if pr.SampleSize == 0 {
		d.NoData = chartsNoDataHeadline
	}
	span := float64(d.To.Sub(d.From))
	xOf := func(t time.Time) float64 { return scL + (scR-scL)*float64(t.Sub(d.From))/span }

	// Deployments: Argo CD's deployed events and CI's markers, as thin bars (001).
	var ms []event.Event
	if sel.Type == "" { // markers carry no environment type
		if ms, err = q.Markers(ctx, d.From, d.To); err != nil {
			level.Warn(p.o.Logger).Log("msg", "landing charts: markers", "err", err)
		}
	}
	at := make([]float64, 0, len(c.Deploys)+len(ms))
	for i := range c.Deploys {
		at = append(at, xOf(c.Deploys[i].At))
	}
	for i := range ms {
		at = append(at, xOf(ms[i].Time))
	}
	d.Deploys = len(at)
	sort.Float64s(at)
	if len(at) > denseDeploys {
		d.Lane, d.LaneTop, d.LaneH = deployLane(at, d.From, d.To), laneTop, laneH
		d.ScH += laneExtra
		at = nil // no bar on the plot
	}
	// The paths are built with strconv.Append*: fmt or a string per point cost more than
	// the rest of the page for a 30-day window (10,000 attempts, 30,000 deployments).
	var dp []byte
	last := math.Inf(-1)
	for _, x := range at {
		col := round1(x)
		if col == last {
			continue // one bar for deployments at the same place
		}
		last = col
		d.DeployBars++
		dp = append(dp, 'M')
		dp = strconv.AppendFloat(dp, col, 'f', -1, 64)
		dp = append(dp, deployBar...)
	}
	d.DeployPath = string(dp)

	// Windows not observed (blind windows): what happened in them may be missing.
	gaps, err := q.Gaps(d.From, d.To)
	if err != nil {
		level.Warn(p.o.Logger).Log("msg", "landing charts: windows not observed", "err", err)
	}
	d.Gaps = chartGaps(gaps, d.From, d.To, xOf)

	// The y axis covers every attempt and the p95 alert threshold.
	targets := map[string]apitypes.TargetStatus{}
	for _, t := range c.Performance.Targets {
		targets[t.Name] = t
	}
	top := targets["provisioning_p95"].Alert
	for i := range c.Attempts {
		top = math.Max(top, c.Attempts[i].Seconds)
	}
	top = niceDuration(top * 1.05)
	yOf := func(s float64) float64 { return scB - (scB-scT)*s/top }
	ok := make([]byte, 0, 12*len(c.Attempts))
	var fail []byte
	point := func(b []byte, x, y float64, mark string) []byte {
		b = append(b, 'M')
		b = strconv.AppendFloat(b, math.Round(x), 'f', -1, 64)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, math.Round(y), 'f', -1, 64)
		return append(b, mark...)
	}
	for i := range c.Attempts {
		a := &c.Attempts[i]
		if a.Failed {
			d.Failures++
			y := scB
			if a.Seconds >= 0 {
				y = yOf(a.Seconds)
			}
			fail = point(fail, xOf(a.At), y, failureMark)
			continue
		}
		d.Successes++
		ok = point(ok, xOf(a.At), yOf(a.Seconds), "h0")
	}
	d.OKPath, d.FailPath = string(ok), string(fail)
	d.Attempts = d.Successes + d.Failures
	if v := pr.P50Seconds; v != nil {
		d.Lines = append(d.Lines, line{Class: "p50", Value: *v, Y: round1(yOf(*v)), Label: "p50 " + secsText(*v)})
	}
	if v := pr.P95Seconds; v != nil {
		d.Lines = append(d.Lines, line{Class: "p95", Value: *v, Y: round1(yOf(*v)), Label: "p95 " + secsText(*v)})
	}
	for _, n := range []string{"provisioning_p50", "provisioning_p95"} {
		if t, ok := targets[n]; ok && t.Target > 0 {
			short := strings.TrimPrefix(n, "provisioning_")
			d.Lines = append(d.Lines, line{Class: "target " + short, Value: t.Target, Y: round1(yOf(t.Target)), Label: short + " target " + secsText(t.Target)})
		}
	}
	for i := range d.Lines {
		d.Lines[i].LabelX, d.Lines[i].Anchor = scR, "end"
		if strings.HasPrefix(d.Lines[i].Class, "target") {
			d.Lines[i].LabelX, d.Lines[i].Anchor = scL+4, "start"
		}
	}
	d.XAxis = timeTicks(d.From, d.To, 7, func(t time.Time) float64 { return round1(xOf(t)) })
	for _, v := range []float64{0, top / 4, top / 2, 3 * top / 4, top} {
		d.YAxis = append(d.YAxis, tick{X: round1(yOf(v)), Label: secsText(v)})
	}

	// Success rate per UTC day.
	first := d.From.UTC().Truncate(24 * time.Hour)
	var days []*dayBar
	for t := first; t.Before(d.To); t = t.Add(24 * time.Hour) {
		days = append(days, &dayBar{Day: t.Format("2006-01-02"), Rate: -1})
	}
	for i := range c.Attempts {
		a := &c.Attempts[i]
		// The UTC day by arithmetic: first is a UTC midnight, and UTC days have 24 hours.
		if since := a.At.Sub(first); since >= 0 {
			if k := int(since / (24 * time.Hour)); k < len(days) {
				days[k].Attempts++
				if !a.Failed {
					days[k].Success++
				}
			}
		}
	}
	bw := (smR - smL) / float64(len(days))
	daysSpan := float64(time.Duration(len(days)) * 24 * time.Hour)
	dxOf := func(t time.Time) float64 { return smL + (smR-smL)*float64(t.Sub(first))/daysSpan }
	for i := range d.Gaps {
		g := &d.Gaps[i]
		g.DX = round1(dxOf(g.From))
		g.DW = round1(max(dxOf(g.To)-dxOf(g.From), 1))
	}
	for i, b := range days {
		b.X, b.W = round1(smL+bw*float64(i)+bw*0.1), round1(bw*0.8)
		if b.Attempts > 0 {
			b.Rate = math.Round(10000*float64(b.Success)/float64(b.Attempts)) / 100
			b.H = round1((smB - smT) * b.Rate / 100)
			b.Y = round1(smB - b.H)
		}
		d.Days = append(d.Days, *b)
		if len(days) <= 8 || i%5 == 0 {
			d.DayAxis = append(d.DayAxis, tick{X: round1(b.X + b.W/2), Label: b.Day[5:]})
		}
	}

	// Failures by reason, most first.
	maxReason := 0
	for r, n := range pr.FailuresByReason {
		d.Reasons = append(d.Reasons, reasonBar{Reason: r, Count: n})
		maxReason = max(maxReason, n)
	}
	sort.Slice(d.Reasons, func(i, j int) bool {
		if d.Reasons[i].Count != d.Reasons[j].Count {
			return d.Reasons[i].Count > d.Reasons[j].Count
		}
		return d.Reasons[i].Reason < d.Reasons[j].Reason
	})
	for i := range d.Reasons {
		d.Reasons[i].Y = smT + 26*float64(i)
		d.Reasons[i].W = round1(280 * float64(d.Reasons[i].Count) / float64(maxReason))
	}

	// The duration histogram of successful attempts in 000's buckets.
	counts := make([]int, len(Buckets)+1)
	for j := range c.Attempts {
		a := &c.Attempts[j]
		if a.Failed {
			continue
		}
		i := sort.SearchFloat64s(Buckets, a.Seconds) // the first bucket with le >= seconds
		counts[i]++
	}
	for _, n := range counts {
		d.BucketMax = max(d.BucketMax, n)
	}
	bw = (smR - smL) / float64(len(counts))
	for i, n := range counts {
		b := bucketBar{Le: "+Inf", Label: "> " + shortSecs(Buckets[len(Buckets)-1]), Count: n,
			X: round1(smL + bw*float64(i) + bw*0.1), W: round1(bw * 0.8)}
		if i < len(Buckets) {
			b.Le, b.Label = strconv.FormatFloat(Buckets[i], 'f', -1, 64), "≤ "+shortSecs(Buckets[i])
		}
		if d.BucketMax > 0 {
			b.H = round1((smB - smT) * float64(n) / float64(d.BucketMax))
		}
		b.Y = round1(smB - b.H)
		d.Buckets = append(d.Buckets, b)
	}
	return d
}

// chartGaps places the windows not observed (in order of their start) on the attempts
// chart, clipped to [from, to]; those closer than gapColumn to the region before merge
// into it.
func chartGaps(gaps []apitypes.Gap, from, to time.Time, xOf func(time.Time) float64) []chartGap {
	var out []chartGap
	for _, g := range gaps {
		f, t := latestTime(g.From, from), earliestTime(g.To, to)
		if t.Before(f) {
			continue
		}
		what := g.Source + " " + g.Reason
		if n := len(out); n > 0 && xOf(f) <= out[n-1].X+out[n-1].W+gapColumn {
			c := &out[n-1]
			c.Count++
			if !t.Before(c.To) {
				c.To, c.Ongoing = t, g.Ongoing || (t.Equal(c.To) && c.Ongoing)
			}
			c.W = round1(max(xOf(c.To)-c.X, 1))
			if !slices.Contains(c.whats, what) && len(c.whats) < maxGapWhats {
				c.whats = append(c.whats, what)
				c.What = strings.Join(c.whats, ", ")
			}
			continue
		}
		x := round1(xOf(f))
		out = append(out, chartGap{From: f, To: t, Ongoing: g.Ongoing, Count: 1, What: what, whats: []string{what},
			X: x, W: round1(max(xOf(t)-x, 1))})
	}
	return out
}

func selHref(window, typ string) string {
	h := "?window=" + window
	if typ != "" {
		h += "&type=" + typ // types are validated ids: nothing to escape
	}
	return h + "#charts"
}

// shortSecs prints a bucket bound: 30s, 1m, 10m.
func shortSecs(s float64) string {
	if s >= 60 && int(s)%60 == 0 {
		return strconv.Itoa(int(s)/60) + "m"
	}
	return strconv.FormatFloat(s, 'f', -1, 64) + "s"
}

// deployLane bins the deployments' x positions (sorted) into laneBins bars under the
// plot; a bar's height and opacity grow with its count (a square root, so that one
// deployment stays visible beside a bin of fifty).
func deployLane(at []float64, from, to time.Time) []laneBin {
	w := (scR - scL) / laneBins
	counts := make([]int, laneBins)
	for _, x := range at {
		counts[min(max(int((x-scL)/w), 0), laneBins-1)]++
	}
	top := slices.Max(counts)
	span := to.Sub(from) / laneBins
	var out []laneBin
	for i, n := range counts {
		if n == 0 {
			continue
		}
		f := math.Sqrt(float64(n) / float64(top))
		h := round1(math.Max(3, laneH*f))
		out = append(out, laneBin{X: round1(scL + float64(i)*w), W: round1(w - 1), Y: round1(laneTop + laneH - h), H: h,
			Opacity: round1(0.35 + 0.65*f), Count: n,
			From: from.Add(time.Duration(i) * span).UTC().Format("Jan 2 15:04"), To: from.Add(time.Duration(i+1) * span).UTC().Format("Jan 2 15:04")})
	}
	return out
}

func secsText(s float64) string { return HumanDuration(time.Duration(s * float64(time.Second))) }

var chartsTmpl = template.Must(template.New("charts").Funcs(funcs).Parse(`<style>
svg{display:block;max-width:100%;height:auto;font:11px system-ui,sans-serif}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(30em,1fr));gap:0 2em}
.ok-pts{stroke:#1971c2;stroke-width:5;stroke-linecap:round;fill:none}.fail-pts{stroke:#e03131;stroke-width:1.6;fill:none}
.deploys{stroke:#7048e8;stroke-width:1;stroke-opacity:.3}.lane{fill:#7048e8}.p50{stroke:#2b8a3e;stroke-width:1.5}.p95{stroke:#e8590c;stroke-width:1.5}
.target{stroke-dasharray:6 4}.grid{stroke:#e5e5e5}.bar{fill:#4c6ef5}.dayok{fill:#2f9e44}.reason{fill:#e03131}
.sel a{margin-right:.6em}.sel a.current{font-weight:700;text-decoration:none;color:#222}
.gap{fill:url(#gap-hatch);stroke:#495057;stroke-width:.5;stroke-dasharray:2 2}
</style>
<h2 id="charts">Provisioning, last {{.Sel.Window}}{{if .Sel.Type}} (type {{.Sel.Type}}){{end}}</h2>
<p class="sel">Window: {{range .WindowLinks}}<a href="{{.Href}}"{{if .Current}} class="current"{{end}}>{{.Label}}</a>{{end}}
· Type: {{range .TypeLinks}}<a href="{{.Href}}"{{if .Current}} class="current"{{end}}>{{.Label}}</a>{{end}}
· <a href="insights?window={{.Sel.Window}}{{if .Sel.Type}}&amp;type={{.Sel.Type}}{{end}}">insights</a></p>
{{if .Err}}<p class="bad" id="charts-error">The query layer did not answer: {{.Err}}</p>{{else}}
{{with .Perf}}{{with .EnvironmentPerformance.Provisioning}}<table id="chart-summary"><tr><th class="num">attempts</th><th class="num">success</th><th class="num">p50</th><th class="num">p95</th><th class="num">average</th><th class="num">deployments</th></tr>
<tr><td class="num">{{.SampleSize}}</td><td class="num">{{pct .SuccessRate}}</td><td class="num">{{optsecs .P50Seconds}}</td><td class="num">{{optsecs .P95Seconds}}</td><td class="num">{{optsecs .AverageSeconds}}</td><td class="num">{{$.Deploys}}</td></tr></table>{{end}}{{end}}
{{with .Perf.SLOs}}<table id="slo-summary"><tr><th>type</th><th>window</th><th class="num">latency budget left</th><th class="num">burn</th><th class="num">success budget left</th><th class="num">burn</th><th class="num">user failures</th><th class="num">platform failures</th></tr>
{{range .}}<tr data-type="{{.Type}}"><td>{{.Type}}</td><td>{{.Window}}</td><td class="num {{budgetClass0 .Latency}}">{{pct .Latency.ErrorBudgetRemaining}}</td><td class="num">{{optnum .Latency.BurnRate}}</td>
<td class="num {{budgetClass0 .Success}}">{{pct .Success.ErrorBudgetRemaining}}</td><td class="num">{{optnum .Success.BurnRate}}</td><td class="num">{{.UserFailures}}</td><td class="num">{{.PlatformFailures}}</td></tr>
{{end}}</table><p class="muted">Error budgets of each type's SLOs (slos:, each over its own window; burn over the last hour). A user's failure spends none of the platform's budget. <a href="insights?window={{$.Sel.Window}}">Details</a>.</p>{{end}}
{{if .NoData}}<p class="muted">{{.NoData}}</p>{{end}}
<h3>Provisioning duration of each attempt</h3>
<p class="muted">One dot per attempt that ended (blue: ready, red ×: failed), p50 and p95 of the window, the targets dashed, deployments as violet bars{{if .Lane}} — {{.Deploys}} of them, too dense to draw over the attempts: binned in the lane under the plot{{end}}{{if .Gaps}}; hatched: not observed (envtrack could not see a source: what happened then may be missing){{end}}.</p>
<svg id="attempts-chart" viewBox="0 0 {{.ScW}} {{.ScH}}" width="{{.ScW}}" height="{{.ScH}}" role="img" aria-label="provisioning duration of each attempt" data-from="{{time .From}}" data-to="{{time .To}}">
{{range .YAxis}}<line class="grid" x1="{{$.ScL}}" y1="{{.X}}" x2="{{$.ScR}}" y2="{{.X}}"/><text x="{{$.ScL}}" dx="-4" y="{{.X}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XAxis}}<text x="{{.X}}" y="{{$.ScB}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}{{if .Gaps}}<defs><pattern id="gap-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff" fill-opacity=".55"/><line x1="0" y1="0" x2="0" y2="6" stroke="#868e96" stroke-width="2"/></pattern></defs>
<g id="attempts-gaps">{{range .Gaps}}<rect class="gap" x="{{.X}}" y="{{$.ScT}}" width="{{.W}}" height="{{$.ScPlotH}}" data-from="{{time .From}}" data-to="{{time .To}}" data-count="{{.Count}}">{{template "gaptitle" .}}</rect>{{end}}</g>
{{end}}{{if .Lane}}<g id="deploy-lane" data-n="{{.Deploys}}" data-bins="{{len .Lane}}"><text x="{{$.ScL}}" dx="-4" y="{{.LaneTop}}" dy="12" text-anchor="end">deploys</text>
<line class="grid" x1="{{$.ScL}}" y1="{{.LaneTop}}" x2="{{$.ScR}}" y2="{{.LaneTop}}"/>
{{range .Lane}}<rect class="lane" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill-opacity="{{.Opacity}}" data-count="{{.Count}}"><title>{{.Count}} deployments, {{.From}} to {{.To}} UTC</title></rect>{{end}}
</g>{{else}}<path class="deploys" data-n="{{.Deploys}}" data-bars="{{.DeployBars}}" d="{{.DeployPath}}"/>{{end}}
<path class="ok-pts" data-n="{{.Successes}}" d="{{.OKPath}}"/>
<path class="fail-pts" data-n="{{.Failures}}" d="{{.FailPath}}"/>
{{range .Lines}}<line class="{{.Class}}" x1="{{$.ScL}}" y1="{{.Y}}" x2="{{$.ScR}}" y2="{{.Y}}" data-value="{{.Value}}"/><text x="{{.LabelX}}" y="{{.Y}}" dy="-3" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{end}}</svg>
<div class="charts">
<div><h3>Success rate per day</h3>{{if .Gaps}}<p class="muted">Hatched: not observed.</p>{{end}}
<svg id="success-chart" viewBox="0 0 {{.SmW}} {{.SmH}}" width="{{.SmW}}" height="{{.SmH}}" role="img" aria-label="success rate per day">
<line class="grid" x1="{{.SmL}}" y1="{{.SmT}}" x2="{{.SmR}}" y2="{{.SmT}}"/><text x="{{.SmL}}" dx="-4" y="{{.SmT}}" dy="4" text-anchor="end">100%</text>
<line class="grid" x1="{{.SmL}}" y1="{{.SmB}}" x2="{{.SmR}}" y2="{{.SmB}}"/><text x="{{.SmL}}" dx="-4" y="{{.SmB}}" dy="4" text-anchor="end">0%</text>
{{range .Gaps}}<rect class="gap" x="{{.DX}}" y="{{$.SmT}}" width="{{.DW}}" height="{{$.SmPlotH}}" data-from="{{time .From}}" data-to="{{time .To}}" data-count="{{.Count}}">{{template "gaptitle" .}}</rect>{{end}}
{{range .Days}}{{if ge .Rate 0.0}}<rect class="day dayok" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" data-day="{{.Day}}" data-rate="{{.Rate}}" data-attempts="{{.Attempts}}"><title>{{.Day}}: {{.Rate}}% of {{.Attempts}}</title></rect>{{end}}
{{end}}{{range .DayAxis}}<text x="{{.X}}" y="{{$.SmB}}" dy="14" text-anchor="middle">{{.Label}}</text>{{end}}
</svg></div>
<div><h3>Failures by reason</h3>
<svg id="reasons-chart" viewBox="0 0 {{.SmW}} {{.SmH}}" width="{{.SmW}}" height="{{.SmH}}" role="img" aria-label="failures by reason">
{{range .Reasons}}<text x="150" y="{{.Y}}" dy="14" text-anchor="end">{{.Reason}}</text><rect class="reason" x="156" y="{{.Y}}" width="{{.W}}" height="18" data-reason="{{.Reason}}" data-count="{{.Count}}"/><text x="160" dx="{{.W}}" y="{{.Y}}" dy="14">{{.Count}}</text>
{{else}}<text x="10" y="30">no failure in this window</text>{{end}}
</svg></div>
<div><h3>Duration histogram (000's buckets)</h3>
<svg id="histogram-chart" viewBox="0 0 {{.SmW}} {{.SmH}}" width="{{.SmW}}" height="{{.SmH}}" role="img" aria-label="provisioning duration histogram">
{{range .Buckets}}<rect class="bar bucket" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" data-le="{{.Le}}" data-count="{{.Count}}"/><text x="{{.X}}" dx="4" y="{{.Y}}" dy="-3">{{.Count}}</text><text x="{{.X}}" y="{{$.SmB}}" dy="14">{{.Label}}</text>
{{end}}</svg></div>
</div>
<details><summary>The charts as tables</summary>
<table id="days-table"><tr><th>day (UTC)</th><th class="num">attempts</th><th class="num">ready</th><th class="num">success rate</th></tr>
{{range .Days}}<tr><td>{{.Day}}</td><td class="num">{{.Attempts}}</td><td class="num">{{.Success}}</td><td class="num">{{if ge .Rate 0.0}}{{.Rate}}%{{else}}–{{end}}</td></tr>
{{end}}</table>
<table id="reasons-table"><tr><th>reason</th><th class="num">failures</th></tr>
{{range .Reasons}}<tr><td>{{.Reason}}</td><td class="num">{{.Count}}</td></tr>
{{end}}</table>
<table id="buckets-table"><tr><th>duration</th><th class="num">ready attempts</th></tr>
{{range .Buckets}}<tr><td>{{.Label}}</td><td class="num">{{.Count}}</td></tr>
{{end}}</table>
</details>
{{end}}
{{define "gaptitle"}}<title>{{if gt .Count 1}}{{.Count}} windows {{end}}not observed from {{time .From}} to {{if .Ongoing}}now{{else}}{{time .To}}{{end}} ({{.What}})</title>{{end}}`))
