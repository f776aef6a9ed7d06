// Package prom exposes lifecycle events as the Prometheus metrics of DESIGN §4. It
// observes live transitions only: events replayed after a restart, history found on the
// first poll (backfill) and late readies are not observations. The gauges are computed at
// scrape time from the tracker's state, so they are right from the first scrape after a
// restart.
package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/exporter/event"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// ProvisioningBuckets are the classic buckets of 000: 30s, 1m, 2m, 5m, 10m.
var ProvisioningBuckets = []float64{30, 60, 120, 300, 600}

// TerminationBuckets cover cleanups from seconds to half an hour.
var TerminationBuckets = []float64{10, 30, 60, 120, 300, 600, 1800}

// Metrics are the lifecycle metrics.
type Metrics struct {
	provisioning *prometheus.HistogramVec
	termination  *prometheus.HistogramVec
	attempts     *prometheus.CounterVec
	failures     *prometheus.CounterVec
	events       *prometheus.CounterVec
	deployments  *prometheus.CounterVec
	states       func() []tracker.State
	envsDesc     *prometheus.Desc
	inProgDesc   *prometheus.Desc
}

// New registers the lifecycle metrics under namespace (metrics.namespace).
func New(namespace string, native bool, states func() []tracker.State, reg prometheus.Registerer) *Metrics {
	hist := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		o := prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}
		if native {
			o.NativeHistogramBucketFactor = 1.1
			o.NativeHistogramMaxBucketNumber = 160
			o.NativeHistogramMinResetDuration = 0
		}
		return prometheus.NewHistogramVec(o, []string{"type"})
	}
	m := &Metrics{
		provisioning: hist("environment_provisioning_duration_seconds", "Time from provisioning_started to ready, by environment type.", ProvisioningBuckets),
		termination:  hist("environment_termination_duration_seconds", "Time from termination_started to terminated, by environment type.", TerminationBuckets),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "environment_provisioning_total",
			Help: "Provisioning attempts that ended, by status (success, failed) and type."}, []string{"status", "type"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "environment_provisioning_failures_total",
			Help: "Failed provisioning attempts by reason and type."}, []string{"reason", "type"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "environment_lifecycle_events_total",
			Help: "Lifecycle events recorded, by event."}, []string{"event"}),
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "deployments_total",
			Help: "Deployments: deployment markers pushed by CI and deployed events seen in Argo CD, by status."}, []string{"status"}),
		states: states,
		envsDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "environments"),
			"Tracked environments by current phase and type.", []string{"phase", "type"}, nil),
		inProgDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "environment_provisioning_in_progress"),
			"Environments provisioning now (the current provisioning queue), by type.", []string{"type"}, nil),
	}
	reg.MustRegister(m.provisioning, m.termination, m.attempts, m.failures, m.events, m.deployments, gauges{m})
	for _, e := range event.Names {
		m.events.WithLabelValues(string(e))
	}
	return m
}

// Observe records live transitions (events just appended by this process).
func (m *Metrics) Observe(evs []event.Event) {
	for _, e := range evs {
		if e.IsMarker() {
			status, _ := e.Meta("status").(string)
			m.deployments.WithLabelValues(status).Inc()
			continue
		}
		m.events.WithLabelValues(string(e.Name)).Inc()
		if b, _ := e.Meta("backfill").(bool); b {
			continue
		}
		typ := e.Type
		switch e.Name {
		case event.Ready:
			late, _ := e.Meta("late").(bool)
			d, ok := e.Meta(event.MetaProvisioningDuration).(float64)
			if late || !ok {
				continue // a late ready is neither success nor observation; a baseline is no attempt
			}
			m.attempts.WithLabelValues("success", typ).Inc()
			observe(m.provisioning.WithLabelValues(typ), d, e.EnvironmentID)
		case event.ProvisioningFailed:
			reason, _ := e.Meta("reason").(string)
			m.attempts.WithLabelValues("failed", typ).Inc()
			m.failures.WithLabelValues(reason, typ).Inc()
		case event.Terminated:
			if d, ok := e.Meta(event.MetaTerminationDuration).(float64); ok {
				observe(m.termination.WithLabelValues(typ), d, e.EnvironmentID)
			}
		case event.Deployed:
			m.deployments.WithLabelValues("success").Inc()
		}
	}
}

func observe(o prometheus.Observer, v float64, envID string) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		eo.ObserveWithExemplar(v, prometheus.Labels{"environment_id": envID})
		return
	}
	o.Observe(v)
}

// gauges computes the phase gauges from the tracker's state at each scrape.
type gauges struct{ m *Metrics }

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.m.envsDesc
	ch <- g.m.inProgDesc
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	type key struct{ phase, typ string }
	counts := map[key]int{}
	inProg := map[string]int{}
	for _, s := range g.m.states() {
		if _, seen := inProg[s.Type]; !seen {
			// Every phase of a known type is a series, 0 included, so panels and alerts
			// see zeros rather than gaps.
			inProg[s.Type] = 0
			for _, p := range tracker.Phases {
				counts[key{string(p), s.Type}] += 0
			}
		}
		counts[key{string(s.Phase), s.Type}]++
		if s.Phase == tracker.PhaseProvisioning {
			inProg[s.Type]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(g.m.envsDesc, prometheus.GaugeValue, float64(n), k.phase, k.typ)
	}
	for t, n := range inProg {
		ch <- prometheus.MustNewConstMetric(g.m.inProgDesc, prometheus.GaugeValue, float64(n), t)
	}
}
