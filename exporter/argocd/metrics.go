package argocd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/dashboards/selfmon"
	"github.com/blueberry-idp/envtrack/exporter/promutil"
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
		requests:       selfmon.ArgoCDRequests.NewCounterVec(),
		duration:       selfmon.ArgoCDRequestDuration.NewHistogram(),
		lastSuccess:    selfmon.ArgoCDLastSuccess.NewGauge(),
		applications:   selfmon.ArgoCDApplications.NewGauge(),
		decodeErrors:   selfmon.ArgoCDDecodeErrors.NewCounter(),
		badAnnotations: selfmon.ArgoCDBadAnnotations.NewCounter(),
	}
	if reg == nil {
		return m
	}
	m.requests = promutil.Register(reg, m.requests)
	m.duration = promutil.Register(reg, m.duration)
	m.lastSuccess = promutil.Register(reg, m.lastSuccess)
	m.applications = promutil.Register(reg, m.applications)
	m.decodeErrors = promutil.Register(reg, m.decodeErrors)
	m.badAnnotations = promutil.Register(reg, m.badAnnotations)
	return m
}

func (m *metrics) observe(code string, start time.Time) {
	m.requests.WithLabelValues(code).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

// BadAnnotations is the counter Mapping.Evidence increments for an unparseable
// annotation: set Mapping.BadAnnotations to it.
func (c *Client) BadAnnotations() prometheus.Counter { return c.m.badAnnotations }
