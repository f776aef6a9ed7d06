package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/exporter/server"
	"github.com/blueberry-idp/envtrack/exporter/web"
)

// handler is envtrack's HTTP surface (exporter/server's route table), wired to the
// daemon's parts.
func (a *App) handler() http.Handler {
	return server.Handler(server.Routes{
		Config: a.Config, Environments: a.tracker, Query: a.currentQuery, Recorder: a.pushes,
		Sinks: a.SinkStatus,
		Journal: func() web.JournalStats {
			st := a.store.Stats()
			return web.JournalStats{Events: st.Events, LastSeq: st.LastSeq, Bytes: st.FileBytes}
		},
		// The daemon's registry and the current sources' registry.
		Metrics: prometheus.Gatherers{a.reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			return a.current().reg.Gather()
		})},
		Ready: a.Ready, Reload: a.Reload, EnableLifecycle: a.opts.EnableLifecycle,
		Panics: a.metrics.handlerPanics, Logger: a.logger, Now: a.now,
	})
}
