package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// metrics are envtrack's own (the envtrack_ namespace), never labelled by environment.
type metrics struct {
	reloadSuccess   prometheus.Gauge
	reloadTimestamp prometheus.Gauge
	transitions     *prometheus.CounterVec
	handlerPanics   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloadSuccess:   metric.ConfigLastReloadSuccessful.NewGauge(),
		reloadTimestamp: metric.ConfigLastReloadSuccessTimestamp.NewGauge(),
		transitions:     metric.TrackerEvents.NewCounterVec(),
		handlerPanics:   metric.HTTPHandlerPanics.NewCounter(),
	}
	if reg != nil {
		reg.MustRegister(m.reloadSuccess, m.reloadTimestamp, m.transitions, m.handlerPanics)
	}
	return m
}
