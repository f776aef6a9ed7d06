package app

import (
	"html/template"
	"net/http"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Handler is envtrack's HTTP surface. The route table is one readable block.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.landing())
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.Ready() {
			writeError(w, http.StatusServiceUnavailable, "not ready: waiting for the first Argo CD poll")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Reload(); err != nil {
			writeError(w, http.StatusInternalServerError, "reload failed: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	api.Register(mux, api.Options{
		Environments: a.tracker,
		Query:        a.Query,
		Recorder:     a,
		Tokens:       a.tokens,
		MaxBodyBytes: a.Config().API.MaxBodyBytes,
		Logger:       log.With(a.logger, "component", "api"),
		Now:          a.now,
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	return mux
}

// metricsHandler gathers the daemon's registry and the current sources' registry.
func (a *App) metricsHandler() http.Handler {
	g := prometheus.Gatherers{a.reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return a.currentSources().reg.Gather()
	})}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          promLogger{a},
	})
}

type promLogger struct{ a *App }

func (p promLogger) Println(v ...interface{}) {
	level.Error(p.a.logger).Log("msg", "metrics exposition", "err", v)
}

// writeJSON and writeError are the one way responses leave: JSON, with the status.
var (
	writeJSON  = api.WriteJSON
	writeError = api.WriteError
)

var landingTmpl = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>envtrack</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}td,th{padding:.2em .8em;text-align:left}</style></head>
<body><h1>envtrack</h1>
<p>Environment lifecycle tracking. Version {{.Version}}.</p>
<ul>
<li><a href="metrics">Metrics</a></li>
<li><a href="healthz">Health</a> · <a href="readyz">Readiness</a></li>
</ul>
<h2>Sinks</h2>
<table><tr><th>sink</th><th>cursor</th><th>lag</th><th>set aside</th><th>state</th></tr>
{{range .Sinks}}<tr><td>{{.Name}}</td><td>{{.Cursor}}</td><td class="lag">{{.Lag}}</td><td>{{.SetAside}}</td><td>{{if .Failing}}failing: {{.LastError}}{{else}}ok{{end}}</td></tr>
{{else}}<tr><td colspan="5">none configured (no influxdb or grafana section)</td></tr>{{end}}
</table>
<h2>Environments by phase</h2>
<table><tr><th>phase</th><th>environments</th></tr>
{{range .Phases}}<tr><td>{{.Phase}}</td><td>{{.Count}}</td></tr>{{end}}
</table>
<p>Journal: {{.Events}} events, last sequence {{.LastSeq}}.</p>
</body></html>
`))

func (a *App) landing() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counts := map[tracker.Phase]int{}
		for _, s := range a.tracker.States() {
			counts[s.Phase]++
		}
		type row struct {
			Phase tracker.Phase
			Count int
		}
		var rows []row
		for _, p := range tracker.Phases {
			rows = append(rows, row{p, counts[p]})
		}
		st := a.store.Stats()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = landingTmpl.Execute(w, map[string]any{
			"Version": version.Version, "Phases": rows, "Events": st.Events, "LastSeq": st.LastSeq,
			"Sinks": a.SinkStatus(),
		})
	})
}
