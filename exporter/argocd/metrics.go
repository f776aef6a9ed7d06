package argocd

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_argocd_requests_total",
			Help: "Argo CD list requests by HTTP status code (\"error\": no complete answer: connection failure, timeout, cut body).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "envtrack_argocd_request_duration_seconds",
			Help:    "Duration of Argo CD list requests, until the whole answer was read.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "envtrack_argocd_last_success_timestamp_seconds",
			Help: "Unix time of the last successful Argo CD list.",
		}),
		applications: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "envtrack_argocd_applications",
			Help: "Applications in the last successful Argo CD list.",
		}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "envtrack_argocd_decode_errors_total",
			Help: "Argo CD answers with status 200 that were not a usable application list.",
		}),
		badAnnotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "envtrack_argocd_bad_annotations_total",
			Help: "Application annotations envtrack could not parse (e.g. a requested-at that is not RFC 3339).",
		}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.lastSuccess = register(reg, m.lastSuccess)
	m.applications = register(reg, m.applications)
	m.decodeErrors = register(reg, m.decodeErrors)
	m.badAnnotations = register(reg, m.badAnnotations)
	return m
}

// register registers c, or returns the collector already registered under its name (a
// client rebuilt by a configuration reload keeps counting in the same series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with another metric: a programming error
	}
	return c
}

func (m *metrics) observe(code string, start time.Time) {
	m.requests.WithLabelValues(code).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

// BadAnnotations is the counter Mapping.Evidence increments for an unparseable
// annotation: set Mapping.BadAnnotations to it.
func (c *Client) BadAnnotations() prometheus.Counter { return c.m.badAnnotations }
