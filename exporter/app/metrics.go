package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are envtrack's own (the envtrack_ namespace), never labelled by environment.
type metrics struct {
	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
	polls           *prometheus.CounterVec
	transitions     *prometheus.CounterVec
	handlerPanics   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		reloadSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "envtrack_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		reloadTimestamp: f.NewGauge(prometheus.GaugeOpts{
			Name: "envtrack_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
		polls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_argocd_polls_total",
			Help: "Argo CD poll cycles by result: success, error (nothing tracked), inconclusive (an empty list while environments are live).",
		}, []string{"result"}),
		transitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_tracker_events_total",
			Help: "Lifecycle events the tracker appended to the journal, by event.",
		}, []string{"event"}),
		handlerPanics: f.NewCounter(prometheus.CounterOpts{
			Name: "envtrack_http_handler_panics_total",
			Help: "HTTP requests whose handler panicked: answered 500, logged, and the server kept serving.",
		}),
	}
	for _, r := range []string{"success", "error", "inconclusive"} {
		m.polls.WithLabelValues(r)
	}
	return m
}
