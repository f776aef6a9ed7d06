package sink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
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
		delivered:   metric.SinkDelivered.NewCounterVec(),
		failures:    metric.SinkDeliveryFailures.NewCounterVec(),
		setAside:    metric.SinkSetAside.NewCounterVec(),
		pruned:      metric.SinkPrunedUndelivered.NewCounterVec(),
		lag:         metric.SinkLag.NewGaugeVec(),
		lastSuccess: metric.SinkLastSuccess.NewGaugeVec(),
		duration:    metric.SinkDeliveryDuration.NewHistogramVec(),
	}
	if reg == nil {
		return m
	}
	m.delivered = metric.Register(reg, m.delivered)
	m.failures = metric.Register(reg, m.failures)
	m.setAside = metric.Register(reg, m.setAside)
	m.pruned = metric.Register(reg, m.pruned)
	m.lag = metric.Register(reg, m.lag)
	m.lastSuccess = metric.Register(reg, m.lastSuccess)
	m.duration = metric.Register(reg, m.duration)
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
