package web

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/model/apitypes"
)

type insightsRow struct {
	Name string
	P    apitypes.Provisioning
}

type insightsTarget struct {
	apitypes.TargetStatus
	Value, Target, Alert string
}

type insightsPage struct {
	Sel       Selection
	Links     []selLink
	TypeLinks []selLink
	Perf      *apitypes.Performance
	Rows      []insightsRow
	Targets   []insightsTarget
	Reasons   []reasonBar
	Err       string
	JSON      string
}

// insights is GET /insights: what `envtrack insights` prints, with the targets'
// pass/warn/alert colours.
func (p *Pages) insights(w http.ResponseWriter, r *http.Request) {
	sel := p.selection(r)
	d := insightsPage{Sel: sel, JSON: "api/insights/performance-detailed?window=" + sel.Window}
	if sel.Type != "" {
		d.JSON += "&type=" + sel.Type
	}
	for _, win := range Windows {
		d.Links = append(d.Links, selLink{Label: win, Href: insightsHref(win, sel.Type), Current: win == sel.Window})
	}
	d.TypeLinks = append(d.TypeLinks, selLink{Label: "all types", Href: insightsHref(sel.Window, ""), Current: sel.Type == ""})
	for _, t := range sel.Types {
		d.TypeLinks = append(d.TypeLinks, selLink{Label: t, Href: insightsHref(sel.Window, t), Current: t == sel.Type})
	}
	perf, err := p.o.Query().Performance(r.Context(), windowDur[sel.Window], sel.Window, sel.Type)
	status := http.StatusOK
	if err != nil {
		level.Warn(p.o.Logger).Log("msg", "insights page", "err", err)
		d.Err = err.Error()
		p.render(w, r, insightsTmpl, query.HTTPStatus(err), d)
		return
	}
	d.Perf = perf
	pr := perf.EnvironmentPerformance
	d.Rows = append(d.Rows, insightsRow{Name: "all", P: pr.Provisioning})
	types := make([]string, 0, len(pr.ByType))
	for k := range pr.ByType {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		d.Rows = append(d.Rows, insightsRow{Name: k, P: pr.ByType[k]})
	}
	for _, t := range perf.Targets {
		it := insightsTarget{TargetStatus: t, Value: "–"}
		f := func(v float64) string {
			if t.Unit == "percent" {
				return fmt.Sprintf("%.2f%%", v)
			}
			return secsText(v)
		}
		if t.Value != nil {
			it.Value = f(*t.Value)
		}
		it.Target, it.Alert = f(t.Target), f(t.Alert)
		d.Targets = append(d.Targets, it)
	}
	for r, n := range pr.Provisioning.FailuresByReason {
		d.Reasons = append(d.Reasons, reasonBar{Reason: r, Count: n})
	}
	sort.Slice(d.Reasons, func(i, j int) bool {
		if d.Reasons[i].Count != d.Reasons[j].Count {
			return d.Reasons[i].Count > d.Reasons[j].Count
		}
		return d.Reasons[i].Reason < d.Reasons[j].Reason
	})
	p.render(w, r, insightsTmpl, status, d)
}

// sliRow is one SLI of a type's SLOs on the pages.
type sliRow struct {
	Name    string
	S       apitypes.ObjectiveStatus
	Success bool
}

func sliRows(s apitypes.SLOStatus) []sliRow {
	return []sliRow{{Name: "latency", S: s.Latency}, {Name: "success", S: s.Success, Success: true}}
}

// budgetState is an SLI's budget in words: ok (over a quarter left), low, spent, no_data.
func budgetState(s apitypes.ObjectiveStatus) string {
	switch v := s.ErrorBudgetRemaining; {
	case v == nil:
		return "no_data"
	case *v <= 0:
		return "spent"
	case *v < 25:
		return "low"
	}
	return "ok"
}

func budgetClass(v float64) string {
	switch {
	case v <= 0:
		return "bad"
	case v < 25:
		return "warn"
	}
	return "good"
}

// budgetClass0 colours an SLI's budget left: ok, warn (under a quarter), bad (spent).
func budgetClass0(s apitypes.ObjectiveStatus) string {
	switch budgetState(s) {
	case "spent":
		return "bad"
	case "low":
		return "warn"
	case "ok":
		return "ok"
	}
	return ""
}

func budgetWidth(v float64) string { return fmt.Sprintf("%.0f", min(max(v, 0), 100)) }

func insightsHref(window, typ string) string {
	h := "insights?window=" + window
	if typ != "" {
		h += "&type=" + typ
	}
	return h
}

var insightsTmpl = template.Must(template.New("insights").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envtrack: insights, last {{.Sel.Window}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{style}}</style></head>
<body>
<nav><a href="./">← envtrack</a> <a href="{{.JSON}}">JSON</a></nav>
<h1>Provisioning performance, last {{.Sel.Window}}{{if .Sel.Type}} (type {{.Sel.Type}}){{end}}</h1>
<p class="sel">Window: {{range .Links}}<a href="{{.Href}}"{{if .Current}} class="current"{{end}}>{{.Label}}</a> {{end}}
· Type: {{range .TypeLinks}}<a href="{{.Href}}"{{if .Current}} class="current"{{end}}>{{.Label}}</a> {{end}}</p>
{{if .Err}}<p class="bad" id="insights-error">The query layer did not answer: {{.Err}}</p>{{else}}
<p class="muted">From {{time .Perf.From}} to {{time .Perf.To}}. Exact over the attempts that ended in the window (ready or failed);
late readies and URL-only baselines are not attempts.</p>
<table id="by-type"><tr><th>type</th><th class="num">attempts</th><th class="num">success</th><th class="num">average</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th><th class="num">failures</th><th class="num">user</th><th class="num">platform</th><th class="num">late readies</th><th class="num">queue avg</th></tr>
{{range .Rows}}<tr data-type="{{.Name}}"><td>{{.Name}}</td><td class="num">{{.P.SampleSize}}</td><td class="num">{{pct .P.SuccessRate}}</td><td class="num">{{optsecs .P.AverageSeconds}}</td>
<td class="num p50">{{optsecs .P.P50Seconds}}</td><td class="num p95">{{optsecs .P.P95Seconds}}</td><td class="num">{{optsecs .P.P99Seconds}}</td><td class="num">{{.P.Failures}}</td><td class="num user">{{.P.UserFailures}}</td><td class="num platform">{{.P.PlatformFailures}}</td><td class="num">{{.P.LateReadies}}</td><td class="num">{{optsecs .P.QueueAverageSecs}}</td></tr>
{{end}}</table>
{{if .Perf.SLOs}}<h2>SLOs per type</h2>
<p class="muted">Each type's objectives (slos:) over its own window; the burn rate is the last hour's (1 spends the budget exactly over the window).
A user's failure is a success of the platform: it spends none of the success budget and is counted on its own.</p>
<table id="slos"><tr><th>type</th><th>window</th><th>SLI</th><th class="num">objective</th><th class="num">actual</th><th class="num">budget left</th><th>budget</th><th class="num">burn rate</th><th class="num">user failures</th><th class="num">platform failures</th></tr>
{{range .Perf.SLOs}}{{$s := .}}{{range sliRows .}}<tr class="slo" data-type="{{$s.Type}}" data-sli="{{.Name}}" data-budget="{{budgetState .S}}"><td>{{$s.Type}}</td><td>{{$s.Window}}</td><td>{{.Name}}{{with .S.ThresholdSeconds}} ≤ {{secs .}}{{end}}</td>
<td class="num">{{num .S.Objective}}%</td><td class="num">{{pct .S.Actual}}</td><td class="num budget">{{pct .S.ErrorBudgetRemaining}}</td>
<td>{{with .S.ErrorBudgetRemaining}}<span class="budgetbar"><span class="budgetfill {{budgetClass .}}" style="width:{{budgetWidth .}}%"></span></span>{{end}}</td>
<td class="num burn">{{optnum .S.BurnRate}}</td><td class="num">{{if .Success}}{{$s.UserFailures}}{{else}}–{{end}}</td><td class="num">{{if .Success}}{{$s.PlatformFailures}}{{else}}–{{end}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{if .Reasons}}<h2>Failures</h2>
<table id="failures"><tr><th>reason</th><th class="num">failures</th></tr>
{{range .Reasons}}<tr><td class="reason">{{.Reason}}</td><td class="num">{{.Count}}</td></tr>
{{end}}</table>{{end}}
<h2>Targets</h2>
<table id="targets"><tr><th>target</th><th class="num">value</th><th class="num">target</th><th class="num">alert</th><th>status</th></tr>
{{range .Targets}}<tr class="target" data-target="{{.Name}}" data-status="{{.Status}}"><td>{{.Name}}</td><td class="num">{{.Value}}</td><td class="num">{{.Target}}</td><td class="num">{{.Alert}}</td>
<td><span class="status {{.Status}}">{{.Status}}</span></td></tr>
{{end}}</table>
<h2>Recommendations</h2>
<ul id="recommendations">
{{range .Perf.Recommendations}}<li class="recommendation" data-severity="{{.Severity}}"><strong class="{{.Severity}}">[{{.Severity}}] {{.Title}}</strong>: {{.Detail}}</li>
{{end}}</ul>
{{with .Perf.EnvironmentPerformance.Termination}}<h2>Termination</h2>
<p>{{.SampleSize}} terminations; average {{optsecs .AverageSeconds}}, p50 {{optsecs .P50Seconds}}, p95 {{optsecs .P95Seconds}}.</p>{{end}}
{{end}}
</body></html>
`))
