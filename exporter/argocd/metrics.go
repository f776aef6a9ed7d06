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
	return &metrics{
		requests:       metric.ArgoCDRequests.NewCounterVec(reg),
		duration:       metric.ArgoCDRequestDuration.NewHistogram(reg),
		lastSuccess:    metric.ArgoCDLastSuccess.NewGauge(reg),
		applications:   metric.ArgoCDApplications.NewGauge(reg),
		decodeErrors:   metric.ArgoCDDecodeErrors.NewCounter(reg),
		badAnnotations: metric.ArgoCDBadAnnotations.NewCounter(reg),
	}
}

func (m *metrics) observe(code string, start time.Time) {
	m.requests.WithLabelValues(code).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

// BadAnnotations is the counter Mapping.Evidence increments for an unparseable
// annotation: set Mapping.BadAnnotations to it.
func (c *Client) BadAnnotations() prometheus.Counter { return c.m.badAnnotations }
