package annotate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/dashboards/selfmon"
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
		requests:      selfmon.GrafanaRequests.NewCounterVec(),
		authFailures:  selfmon.GrafanaAuthFailures.NewCounter(),
		alreadyPosted: selfmon.GrafanaAlreadyPosted.NewCounter(),
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
