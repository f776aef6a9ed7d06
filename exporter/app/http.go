package app

import (
	"context"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/web"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Handler is envtrack's HTTP surface. The route table is one readable block.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	pages := web.New(web.Options{
		Environments: a.tracker,
		Query:        a.Query,
		Markers:      liveMarkers{a},
		Guard:        func(h http.Handler) http.Handler { return api.RequireRead(a.tokens, h) },
		Logger:       log.With(a.logger, "component", "web"),
		Now:          a.now,
	})
	pages.Register(mux)
	mux.Handle("GET /{$}", a.landing(pages))
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
	reload := api.Lifecycle(a.tokens, a.reloadHandler())
	mux.Handle("POST /-/reload", reload)
	mux.Handle("PUT /-/reload", reload) // as Prometheus, which takes both
	api.Register(mux, api.Options{
		Environments: a.tracker,
		Query:        a.Query,
		Recorder:     a,
		Tokens:       a.tokens,
		MaxBodyBytes: a.Config().API.MaxBodyBytes,
		MaxBatch:     a.Config().API.MaxBatch,
		Logger:       log.With(a.logger, "component", "api"),
		Now:          a.now,
	})
	mux.Handle("/", api.NotFound(mux, "not found"))
	return a.recoverPanics(limitReserve(mux))
}

// liveMarkers reads CI's deployment markers from the query backend in force: InfluxDB's
// deployments measurement when configured, else the journal.
type liveMarkers struct{ a *App }

func (m liveMarkers) Markers(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	return m.a.Query().Markers(ctx, from, to)
}

func (m liveMarkers) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	return m.a.Query().EnvironmentMarkers(ctx, id)
}

// reloadHandler is /-/reload. Without Options.EnableLifecycle it answers 403 as
// Prometheus does (web/web.go: "Lifecycle API is not enabled."), in JSON.
func (a *App) reloadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.opts.EnableLifecycle {
			writeError(w, http.StatusForbidden, "Lifecycle API is not enabled: start envtrack with --web.enable-lifecycle (or send SIGHUP)")
			return
		}
		if err := a.Reload(); err != nil {
			writeError(w, http.StatusInternalServerError, "reload failed: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
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
