package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// SinkStatus is what the landing page says of a sink.
type SinkStatus struct {
	Name        string
	Lag, Cursor uint64 // events not yet delivered; the last one delivered (or set aside)
	SetAside    uint64 // events the sink refused for good
	// Undelivered: events set aside because the sink could not take them within
	// retention.max_undelivered (the journal no longer keeps them for it).
	Undelivered uint64
	LastSuccess time.Time
	LastError   string
	Failing     bool // in a burst of retryable failures
	// LastSetAside names the event set aside last since start, and why ("" if none).
	LastSetAside string
}

// JournalStats is what the landing page says of the journal.
type JournalStats struct {
	Events, LastSeq uint64 // events held, last sequence number assigned
	Bytes           int64  // on disk
}

// Bounds of the landing page: it is a summary, the API has the rest.
const (
	landingPerPhase   = 25 // environments listed per phase, most recent first
	landingTerminated = 10 // terminated environments listed
	landingFailures   = 15 // last failures listed
)

// landingData is what the landing page shows. Nothing in it may carry a secret: the
// configuration is summarised from its fields (tokens only as "set" and counts) and the
// full view is config.Redacted.
type landingData struct {
	Version, Build string

	Now   time.Time
	Ready bool

	// Private: read tokens are configured, so environment data and configuration
	// details stay behind the API's authentication.
	Private  bool
	Config   []landingKV
	Redacted string

	Sinks          []landingSink
	MaxUndelivered string // retention.max_undelivered
	Total          int
	Phases         []landingPhase
	Failures       []landingFailure
	// Stuck are the environments terminating longer than readiness.termination_timeout.
	Stuck []landingStuck

	// Charts are the provisioning charts of the selected window (exporter/web).
	Charts template.HTML

	JournalEvents, JournalLastSeq uint64
	JournalBytes                  int64
}

type landingKV struct{ Key, Value string }

type landingSink struct {
	SinkStatus
	State string
}

type landingPhase struct {
	Phase tracker.Phase
	Count int
	Envs  []landingEnv
	More  int
}

type landingEnv struct {
	ID, Type, Source, Timeline, JSON string
	Since                            time.Time
}

type landingStuck struct {
	ID, Type, Timeline, JSON string
	Since, StuckAt           time.Time // termination began; the timeout passed
}

type landingFailure struct {
	ID, Type, Reason, Timeline, JSON string
	At                               time.Time
	After                            time.Duration
	Phase                            tracker.Phase
}

// buildInfo describes the build: revision, branch, date, Go version (what is known).
func buildInfo() string {
	var parts []string
	if version.Revision != "" {
		parts = append(parts, "revision "+version.Revision)
	}
	if version.Branch != "" {
		parts = append(parts, "branch "+version.Branch)
	}
	if version.BuildDate != "" {
		parts = append(parts, "built "+version.BuildDate)
	}
	return strings.Join(append(parts, runtime.Version()), ", ")
}

var landingTmpl = template.Must(template.New("landing").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envtrack</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{style}}</style></head>
<body>
<h1>envtrack</h1>
<p>Environment lifecycle tracking: Argo CD and URL probes in, lifecycle events out to the journal,
InfluxDB, Prometheus and Grafana.</p>
<p id="version">Version <strong>{{or .Version "unknown"}}</strong> ({{.Build}}) ·
{{if .Ready}}<span class="ok">ready</span>{{else}}<span class="bad">not ready</span>{{end}} ·
now {{time .Now}}</p>
<nav id="links">
<a href="metrics">/metrics</a>
<a href="healthz">/healthz</a>
<a href="readyz">/readyz</a>
<a href="insights">insights</a>
<a href="api/environments">/api/environments</a>
<a href="api/insights/performance-detailed?window=7d">/api/insights/performance-detailed?window=7d</a>
</nav>
<p class="muted">Also: <code>GET /api/environments/{id}</code>, <code>GET /api/environments/{id}/timeline</code>,
<code>POST /api/events</code> (bearer write token), <code>POST /-/reload</code>.</p>

<h2 id="sinks">Sinks</h2>
<table><tr><th>sink</th><th>state</th><th class="num">lag (events)</th><th class="num">cursor</th><th class="num">set aside</th><th>last success</th><th>last error</th></tr>
{{range .Sinks}}<tr class="sink" data-sink="{{.Name}}"><td>{{.Name}}</td>
<td class="{{if .Failing}}bad{{else}}ok{{end}}">{{.State}}</td>
<td class="num lag">{{.Lag}}</td><td class="num">{{.Cursor}}</td><td class="num">{{.SetAside}}</td>
<td>{{time .LastSuccess}}</td><td>{{.LastError}}</td></tr>
{{else}}<tr><td colspan="7">none configured (no influxdb, grafana or webhooks section): events stay in the journal</td></tr>{{end}}
</table>
{{range .Sinks}}{{if .Undelivered}}<p class="bad undelivered" data-sink="{{.Name}}">{{.Name}}: {{.Undelivered}} events set aside undelivered:
the sink failed to take them within <code>retention.max_undelivered</code> ({{$.MaxUndelivered}}). They are kept in the store's
<code>undelivered</code> bucket, no longer retried; the log names them (<code>envtrack_sink_undelivered_set_aside_events_total</code>).</p>
{{end}}{{if .LastSetAside}}<p class="set-aside" data-sink="{{.Name}}">{{.Name}} set aside {{.LastSetAside}}</p>
{{end}}{{end}}<p>Journal: {{.JournalEvents}} events held, last sequence {{.JournalLastSeq}}, {{bytes .JournalBytes}} on disk.</p>

{{if .Private}}
<h2 id="environments">Environments</h2>
<p>Reads need a token (<code>api.read_tokens</code>): environments, timelines and the configuration are served by the API only,
e.g. <code>curl -H "Authorization: Bearer $TOKEN" …/api/environments</code>.</p>
{{else}}
<h2 id="environments">Environments by phase</h2>
<table id="phases"><tr><th>phase</th><th class="num">environments</th></tr>
{{range .Phases}}<tr><td><a href="#phase-{{.Phase}}">{{.Phase}}</a></td><td class="num count" data-phase="{{.Phase}}">{{.Count}}</td></tr>
{{end}}<tr><th>total</th><th class="num">{{.Total}}</th></tr>
</table>
{{.Charts}}
<h2 id="failures">Last failures</h2>
{{if .Failures}}<table><tr><th>environment</th><th>type</th><th>reason</th><th>failed at</th><th>after</th><th>phase now</th></tr>
{{range .Failures}}<tr class="failure"><td><a class="timeline" href="{{.Timeline}}">{{.ID}}</a> <a class="json muted" href="{{.JSON}}">json</a></td><td>{{.Type}}</td><td class="reason">{{.Reason}}</td>
<td>{{time .At}}</td><td>{{dur .After}}</td><td>{{.Phase}}</td></tr>
{{end}}</table>
{{else}}<p>No provisioning failure recorded.</p>{{end}}
{{if .Stuck}}
<h2 id="stuck">Stuck terminations</h2>
<p>Terminating longer than <code>readiness.termination_timeout</code>: their Argo CD Applications are still there (finalizers that never finish?).</p>
<table><tr><th>environment</th><th>type</th><th>terminating since</th><th>stuck since</th></tr>
{{range .Stuck}}<tr class="stuck"><td><a class="timeline" href="{{.Timeline}}">{{.ID}}</a> <a class="json muted" href="{{.JSON}}">json</a></td><td>{{.Type}}</td>
<td>{{time .Since}} <span class="muted">{{ago $.Now .Since}}</span></td><td>{{time .StuckAt}}</td></tr>
{{end}}</table>{{end}}

<h2 id="lists">Environments, most recent first</h2>
{{range .Phases}}{{if .Count}}
<h3 id="phase-{{.Phase}}">{{.Phase}} ({{.Count}})</h3>
<table class="envs" data-phase="{{.Phase}}"><tr><th>environment</th><th>type</th><th>source</th><th>since</th></tr>
{{range .Envs}}<tr class="env"><td><a class="timeline" href="{{.Timeline}}">{{.ID}}</a> <a class="json muted" href="{{.JSON}}">json</a></td><td>{{.Type}}</td><td>{{.Source}}</td><td>{{time .Since}} <span class="muted">{{ago $.Now .Since}}</span></td></tr>
{{end}}</table>
{{if .More}}<p class="muted">… and {{.More}} more: <a href="api/environments">/api/environments</a></p>{{end}}
{{end}}{{end}}

<h2 id="config">Configuration</h2>
<table>{{range .Config}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<details><summary>Effective configuration (secrets redacted)</summary><pre>{{.Redacted}}</pre></details>
{{end}}
</body></html>
`))

// landing is GET /: what envtrack is doing, its sinks and journal, and (unless read
// tokens are configured) the environments by phase, the charts, the last failures and
// the configuration.
func (p *Pages) landing(w http.ResponseWriter, r *http.Request) {
	d := p.landingData()
	if !d.Private {
		d.Charts = p.Charts(r.Context(), r)
	}
	p.render(w, r, landingTmpl, http.StatusOK, d)
}

func (p *Pages) landingData() landingData {
	cfg := p.o.Config()
	st := p.o.Journal()
	d := landingData{
		Version: version.Version, Build: buildInfo(),
		Now: p.o.Now().UTC(), Ready: p.o.Ready(),
		Private:       len(cfg.API.ReadTokens) > 0,
		JournalEvents: st.Events, JournalLastSeq: st.LastSeq, JournalBytes: st.Bytes,
		MaxUndelivered: cfg.Retention.MaxUndelivered.String(),
	}
	for _, s := range p.o.Sinks() {
		state := "ok"
		switch {
		case s.Failing:
			state = "failing, retrying"
		case s.LastSuccess.IsZero() && s.Lag > 0:
			state = "delivering"
		case s.LastSuccess.IsZero():
			state = "idle"
		}
		d.Sinks = append(d.Sinks, landingSink{SinkStatus: s, State: state})
	}
	if d.Private {
		return d
	}
	d.Config = configSummary(cfg)
	d.Redacted = cfg.Redacted()

	// Pointers into one copy of the states: with 10,000 environments, copying each
	// state into per-phase lists cost more than the rest of the page.
	all := p.o.Environments.States()
	byPhase := map[tracker.Phase][]*tracker.State{}
	var failed []*tracker.State
	for i := range all {
		s := &all[i]
		byPhase[s.Phase] = append(byPhase[s.Phase], s)
		if !s.FailedAt.IsZero() {
			failed = append(failed, s)
		}
		if s.Phase == tracker.PhaseTerminating && !s.TerminationStuckAt.IsZero() {
			d.Stuck = append(d.Stuck, landingStuck{ID: s.ID, Type: s.Type, Timeline: envHref(s.ID), JSON: timelineHref(s.ID),
				Since: s.TerminationStartedAt, StuckAt: s.TerminationStuckAt})
		}
		d.Total++
	}
	for _, p := range tracker.Phases {
		states := byPhase[p]
		sort.Slice(states, func(i, j int) bool {
			ti, tj := phaseSince(*states[i]), phaseSince(*states[j])
			if !ti.Equal(tj) {
				return ti.After(tj)
			}
			return states[i].ID < states[j].ID
		})
		row := landingPhase{Phase: p, Count: len(states)}
		limit := landingPerPhase
		if p == tracker.PhaseTerminated {
			limit = landingTerminated
		}
		for i, s := range states {
			if i == limit {
				row.More = len(states) - i
				break
			}
			row.Envs = append(row.Envs, landingEnv{ID: s.ID, Type: s.Type, Source: s.Source,
				Timeline: envHref(s.ID), JSON: timelineHref(s.ID), Since: phaseSince(*s)})
		}
		d.Phases = append(d.Phases, row)
	}
	// Longest stuck first; the gauge counts them all, the page lists a bounded number.
	sort.Slice(d.Stuck, func(i, j int) bool {
		if !d.Stuck[i].StuckAt.Equal(d.Stuck[j].StuckAt) {
			return d.Stuck[i].StuckAt.Before(d.Stuck[j].StuckAt)
		}
		return d.Stuck[i].ID < d.Stuck[j].ID
	})
	if len(d.Stuck) > landingPerPhase {
		d.Stuck = d.Stuck[:landingPerPhase]
	}
	sort.Slice(failed, func(i, j int) bool {
		if !failed[i].FailedAt.Equal(failed[j].FailedAt) {
			return failed[i].FailedAt.After(failed[j].FailedAt)
		}
		return failed[i].ID < failed[j].ID
	})
	for i, s := range failed {
		if i == landingFailures {
			break
		}
		f := landingFailure{ID: s.ID, Type: s.Type, Reason: s.FailureReason, Timeline: envHref(s.ID), JSON: timelineHref(s.ID),
			At: s.FailedAt, Phase: s.Phase}
		if !s.ProvisioningStartedAt.IsZero() {
			f.After = max(s.FailedAt.Sub(s.ProvisioningStartedAt), 0) // never negative, even for old records
		}
		d.Failures = append(d.Failures, f)
	}
	return d
}

// envHref is the environment's page (exporter/web); relative, as timelineHref.
func envHref(id string) string { return apitypes.EnvironmentPage(id) }

// timelineHref is relative, so that the page works behind a reverse proxy's sub-path.
func timelineHref(id string) string {
	return "api/environments/" + url.PathEscape(id) + "/timeline"
}

// phaseSince is when the environment entered its current phase, as far as its state says.
func phaseSince(s tracker.State) time.Time {
	var t time.Time
	switch s.Phase {
	case tracker.PhaseRequested:
		t = s.CreatedAt
	case tracker.PhaseProvisioning:
		t = s.ProvisioningStartedAt
	case tracker.PhaseReady:
		t = s.ReadyAt
		if s.DeployedAt.After(t) {
			t = s.DeployedAt
		}
	case tracker.PhaseFailed:
		t = s.FailedAt
	case tracker.PhaseDegraded:
		t = s.HealthDegradedAt
		if t.IsZero() || (!s.URLDegradedAt.IsZero() && s.URLDegradedAt.Before(t)) {
			t = s.URLDegradedAt
		}
	case tracker.PhaseTerminating:
		t = s.TerminationStartedAt
	case tracker.PhaseTerminated:
		t = s.TerminatedAt
	}
	if t.IsZero() {
		t = s.LastObservedAt
	}
	return t
}

// configSummary describes the configuration in a few lines. It reads fields one by one
// and never a secret's value: a token is "set", token lists are counts.
func configSummary(c *config.Config) []landingKV {
	var out []landingKV
	add := func(k, format string, args ...any) { out = append(out, landingKV{k, fmt.Sprintf(format, args...)}) }
	add("config file", "%s", c.Filename)
	add("listen address", "%s", c.ListenAddress)
	add("state", "%s (journal retention %s, kept for undelivered sinks up to %s)", c.StateDir, c.Retention.Events, c.Retention.MaxUndelivered)
	if a := c.ArgoCD; a != nil {
		sel := a.Selector
		if sel == "" {
			sel = "all Applications"
		}
		projects := "all projects"
		if len(a.Projects) > 0 {
			projects = "projects " + strings.Join(a.Projects, ", ")
		}
		add("Argo CD", "%s · selector %s · %s · every %s · token %s", redact.URL(a.Server), sel, projects,
			a.PollInterval, setOrNot(a.Token != "" || a.TokenFile != ""))
	} else {
		add("Argo CD", "not configured: URL-only environments and pushed events")
	}
	u := c.Readiness.URL
	add("readiness", "provisioning timeout %s · URL probes every %s (timeout %s, up: %s)",
		c.Readiness.ProvisioningTimeout, u.Interval, u.Timeout, strings.Join(u.ExpectedStatus.Specs(), ", "))
	add("static environments", "%d", len(c.Environments))
	if i := c.InfluxDB; i != nil {
		add("InfluxDB", "%s · bucket %s · measurements %s, %s · token %s", redact.URL(i.URL), i.Bucket,
			i.Measurement, i.DeploymentsMeasurement, setOrNot(i.Token != "" || i.TokenFile != ""))
	} else {
		add("InfluxDB", "not configured: the API answers from the embedded journal")
	}
	if g := c.Grafana; g != nil {
		scope := "organization-wide"
		if g.DashboardUID != "" {
			scope = "dashboard " + g.DashboardUID
		}
		add("Grafana", "%s · %s annotations · token %s", redact.URL(g.URL), scope, setOrNot(g.Token != "" || g.TokenFile != ""))
	} else {
		add("Grafana", "not configured: no annotations")
	}
	writes := "disabled (no write tokens)"
	if n := len(c.API.WriteTokens); n > 0 {
		writes = fmt.Sprintf("%d write token(s)", n)
	}
	reads := "open"
	if n := len(c.API.ReadTokens); n > 0 {
		reads = fmt.Sprintf("%d read token(s)", n)
	}
	add("API", "POST /api/events: %s · reads: %s", writes, reads)
	add("metrics", "namespace %s · native histograms %t", c.Metrics.Namespace, c.Metrics.NativeHistograms)
	t := c.Targets
	add("targets", "p50 %s (alert %s) · p95 %s (alert %s) · success rate %g%% (alert %g%%)",
		t.ProvisioningP50.Target, t.ProvisioningP50.Alert, t.ProvisioningP95.Target, t.ProvisioningP95.Alert,
		t.SuccessRate.Target, t.SuccessRate.Alert)
	return out
}

func setOrNot(set bool) string {
	if set {
		return "set"
	}
	return "not set"
}
