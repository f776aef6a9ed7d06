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
		reloadSuccess:   metric.ConfigLastReloadSuccessful.NewGauge(reg),
		reloadTimestamp: metric.ConfigLastReloadSuccessTimestamp.NewGauge(reg),
		transitions:     metric.TrackerEvents.NewCounterVec(reg),
		handlerPanics:   metric.HTTPHandlerPanics.NewCounter(reg),
	}
	return m
}
