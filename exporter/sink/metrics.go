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
	undelivered *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

// NewMetrics creates the runners' metrics and registers them with reg (nil: not
// registered). Called again with the same registry (a configuration reload), it returns
// collectors that keep counting in the series already registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		delivered:   metric.SinkDelivered.NewCounterVec(reg),
		failures:    metric.SinkDeliveryFailures.NewCounterVec(reg),
		setAside:    metric.SinkSetAside.NewCounterVec(reg),
		pruned:      metric.SinkPrunedUndelivered.NewCounterVec(reg),
		undelivered: metric.SinkUndeliveredSetAside.NewCounterVec(reg),
		lag:         metric.SinkLag.NewGaugeVec(reg),
		lastSuccess: metric.SinkLastSuccess.NewGaugeVec(reg),
		duration:    metric.SinkDeliveryDuration.NewHistogramVec(reg),
	}
}

// sinkMetrics are one sink's series. Creating them creates the series, at 0.
type sinkMetrics struct {
	delivered, failedRetryable, failedPermanent, setAside, pruned, undelivered prometheus.Counter
	lag, lastSuccess                                                           prometheus.Gauge
	duration                                                                   prometheus.Observer
}

func (m *Metrics) forSink(name string) sinkMetrics {
	return sinkMetrics{
		delivered:       m.delivered.WithLabelValues(name),
		failedRetryable: m.failures.WithLabelValues(name, "true"),
		failedPermanent: m.failures.WithLabelValues(name, "false"),
		setAside:        m.setAside.WithLabelValues(name),
		pruned:          m.pruned.WithLabelValues(name),
		undelivered:     m.undelivered.WithLabelValues(name),
		lag:             m.lag.WithLabelValues(name),
		lastSuccess:     m.lastSuccess.WithLabelValues(name),
		duration:        m.duration.WithLabelValues(name),
	}
}
