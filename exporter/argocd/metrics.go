package argocd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// Self-monitoring metrics (DESIGN §4). No label takes an Application name.
type metrics struct {
	polls          *prometheus.CounterVec // the source's polls and evaluations, by result
	requests       *prometheus.CounterVec
	duration       prometheus.Histogram
	lastSuccess    prometheus.Gauge
	applications   prometheus.Gauge
	decodeErrors   prometheus.Counter
	badAnnotations prometheus.Counter
	blindSeconds   prometheus.Counter
	confirmations  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls:          metric.ArgoCDPolls.NewCounterVec(reg),
		requests:       metric.ArgoCDRequests.NewCounterVec(reg),
		duration:       metric.ArgoCDRequestDuration.NewHistogram(reg),
		lastSuccess:    metric.ArgoCDLastSuccess.NewGauge(reg),
		applications:   metric.ArgoCDApplications.NewGauge(reg),
		decodeErrors:   metric.ArgoCDDecodeErrors.NewCounter(reg),
		badAnnotations: metric.ArgoCDBadAnnotations.NewCounter(reg),
		blindSeconds:   metric.ArgoCDBlindSeconds.NewCounter(reg),
		confirmations:  metric.ArgoCDConfirmations.NewCounterVec(reg),
	}
	for _, r := range []string{"success", "error", "inconclusive"} {
		m.polls.WithLabelValues(r)
	}
	for _, r := range []string{"confirmed", "failed", "behind"} {
		m.confirmations.WithLabelValues(r)
	}
	return m
}

func (m *metrics) observe(code string, start time.Time) {
	m.requests.WithLabelValues(code).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}
