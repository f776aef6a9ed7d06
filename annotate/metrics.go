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
	// duplicatesDeleted counts the later duplicates reconciliation deleted.
	duplicatesDeleted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		requests:      metric.GrafanaRequests.NewCounterVec(reg),
		authFailures:  metric.GrafanaAuthFailures.NewCounter(reg),
		alreadyPosted: metric.GrafanaAlreadyPosted.NewCounter(reg),

		duplicatesDeleted: metric.GrafanaDuplicatesDeleted.NewCounter(reg),
	}
}

func (m *metrics) request(status int) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(code).Inc()
}
