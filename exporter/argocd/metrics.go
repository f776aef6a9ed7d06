package argocd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
