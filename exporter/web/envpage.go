package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Span is one phase of an environment's life: [Start, End).
type Span struct {
	Phase      string // queued, provisioning, ready, failed, degraded, terminating
	Start, End time.Time
	Open       bool // still going on: End is now
	X, W       float64
}

// Seconds is the span's length in whole seconds.
func (s Span) Seconds() int64 { return int64(s.End.Sub(s.Start) / time.Second) }

// Duration is the span's length.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Marker is a deployment on the time axis: an Argo CD deployed event or a CI marker.
type Marker struct {
	At     time.Time
	Label  string
	Source string // argocd or ci
	Failed bool
	X      float64
	// Count is how many deployments one drawn line stands for (beyond envDrawnMarkers
	// those closer than envMarkerColumn share one, as the landing page's chart merges
	// close bars); the line shows the last of them, Failed if any failed.
	Count int
}

// Gap is a window in which envtrack could not see a source during the environment's
// life (the timeline's gaps): drawn across the bar, listed as "not observed".
type Gap struct {
	From, To       time.Time
	Source, Reason string
	Ongoing        bool
	X, W           float64
}

// Duration is the window's length.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// Bounds of the environment page, whatever the number of deployments (an environment
// with 13,000 CI markers made a 3.4 MB page): the deployments table lists the most
// recent envDeploymentsListed, and the timeline draws one line per deployment up to
// envDrawnMarkers, beyond that one per envMarkerColumn (SVG units, 450 at most).
const (
	envDeploymentsListed = 100
	envDrawnMarkers      = 400
	envMarkerColumn      = 2.0
)

// Check is a readiness check's time (sync, health, url) from the ready event.
type Check struct {
	Name      string
	At        time.Time
	X, LabelY float64
}

type eventRow struct {
	Event    string
	At       time.Time
	Details  string
	Reason   string
	Duration string
}

type envPage struct {
	ID, Name, Type, Repository, Branch, Commit, URL, Source, Phase string
	FailureReason, FailedAfter                                     string
	// FailureClass (user or platform) and FailureMatcher (the failures: matcher that
	// decided it) of the last failure.
	FailureClass, FailureMatcher string
	Known                        bool // the tracker holds its state
	Summary                      apitypes.Summary
	From, To                     time.Time
	Spans                        []Span
	Markers                      []Marker // drawn (drawnMarkers)
	Deployments                  []Marker // listed, the last envDeploymentsListed
	Gaps                         []Gap
	EarlierDeployments           int // not listed
	Checks                       []Check
	Events                       []eventRow
	Axis                         []tick
	JSON, TimelineJSON           string
	Width, Left, Right           float64
}

// Geometry of the environment timeline (SVG user units).
const (
	tlWidth = 960.0
	tlLeft  = 20.0
	tlRight = 925.0
)

// phaseAfter is the phase an event starts (ok=false: it starts none).
func phaseAfter(n event.Name) (string, bool) {
	switch n {
	case event.Created:
		return "queued", true
	case event.ProvisioningStarted:
		return "provisioning", true
	case event.Ready, event.Recovered:
		return "ready", true
	case event.ProvisioningFailed:
		return "failed", true
	case event.Degraded:
		return "degraded", true
	case event.TerminationStarted:
		return "terminating", true
	case event.Terminated:
		return "", true // the end of the life
	}
	return "", false
}

// Spans turns a timeline into the phases of the environment's life, in time order.
// Each lifecycle event ends the current span and starts the next; a deployed event
// starts none (it is a marker). The last span ends at now unless the environment
// was terminated.
func Spans(tl []apitypes.TimelineEntry, now time.Time) []Span {
	var out []Span
	cur := Span{}
	for _, e := range tl {
		next, ok := phaseAfter(e.Event)
		if !ok {
			continue
		}
		if e.Event == event.Recovered && cur.Phase != "degraded" {
			continue
		}
		if next == cur.Phase && cur.Phase != "" {
			continue // a repeated event (a second degraded cause) continues the span
		}
		if cur.Phase != "" {
			cur.End = e.Timestamp
			out = append(out, cur)
		}
		cur = Span{Phase: next, Start: e.Timestamp}
	}
	if cur.Phase != "" {
		end := now.UTC()
		if end.Before(cur.Start) {
			end = cur.Start
		}
		cur.End, cur.Open = end, true
		out = append(out, cur)
	}
	return out
}

// Checks reads the readiness checks' times out of a ready event's readiness_summary
// ("All checks passed: sync T, health T, url T").
func Checks(tl []apitypes.TimelineEntry) []Check {
	var out []Check
	for _, e := range tl {
		if e.Event != event.Ready {
			continue
		}
		s, _ := e.Metadata[event.MetaReadinessSummary].(string)
		_, list, ok := strings.Cut(s, ":")
		if !ok {
			continue
		}
		out = out[:0]
		for _, part := range strings.Split(list, ",") {
			name, ts, ok := strings.Cut(strings.TrimSpace(part), " ")
			if !ok {
				continue
			}
			t, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				continue
			}
			out = append(out, Check{Name: name, At: t.UTC()})
		}
		if late, _ := e.Metadata[event.MetaLate].(bool); !late {
			break // the first ready's checks are the provisioning's
		}
	}
	return out
}

func (p *Pages) environment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !event.ValidEnvironmentID(id) {
		p.render(w, r, notFoundTmpl, http.StatusNotFound, notFound{What: "environment", ID: id})
		return
	}
	ctx := r.Context()
	q := p.o.Query()
	tl, err := q.Timeline(ctx, id)
	if errors.Is(err, query.ErrNotFound) {
		p.render(w, r, notFoundTmpl, http.StatusNotFound, notFound{What: "environment", ID: id})
		return
	}
	if err != nil {
		level.Error(p.o.Logger).Log("msg", "environment page", "id", id, "err", err)
		p.render(w, r, notFoundTmpl, query.HTTPStatus(err), notFound{What: "timeline", ID: id, Err: err.Error()})
		return
	}
	markers, err := q.EnvironmentMarkers(ctx, id)
	if err != nil {
		level.Warn(p.o.Logger).Log("msg", "environment page: markers", "id", id, "err", err)
	}
	st, known := p.o.Environments.Get(id)
	p.render(w, r, envTmpl, http.StatusOK, buildEnvPage(tl, st, known, markers, p.o.Now()))
}

func buildEnvPage(tl *apitypes.Timeline, st tracker.State, known bool, markers []event.Event, now time.Time) envPage {
	esc := url.PathEscape(tl.EnvironmentID)
	d := envPage{ID: tl.EnvironmentID, Name: tl.EnvironmentName, Summary: tl.Summary, Known: known,
		JSON: "../api/environments/" + esc, TimelineJSON: "../api/environments/" + esc + "/timeline",
		Width: tlWidth, Left: tlLeft, Right: tlRight}
	if known {
		d.Type, d.Repository, d.Branch, d.Commit, d.Source, d.Phase = st.Type, st.Repository, st.Branch, st.CommitSHA, st.Source, string(st.Phase)
		d.URL = redact.URL(st.URL) // shown as the API shows it: no password, no token
		d.FailureReason, d.FailureClass, d.FailureMatcher = st.FailureReason, st.FailureClass, st.FailureMatcher
		if !st.FailedAt.IsZero() && !st.ProvisioningStartedAt.IsZero() {
			d.FailedAfter = HumanDuration(st.FailedAt.Sub(st.ProvisioningStartedAt))
		}
	}
	for _, e := range tl.Timeline {
		// The events carry what the state may no longer hold (a pruned state, InfluxDB).
		if reason, _ := e.Metadata[event.MetaReason].(string); e.Event == event.ProvisioningFailed && d.FailureReason == "" {
			d.FailureReason = reason
		}
		if e.Event == event.ProvisioningFailed && d.FailureClass == "" {
			ev := event.Event{Name: e.Event, Metadata: e.Metadata}
			d.FailureClass = ev.FailureClass() // a failure recorded without one is the platform's
			d.FailureMatcher, _ = e.Metadata[event.MetaFailureMatcher].(string)
		}
		row := eventRow{Event: string(e.Event), At: e.Timestamp, Details: metaText(e.Metadata)}
		row.Reason, _ = e.Metadata[event.MetaReason].(string)
		for _, k := range event.DurationKeys {
			if v, ok := e.Metadata[k].(float64); ok {
				if k == event.MetaTotalLifetimeHours {
					row.Duration = HumanDuration(time.Duration(v * float64(time.Hour)))
				} else {
					row.Duration = HumanDuration(time.Duration(v * float64(time.Second)))
				}
				break
			}
		}
		d.Events = append(d.Events, row)
	}
	if d.Repository == "" || d.Branch == "" || d.Commit == "" {
		for _, e := range tl.Timeline {
			for k, dst := range map[string]*string{"repository": &d.Repository, "branch": &d.Branch, "commit_sha": &d.Commit} {
				if v, _ := e.Metadata[k].(string); v != "" && *dst == "" {
					*dst = v
				}
			}
		}
	}
	d.Spans = Spans(tl.Timeline, now)
	d.Checks = Checks(tl.Timeline)
	for _, e := range tl.Timeline {
		if e.Event == event.Deployed {
			rev, _ := e.Metadata[event.MetaRevision].(string)
			d.Markers = append(d.Markers, Marker{At: e.Timestamp, Label: shortRev(rev), Source: "argocd"})
		}
	}
	for _, m := range markers {
		mk := m.Marker()
		d.Markers = append(d.Markers, Marker{At: m.Time.UTC(), Label: mk.Activity, Source: "ci", Failed: mk.Failed})
	}
	sort.SliceStable(d.Markers, func(i, j int) bool { return d.Markers[i].At.Before(d.Markers[j].At) })
	for _, g := range tl.Gaps {
		d.Gaps = append(d.Gaps, Gap{From: g.From, To: g.To, Source: g.Source, Reason: g.Reason, Ongoing: g.Ongoing})
	}

	// The axis covers the life and every marker.
	if len(d.Spans) > 0 {
		d.From, d.To = d.Spans[0].Start, d.Spans[len(d.Spans)-1].End
	} else if len(tl.Timeline) > 0 {
		d.From, d.To = tl.Timeline[0].Timestamp, tl.Timeline[len(tl.Timeline)-1].Timestamp
	}
	for _, m := range d.Markers {
		if m.At.Before(d.From) || d.From.IsZero() {
			d.From = m.At
		}
		if m.At.After(d.To) {
			d.To = m.At
		}
	}
	if !d.To.After(d.From) {
		d.To = d.From.Add(time.Second)
	}
	x := func(t time.Time) float64 {
		return round1(tlLeft + (tlRight-tlLeft)*float64(t.Sub(d.From))/float64(d.To.Sub(d.From)))
	}
	for i := range d.Spans {
		s := &d.Spans[i]
		s.X = x(s.Start)
		s.W = x(s.End) - s.X
	}
	for i := range d.Markers {
		d.Markers[i].X = x(d.Markers[i].At)
		d.Markers[i].Count = 1
	}
	for i := range d.Gaps {
		g := &d.Gaps[i]
		// Clipped to the axis (a window may begin before the life); at least a visible sliver.
		from, to := latestTime(g.From, d.From), earliestTime(g.To, d.To)
		g.X = x(from)
		g.W = max(x(to)-g.X, 1)
	}
	d.Deployments = d.Markers[max(0, len(d.Markers)-envDeploymentsListed):]
	d.EarlierDeployments = len(d.Markers) - len(d.Deployments)
	d.Markers = drawnMarkers(d.Markers)
	for i := range d.Checks {
		d.Checks[i].X = x(d.Checks[i].At)
		d.Checks[i].LabelY = 78
		if i > 0 && d.Checks[i].X-d.Checks[i-1].X < 40 && d.Checks[i-1].LabelY == 78 {
			d.Checks[i].LabelY = 88 // staggered, so that close checks stay readable
		}
	}
	d.Axis = timeTicks(d.From, d.To, 8, x)
	return d
}

func latestTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earliestTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// drawnMarkers bounds the lines drawn for ms (in time order): up to envDrawnMarkers one
// each, beyond it one per envMarkerColumn.
func drawnMarkers(ms []Marker) []Marker {
	if len(ms) <= envDrawnMarkers {
		return ms
	}
	var out []Marker
	for _, m := range ms {
		col := math.Floor(m.X/envMarkerColumn) * envMarkerColumn
		if n := len(out); n > 0 && out[n-1].X == col {
			last := &out[n-1]
			last.At, last.Label, last.Source, last.Count, last.Failed = m.At, m.Label, m.Source, last.Count+1, last.Failed || m.Failed
			continue
		}
		m.X = col
		out = append(out, m)
	}
	return out
}

func shortRev(r string) string {
	if len(r) > 8 {
		return r[:8]
	}
	return r
}

// metaText prints metadata as sorted key=value pairs, bounded.
func metaText(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "%s=%v", k, m[k])
		if b.Len() > 1000 {
			return b.String()[:1000] + "…"
		}
	}
	return b.String()
}

type notFound struct{ What, ID, Err string }

var notFoundTmpl = template.Must(template.New("notfound").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envtrack: no such {{.What}}</title><style>{{style}}</style></head>
<body><h1>envtrack</h1>{{if .Err}}<p class="bad">The {{.What}} of <code>{{.ID}}</code> cannot be read now: {{.Err}}</p>
{{else}}<p class="bad">No {{.What}} <code>{{.ID}}</code> is known.</p>{{end}}
<p><a href="../">Back to the landing page</a></p></body></html>
`))

var envTmpl = template.Must(template.New("env").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envtrack: {{.ID}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{style}}
.queued{fill:#c9c9d6}.provisioning{fill:#f0b429}.ready{fill:#2f9e44}.failed{fill:#d6336c}.degraded{fill:#e8590c}.terminating{fill:#868e96}
.gap{fill:url(#hatch);stroke:#495057;stroke-dasharray:2 2}
.deploy{stroke:#1c7ed6;stroke-width:2}.deploy.failed{stroke:#c92a2a}.check{stroke:#333}.axis{stroke:#999}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
</style></head>
<body>
<nav><a href="../">← envtrack</a> <a href="../insights">insights</a></nav>
<h1 id="env" data-id="{{.ID}}">{{.ID}}</h1>
<p>{{if ne .Name .ID}}<strong>{{.Name}}</strong> · {{end}}type <strong>{{or .Type "–"}}</strong>
{{if .Phase}}· phase <strong id="phase">{{.Phase}}</strong>{{end}}{{if .Source}} · source {{.Source}}{{end}}
· JSON: <a href="{{.JSON}}">environment</a>, <a id="json" href="{{.TimelineJSON}}">timeline</a></p>
<table id="facts">
<tr><th>repository</th><td id="repository">{{or .Repository "–"}}</td><th>branch</th><td id="branch">{{or .Branch "–"}}</td><th>commit</th><td id="commit"><code>{{or .Commit "–"}}</code></td></tr>
<tr><th>outcome</th><td id="outcome">{{.Summary.Outcome}}</td><th>provisioning</th><td id="provisioning-duration">{{optsecs .Summary.ProvisioningDurationSeconds}}</td><th>queued</th><td>{{optsecs .Summary.QueueDurationSeconds}}</td></tr>
<tr><th>termination</th><td>{{optsecs .Summary.TerminationDurationSeconds}}</td><th>lifetime</th><td>{{hours .Summary.TotalLifetimeHours}}</td>
<th>failure</th><td id="failure-reason" class="{{if .FailureReason}}bad{{end}}">{{or .FailureReason "none"}}{{if .FailedAfter}} after {{.FailedAfter}}{{end}}</td></tr>
{{if .FailureClass}}<tr><th>failure class</th><td colspan="5" id="failure-class" data-class="{{.FailureClass}}"><strong>{{.FailureClass}}</strong>{{if eq .FailureClass "user"}} (what was asked cannot work: a success of the platform){{else}} (the platform could not provide it){{end}}{{if .FailureMatcher}}, decided by matcher <code id="failure-matcher">{{.FailureMatcher}}</code>{{end}}</td></tr>{{end}}
{{if .URL}}<tr><th>URL</th><td colspan="5">{{.URL}}</td></tr>{{end}}
</table>

<h2>Life</h2>
<p class="legend muted"><span class="queued" style="background:#c9c9d6"></span>queued<span style="background:#f0b429"></span>provisioning<span style="background:#2f9e44"></span>ready<span style="background:#e8590c"></span>degraded<span style="background:#d6336c"></span>failed<span style="background:#868e96"></span>terminating
<span style="background:#1c7ed6;width:.2em"></span>deployment · ticks under the bar: readiness checks{{if .Gaps}} · hatched: not observed{{end}}</p>
<svg id="timeline" viewBox="0 0 {{.Width}} 120" width="{{.Width}}" height="120" role="img" aria-label="life of {{.ID}} from {{time .From}} to {{time .To}}" data-from="{{time .From}}" data-to="{{time .To}}">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff" fill-opacity=".55"/><line x1="0" y1="0" x2="0" y2="6" stroke="#495057" stroke-width="2"/></pattern></defs>
<line class="axis" x1="{{.Left}}" y1="94" x2="{{.Right}}" y2="94"/>
{{range .Axis}}<line class="axis" x1="{{.X}}" y1="94" x2="{{.X}}" y2="98"/><text x="{{.X}}" y="110" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Spans}}<rect class="span {{.Phase}}" x="{{.X}}" y="24" width="{{.W}}" height="30" data-phase="{{.Phase}}" data-start="{{time .Start}}" data-end="{{time .End}}" data-seconds="{{.Seconds}}"{{if .Open}} data-open="true"{{end}}><title>{{.Phase}} {{dur .Duration}} from {{time .Start}}</title></rect>
{{end}}{{range .Gaps}}<rect class="gap" x="{{.X}}" y="20" width="{{.W}}" height="38" data-from="{{time .From}}" data-to="{{time .To}}" data-source="{{.Source}}"><title>not observed from {{time .From}} to {{if .Ongoing}}now{{else}}{{time .To}}{{end}} ({{.Source}} {{.Reason}})</title></rect>
{{end}}{{range .Markers}}<line class="deploy{{if .Failed}} failed{{end}}" x1="{{.X}}" y1="14" x2="{{.X}}" y2="62" data-time="{{time .At}}" data-source="{{.Source}}"><title>{{if gt .Count 1}}{{.Count}} deployments, the last {{else}}deployment {{end}}{{.Label}} at {{time .At}}</title></line>
{{end}}{{range .Checks}}<line class="check" x1="{{.X}}" y1="58" x2="{{.X}}" y2="68" data-check="{{.Name}}" data-time="{{time .At}}"/><text x="{{.X}}" y="{{.LabelY}}" text-anchor="middle">{{.Name}}</text>
{{end}}</svg>

<h3>Phases</h3>
<table id="spans"><tr><th>phase</th><th>from</th><th>to</th><th class="num">duration</th></tr>
{{range .Spans}}<tr class="span" data-phase="{{.Phase}}"><td>{{.Phase}}</td><td>{{time .Start}}</td><td>{{if .Open}}now{{else}}{{time .End}}{{end}}</td><td class="num" data-seconds="{{.Seconds}}">{{dur .Duration}}{{if .Open}} so far{{end}}</td></tr>
{{end}}</table>
{{if .Gaps}}<h3>Not observed</h3>
<p class="muted">envtrack could not see these sources then: what changed in these windows is not on this timeline.</p>
<table id="gaps"><tr><th>not observed</th><th>source</th><th>why</th><th class="num">duration</th></tr>
{{range .Gaps}}<tr class="gap" data-from="{{time .From}}" data-to="{{time .To}}"><td>not observed from {{time .From}} to {{if .Ongoing}}now{{else}}{{time .To}}{{end}}</td><td>{{.Source}}</td><td>{{.Reason}}</td><td class="num">{{dur .Duration}}{{if .Ongoing}} so far{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .Checks}}<h3>Readiness checks</h3>
<table id="checks"><tr><th>check</th><th>passed at</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td>{{time .At}}</td></tr>
{{end}}</table>{{end}}
{{if .Deployments}}<h3>Deployments</h3>
{{if .EarlierDeployments}}<p class="muted" id="earlier-deployments">The last {{len .Deployments}}; {{.EarlierDeployments}} earlier ones are drawn above, not listed.</p>
{{end}}<table id="deployments"><tr><th>at</th><th>what</th><th>from</th></tr>
{{range .Deployments}}<tr class="deployment"><td>{{time .At}}</td><td>{{.Label}}{{if .Failed}} <span class="bad">failed</span>{{end}}</td><td>{{.Source}}</td></tr>
{{end}}</table>{{end}}

<h2>Events</h2>
<table id="events"><tr><th>time</th><th>event</th><th>duration</th><th>details</th></tr>
{{range .Events}}<tr class="event" data-event="{{.Event}}"><td>{{time .At}}</td><td>{{.Event}}{{if .Reason}} <span class="bad reason">{{.Reason}}</span>{{end}}</td><td>{{.Duration}}</td><td class="muted">{{.Details}}</td></tr>
{{end}}</table>
</body></html>
`))
