package app

import (
	"net/http"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/server"
	"github.com/blueberry-idp/envtrack/exporter/web"
)

// handler is envtrack's HTTP surface (exporter/server's route table), wired to the
// daemon's parts.
func (a *App) handler() http.Handler {
	return server.Handler(server.Routes{
		API: api.Options{
			Environments: a.tracker,
			Query:        a.currentQuery,
			Recorder:     a.pushes,
			Tokens:       a.tokens,
			MaxBodyBytes: a.Config().API.MaxBodyBytes,
			MaxBatch:     a.Config().API.MaxBatch,
			Logger:       log.With(a.logger, "component", "api"),
			Now:          a.now,
		},
		Pages: web.Options{
			Environments: a.tracker,
			Query:        a.currentQuery,
			Markers:      a.journalQ,
			Guard:        func(h http.Handler) http.Handler { return api.RequireRead(a.tokens, h) },
			Config:       a.Config,
			Ready:        a.Ready,
			Sinks:        a.SinkStatus,
			Journal: func() web.JournalStats {
				st := a.store.Stats()
				return web.JournalStats{Events: st.Events, LastSeq: st.LastSeq, Bytes: st.FileBytes}
			},
			Logger: log.With(a.logger, "component", "web"),
			Now:    a.now,
		},
		// The daemon's registry and the current sources' registry.
		Metrics: prometheus.Gatherers{a.reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			return a.currentSources().reg.Gather()
		})},
		Ready:           a.Ready,
		Reload:          a.Reload,
		EnableLifecycle: a.opts.EnableLifecycle,
		Panics:          a.metrics.handlerPanics,
		Logger:          a.logger,
	})
}

// tokens returns the API tokens in force.
func (a *App) tokens() (write, read []string) {
	c := a.Config()
	for _, t := range c.API.WriteTokens {
		write = append(write, string(t))
	}
	for _, t := range c.API.ReadTokens {
		read = append(read, string(t))
	}
	return write, read
}
