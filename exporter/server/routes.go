package server

import (
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/web"
)

// Routes is what envtrack serves, wired to the daemon's parts.
type Routes struct {
	// Config is the configuration in force (it changes on reload): the API's tokens,
	// the body and batch limits, the landing page's summary.
	Config       func() *config.Config
	Environments api.Environments // the tracker's current view
	Query        func() *query.Service
	Recorder     api.Recorder            // POST /api/events
	Sinks        func() []sink.Status    // the landing page's
	Journal      func() web.JournalStats // the landing page's
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
	Now    func() time.Time
}

// Handler is envtrack's HTTP surface. The route table is this one block; every error
// leaves as the API's JSON error body.
func Handler(r Routes) http.Handler {
	tokens := func() (write, read []string) {
		c := r.Config().API
		for _, t := range c.WriteTokens {
			write = append(write, string(t))
		}
		for _, t := range c.ReadTokens {
			read = append(read, string(t))
		}
		return write, read
	}
	limits := r.Config().API
	mux := http.NewServeMux()
	web.New(web.Options{ // GET /, /environments/{id}, /insights
		Environments: r.Environments, Query: r.Query,
		Guard:  func(h http.Handler) http.Handler { return api.RequireRead(tokens, h) },
		Config: r.Config, Ready: r.Ready, Sinks: func() []web.SinkStatus { return sinkStatus(r.Sinks()) }, Journal: r.Journal,
		Logger: log.With(r.Logger, "component", "web"), Now: r.Now,
	}).Register(mux)
	// Exemplars name environments: not shown when reads need a token (/metrics is
	// guarded by --web.config.file, not by the API's tokens), unless asked for.
	exemplars := func() bool { return r.Config().ExposeExemplars() }
	mux.Handle("GET /metrics", promhttp.HandlerFor(withoutExemplars(r.Metrics, exemplars), promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          promLogger{r.Logger},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Ready() {
			api.WriteError(w, http.StatusServiceUnavailable, "not ready: waiting for the first Argo CD poll, or the journal does not answer")
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	reload := api.Lifecycle(tokens, reloadHandler(r.Reload, r.EnableLifecycle, r.Now))
	mux.Handle("POST /-/reload", reload)
	mux.Handle("PUT /-/reload", reload) // as Prometheus, which takes both
	api.Register(mux, api.Options{      // /api/...
		Environments: r.Environments, Query: r.Query, Recorder: r.Recorder, Tokens: tokens,
		MaxBodyBytes: limits.MaxBodyBytes, MaxBatch: limits.MaxBatch,
		Logger: log.With(r.Logger, "component", "api"), Now: r.Now,
	})
	mux.Handle("/", api.NotFound(mux, "not found"))
	return secureHeaders(recoverPanics(limitReserve(mux), r.Panics, r.Logger))
}

// sinkStatus is the sinks' state as the landing page shows it.
func sinkStatus(in []sink.Status) []web.SinkStatus {
	out := make([]web.SinkStatus, len(in))
	for i, s := range in {
		out[i] = web.SinkStatus{Name: s.Name, Lag: s.Lag, Cursor: s.Cursor, SetAside: s.SetAside, Undelivered: s.Undelivered,
			LastSuccess: s.LastSuccess, LastError: s.LastError, Failing: s.Failing, LastSetAside: s.LastSetAside}
	}
	return out
}

// reloadHandler is /-/reload. Without enabled it answers 403 as Prometheus does
// (web/web.go: "Lifecycle API is not enabled."), in JSON; enabled, reloadGuard keeps
// browsers and floods out.
func reloadHandler(reload func() error, enabled bool, now func() time.Time) http.Handler {
	do := reloadGuard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := reload(); err != nil {
			api.WriteError(w, http.StatusInternalServerError, "reload failed: "+err.Error())
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	}), now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !enabled {
			api.WriteError(w, http.StatusForbidden, "Lifecycle API is not enabled: start envtrack with --web.enable-lifecycle (or send SIGHUP)")
			return
		}
		do.ServeHTTP(w, r)
	})
}

type promLogger struct{ logger log.Logger }

func (p promLogger) Println(v ...interface{}) {
	level.Error(p.logger).Log("msg", "metrics exposition", "err", v)
}
