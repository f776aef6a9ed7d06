package sink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/exporter/promutil"
)

// Metrics are the delivery runners' self-monitoring metrics (DESIGN §4), labelled by
// sink name. Create them once per registry with NewMetrics and share them between all
// runners.
type Metrics struct {
	delivered   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	setAside    *prometheus.CounterVec
	pruned      *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

// NewMetrics creates the runners' metrics and registers them with reg (nil: not
// registered). Called again with the same registry (a configuration reload), it returns
// collectors that keep counting in the series already registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_sink_delivered_events_total",
			Help: "Journal events the sink accepted.",
		}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_sink_delivery_failures_total",
			Help: "Failed delivery attempts; retryable=\"true\": transient, the batch is tried again with backoff; \"false\": rejected for good, its events are isolated and set aside.",
		}, []string{"sink", "retryable"}),
		setAside: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_sink_set_aside_events_total",
			Help: "Events the sink rejected permanently, recorded in the store's set_aside bucket and skipped.",
		}, []string{"sink"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_sink_pruned_undelivered_events_total",
			Help: "Events retention deleted from the journal before the sink delivered them (lost for this sink).",
		}, []string{"sink"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envtrack_sink_lag_events",
			Help: "Journal events not yet delivered to the sink (last sequence number minus the sink's cursor).",
		}, []string{"sink"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "envtrack_sink_last_success_timestamp_seconds",
			Help: "Unix time of the sink's last successful delivery (0: none since start).",
		}, []string{"sink"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envtrack_sink_delivery_duration_seconds",
			Help:    "Duration of delivery attempts (one Deliver call, successful or not).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"sink"}),
	}
	if reg == nil {
		return m
	}
	m.delivered = promutil.Register(reg, m.delivered)
	m.failures = promutil.Register(reg, m.failures)
	m.setAside = promutil.Register(reg, m.setAside)
	m.pruned = promutil.Register(reg, m.pruned)
	m.lag = promutil.Register(reg, m.lag)
	m.lastSuccess = promutil.Register(reg, m.lastSuccess)
	m.duration = promutil.Register(reg, m.duration)
	return m
}

// sinkMetrics are one sink's series. Creating them creates the series, at 0.
type sinkMetrics struct {
	delivered, failedRetryable, failedPermanent, setAside, pruned prometheus.Counter
	lag, lastSuccess                                              prometheus.Gauge
	duration                                                      prometheus.Observer
}

func (m *Metrics) forSink(name string) sinkMetrics {
	return sinkMetrics{
		delivered:       m.delivered.WithLabelValues(name),
		failedRetryable: m.failures.WithLabelValues(name, "true"),
		failedPermanent: m.failures.WithLabelValues(name, "false"),
		setAside:        m.setAside.WithLabelValues(name),
		pruned:          m.pruned.WithLabelValues(name),
		lag:             m.lag.WithLabelValues(name),
		lastSuccess:     m.lastSuccess.WithLabelValues(name),
		duration:        m.duration.WithLabelValues(name),
	}
}

// LagGauge is the envtrack_sink_lag_events series of one sink.
func (m *Metrics) LagGauge(sink string) prometheus.Gauge { return m.lag.WithLabelValues(sink) }
