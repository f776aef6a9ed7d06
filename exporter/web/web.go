// Package web is envtrack's own pages: the landing page with its charts (GET /), an
// environment's life on a time axis (GET /environments/{id}) and the insights page
// (GET /insights). Everything is rendered on the server as HTML with inline SVG: no
// JavaScript, nothing fetched from elsewhere, readable as tables without CSS or SVG.
// The numbers come from the query layer (InfluxDB when configured, else the journal),
// the same that answers the JSON API, so a page never disagrees with it.
package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Environments gives the tracker's current view.
type Environments interface {
	States() []tracker.State
	Get(id string) (tracker.State, bool)
}

// Options wire the pages.
type Options struct {
	Environments Environments
	// Query is the service in force (it changes on reload): timelines, statistics,
	// charts, and CI's deployment markers (001).
	Query func() *query.Service
	// Guard wraps the handlers that show environment data (read tokens).
	Guard func(http.Handler) http.Handler

	// The landing page's: the configuration in force (it changes on reload), whether
	// the daemon is ready, the sinks' state and the journal's size.
	Config  func() *config.Config
	Ready   func() bool
	Sinks   func() []SinkStatus
	Journal func() JournalStats

	Logger log.Logger
	Now    func() time.Time
}

// Pages renders the pages.
type Pages struct{ o Options }

// New returns the pages.
func New(o Options) *Pages {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Guard == nil {
		o.Guard = func(h http.Handler) http.Handler { return h }
	}
	return &Pages{o: o}
}

// Register adds the pages' routes to mux. The landing page guards itself: without a
// read token it still shows the daemon's health, and no environment.
func (p *Pages) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", http.HandlerFunc(p.landing))
	mux.Handle("GET /environments/{id}", p.o.Guard(http.HandlerFunc(p.environment)))
	mux.Handle("GET /insights", p.o.Guard(http.HandlerFunc(p.insights)))
}

// Windows are the windows the pages offer.
var Windows = []string{"24h", "7d", "30d"}

var windowDur = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// Selection is the window and type chosen by ?window= and ?type=; anything else falls
// back to 7d and every type (a page never fails on a bad link).
type Selection struct {
	Window string
	Type   string
	Types  []string // the types on offer
}

func (p *Pages) selection(r *http.Request) Selection {
	s := Selection{Window: r.URL.Query().Get("window"), Type: r.URL.Query().Get("type")}
	if _, ok := windowDur[s.Window]; !ok {
		s.Window = "7d"
	}
	if s.Type != "" && !event.ValidEnvironmentID(s.Type) {
		s.Type = ""
	}
	seen := map[string]bool{}
	for _, st := range p.o.Environments.States() {
		if st.Type != "" && !seen[st.Type] && event.ValidEnvironmentID(st.Type) {
			seen[st.Type] = true
			s.Types = append(s.Types, st.Type)
		}
	}
	sort.Strings(s.Types)
	if len(s.Types) > maxTypes {
		s.Types = s.Types[:maxTypes]
	}
	return s
}

const maxTypes = 50 // types offered in the selector

func (p *Pages) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		level.Error(p.o.Logger).Log("msg", "page", "path", r.URL.Path, "err", err)
		http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// Style is the pages' shared CSS.
const Style = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{padding:.25em .8em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right}.ok{color:#176f2c}.bad{color:#b00020}.muted{color:#777}
code,pre{background:#f6f6f6;padding:0 .2em}pre{padding:.6em;overflow-x:auto}h2{margin-top:1.6em}
nav a{margin-right:1em}svg{display:block;max-width:100%;height:auto;font:11px system-ui,sans-serif}
.pass{background:#d9f2de;color:#14522a}.warn{background:#fff1c2;color:#6b4e00}.alert{background:#fbd5d8;color:#8a0010}.no_data{background:#eee;color:#555}
.status{font-weight:600;padding:.1em .5em;border-radius:.3em}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(30em,1fr));gap:0 2em}
.critical{color:#8a0010}.warning{color:#6b4e00}.info{color:#245}
.budgetbar{display:inline-block;width:8em;height:.8em;background:#eee;border-radius:.2em;overflow:hidden}.budgetfill{display:block;height:100%}
.budgetfill.good{background:#2f9e44}.budgetfill.warn{background:#f08c00}.budgetfill.bad{background:#e03131}`

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format(time.RFC3339)
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return HumanDuration(now.Sub(t)) + " ago"
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d bytes", n)
	},
	"dur":  HumanDuration,
	"secs": func(s float64) string { return HumanDuration(time.Duration(s * float64(time.Second))) },
	"optsecs": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return HumanDuration(time.Duration(*v * float64(time.Second)))
	},
	"pct": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f%%", *v)
	},
	"hours": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return HumanDuration(time.Duration(*v * float64(time.Hour)))
	},
	"style": func() template.CSS { return template.CSS(Style) },
	"num":   func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"optnum": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	},
	"sliRows":      sliRows,
	"budgetState":  budgetState,
	"budgetClass":  budgetClass,
	"budgetClass0": budgetClass0,
	"budgetWidth":  budgetWidth,
}

// HumanDuration prints d rounded to what a reader needs: 45s, 3m20s, 2h5m, 3d4h.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%dh", days, int(d%(24*time.Hour)/time.Hour))
	}
}

// tick is one labelled position on an axis.
type tick struct {
	X     float64
	Label string
}

var timeSteps = []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
	5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}

// timeTicks labels [from, to] with at most max round UTC times.
func timeTicks(from, to time.Time, max int, x func(time.Time) float64) []tick {
	span := to.Sub(from)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= time.Duration(max) {
			step = s
			break
		}
	}
	layout := "15:04"
	switch {
	case step < time.Minute:
		layout = "15:04:05"
	case step >= 24*time.Hour:
		layout = "Jan 2"
	case span > 24*time.Hour:
		layout = "Jan 2 15:04"
	}
	var out []tick
	for t := from.UTC().Truncate(step); !t.After(to); t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		out = append(out, tick{X: x(t), Label: t.UTC().Format(layout)})
	}
	return out
}

// durationTops are round tops for a duration axis (seconds): its quarters stay round too.
var durationTops = []float64{20, 40, 60, 120, 240, 300, 600, 1200, 1800, 2400, 3600, 7200, 14400, 21600, 43200, 86400}

// niceDuration rounds v up to a round duration for an axis top.
func niceDuration(v float64) float64 {
	for _, t := range durationTops {
		if t >= v {
			return t
		}
	}
	return niceCeil(v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (for axis tops).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// round1 keeps SVG coordinates short: a tenth of a pixel is finer than any screen.
func round1(v float64) float64 { return math.Round(v*10) / 10 }
