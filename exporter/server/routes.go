package server

import (
	"net/http"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/web"
)

// Routes is what envtrack serves: the API, the pages and the daemon's own endpoints.
type Routes struct {
	API   api.Options
	Pages web.Options
	// Metrics is gathered for GET /metrics (OpenMetrics negotiated).
	Metrics prometheus.Gatherer
	// Ready answers GET /readyz.
	Ready func() bool
	// Reload is POST /-/reload, answered only with EnableLifecycle (--web.enable-lifecycle).
	Reload          func() error
	EnableLifecycle bool
	// Panics counts the handlers that panicked (answered 500).
	Panics prometheus.Counter
	Logger log.Logger
}

// Handler is envtrack's HTTP surface. The route table is this one block; every error
// leaves as the API's JSON error body.
func Handler(r Routes) http.Handler {
	mux := http.NewServeMux()
	web.New(r.Pages).Register(mux) // GET /, /environments/{id}, /insights
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.Metrics, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          promLogger{r.Logger},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Ready() {
			api.WriteError(w, http.StatusServiceUnavailable, "not ready: waiting for the first Argo CD poll")
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	reload := api.Lifecycle(r.API.Tokens, reloadHandler(r.Reload, r.EnableLifecycle))
	mux.Handle("POST /-/reload", reload)
	mux.Handle("PUT /-/reload", reload) // as Prometheus, which takes both
	api.Register(mux, r.API)            // /api/...
	mux.Handle("/", api.NotFound(mux, "not found"))
	return recoverPanics(limitReserve(mux), r.Panics, r.Logger)
}

// reloadHandler is /-/reload. Without enabled it answers 403 as Prometheus does
// (web/web.go: "Lifecycle API is not enabled."), in JSON.
func reloadHandler(reload func() error, enabled bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !enabled {
			api.WriteError(w, http.StatusForbidden, "Lifecycle API is not enabled: start envtrack with --web.enable-lifecycle (or send SIGHUP)")
			return
		}
		if err := reload(); err != nil {
			api.WriteError(w, http.StatusInternalServerError, "reload failed: "+err.Error())
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
}

type promLogger struct{ logger log.Logger }

func (p promLogger) Println(v ...interface{}) {
	level.Error(p.logger).Log("msg", "metrics exposition", "err", v)
}
