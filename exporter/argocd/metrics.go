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
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls:          metric.ArgoCDPolls.NewCounterVec(),
		requests:       metric.ArgoCDRequests.NewCounterVec(),
		duration:       metric.ArgoCDRequestDuration.NewHistogram(),
		lastSuccess:    metric.ArgoCDLastSuccess.NewGauge(),
		applications:   metric.ArgoCDApplications.NewGauge(),
		decodeErrors:   metric.ArgoCDDecodeErrors.NewCounter(),
		badAnnotations: metric.ArgoCDBadAnnotations.NewCounter(),
	}
	for _, r := range []string{"success", "error", "inconclusive"} {
		m.polls.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	m.polls = metric.Register(reg, m.polls)
	m.requests = metric.Register(reg, m.requests)
	m.duration = metric.Register(reg, m.duration)
	m.lastSuccess = metric.Register(reg, m.lastSuccess)
	m.applications = metric.Register(reg, m.applications)
	m.decodeErrors = metric.Register(reg, m.decodeErrors)
	m.badAnnotations = metric.Register(reg, m.badAnnotations)
	return m
}

func (m *metrics) observe(code string, start time.Time) {
	m.requests.WithLabelValues(code).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}
