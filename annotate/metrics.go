package annotate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// Self-monitoring metrics (DESIGN §4). No label takes an environment id.
type metrics struct {
	requests      *prometheus.CounterVec
	authFailures  prometheus.Counter
	alreadyPosted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests:      metric.GrafanaRequests.NewCounterVec(),
		authFailures:  metric.GrafanaAuthFailures.NewCounter(),
		alreadyPosted: metric.GrafanaAlreadyPosted.NewCounter(),
	}
	if reg == nil {
		return m
	}
	m.requests = metric.Register(reg, m.requests)
	m.authFailures = metric.Register(reg, m.authFailures)
	m.alreadyPosted = metric.Register(reg, m.alreadyPosted)
	return m
}

func (m *metrics) request(status int) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(code).Inc()
}
