package annotate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/exporter/promutil"
)

// Self-monitoring metrics (DESIGN §4). No label takes an environment id.
type metrics struct {
	requests      *prometheus.CounterVec
	authFailures  prometheus.Counter
	alreadyPosted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envtrack_grafana_requests_total",
			Help: "Grafana annotation API requests (creations and look-ups) by HTTP status code (\"error\": no answer: connection failure, timeout, dropped connection).",
		}, []string{"code"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "envtrack_grafana_auth_failures_total",
			Help: "Grafana answers 401 or 403: the token is wrong, expired or revoked, or the service account lacks annotations:create. Annotations wait in the journal until it is fixed.",
		}),
		alreadyPosted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "envtrack_grafana_annotations_already_posted_total",
			Help: "Events whose annotation the look-up after a start or a failed delivery found already in Grafana, and which were not posted again.",
		}),
	}
	if reg == nil {
		return m
	}
	m.requests = promutil.Register(reg, m.requests)
	m.authFailures = promutil.Register(reg, m.authFailures)
	m.alreadyPosted = promutil.Register(reg, m.alreadyPosted)
	return m
}

func (m *metrics) request(status int) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(code).Inc()
}
