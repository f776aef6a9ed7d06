package argocd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// Self-monitoring metrics (DESIGN §4). No label takes an Application name.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       prometheus.Histogram
	lastSuccess    prometheus.Gauge
	applications   prometheus.Gauge
	decodeErrors   prometheus.Counter
	badAnnotations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests:       metric.ArgoCDRequests.NewCounterVec(),
		duration:       metric.ArgoCDRequestDuration.NewHistogram(),
		lastSuccess:    metric.ArgoCDLastSuccess.NewGauge(),
		applications:   metric.ArgoCDApplications.NewGauge(),
		decodeErrors:   metric.ArgoCDDecodeErrors.NewCounter(),
		badAnnotations: metric.ArgoCDBadAnnotations.NewCounter(),
	}
	if reg == nil {
		return m
	}
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

// BadAnnotations is the counter Mapping.Evidence increments for an unparseable
// annotation: set Mapping.BadAnnotations to it.
func (c *Client) BadAnnotations() prometheus.Counter { return c.m.badAnnotations }
