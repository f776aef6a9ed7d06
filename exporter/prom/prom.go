// Package prom exposes lifecycle events as the Prometheus metrics of DESIGN §4. It
// observes live transitions only: events replayed after a restart, history found on the
// first poll (backfill) and late readies are not observations. The gauges are computed at
// scrape time from the tracker's state, so they are right from the first scrape after a
// restart.
package prom

import (
	"iter"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/exporter/labels"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// Metrics are the lifecycle metrics.
type Metrics struct {
	provisioning *prometheus.HistogramVec
	termination  *prometheus.HistogramVec
	attempts     *prometheus.CounterVec
	failures     *prometheus.CounterVec
	events       *prometheus.CounterVec
	deployments  *prometheus.CounterVec
	states       iter.Seq2[tracker.Phase, string] // every environment's phase and type
	labels       *labels.Bound                    // folds type, reason and status (nil: none)
	envsDesc     *prometheus.Desc
	inProgDesc   *prometheus.Desc
	stuckDesc    *prometheus.Desc
	stuck        atomic.Pointer[iter.Seq[string]] // the type of each stuck termination (CountStuck)
}

// New registers the lifecycle metrics under namespace (metrics.namespace). Their names,
// help, types, labels, buckets and exemplar label come from model/metric, the one place
// the dashboards, alert rules and handbook are generated from too. It panics on a
// namespace that is not a metric name prefix (config validates metrics.namespace).
func New(namespace string, native bool, states iter.Seq2[tracker.Phase, string], reg prometheus.Registerer) *Metrics {
	return NewBounded(namespace, native, states, reg, nil)
}

// NewBounded is New with the label values from input bounded by b (issue 10): the
// daemon's metrics, whose labels come from pushes and Argo CD labels.
func NewBounded(namespace string, native bool, states iter.Seq2[tracker.Phase, string], reg prometheus.Registerer, b *labels.Bound) *Metrics {
	return NewWithThresholds(namespace, native, states, reg, b, nil)
}

// NewWithThresholds is NewBounded with each SLO latency threshold (seconds) also a
// classic bucket boundary of the provisioning histogram, so that the share of attempts
// ready within it is exact (config SLOs.LatencyThresholds).
func NewWithThresholds(namespace string, native bool, states iter.Seq2[tracker.Phase, string], reg prometheus.Registerer, b *labels.Bound, thresholds []float64) *Metrics {
	def := func(l metric.Lifecycle) metric.Def {
		d := l.In(namespace)
		d.NativeHistogram = native && d.NativeHistogram // metrics.native_histograms
		return d
	}
	prov := def(metric.ProvisioningDuration)
	prov.Buckets = metric.WithBoundaries(prov.Buckets, thresholds)
	m := &Metrics{
		provisioning: prov.NewHistogramVec(reg),
		termination:  def(metric.TerminationDuration).NewHistogramVec(reg),
		attempts:     def(metric.ProvisioningTotal).NewCounterVec(reg),
		failures:     def(metric.ProvisioningFailures).NewCounterVec(reg),
		events:       def(metric.LifecycleEvents).NewCounterVec(reg),
		deployments:  def(metric.Deployments).NewCounterVec(reg),
		states:       states,
		labels:       b,
		envsDesc:     def(metric.Environments).NewDesc(),
		inProgDesc:   def(metric.ProvisioningInProgress).NewDesc(),
		stuckDesc:    def(metric.TerminationsStuck).NewDesc(),
	}
	reg.MustRegister(gauges{m})
	for _, e := range event.Names {
		m.events.WithLabelValues(string(e))
	}
	if states != nil {
		types := map[string]bool{}
		for _, typ := range states {
			types[b.TypeLabel(typ)] = true
		}
		for typ := range types {
			m.ensureType(typ)
		}
	}
	return m
}

// ensureType creates a type's attempt counters and duration histograms at zero. A series
// that is born at 1 hides its first increment from rate() and increase() (there is no
// earlier sample to compare with), so the alerts and panels would miss the first
// provisioning of every type; created at zero when the type is first seen (at start-up
// from the tracker's state, then at its first event, usually minutes before the attempt
// ends), Prometheus scrapes the 0 first.
func (m *Metrics) ensureType(typ string) {
	m.provisioning.WithLabelValues(typ)
	m.termination.WithLabelValues(typ)
	m.attempts.WithLabelValues("success", typ)
	m.attempts.WithLabelValues("failed", typ)
	// The platform's success SLI divides platform failures by attempts: its burn-rate
	// alerts must see the first failure of each reason and class too.
	for _, r := range event.Reasons {
		for _, c := range event.FailureClasses {
			m.failures.WithLabelValues(r, typ, c)
		}
	}
}

// CountStuck makes the stuck-terminations gauge count the environments stuck yields the
// type of (tracker.StuckTypes): those terminating longer than readiness.termination_timeout.
func (m *Metrics) CountStuck(stuck iter.Seq[string]) { m.stuck.Store(&stuck) }

// Observe records live transitions (events just appended by this process).
func (m *Metrics) Observe(evs []event.Event) {
	for _, e := range evs {
		if e.Backfill() {
			continue // history (first sight of an old environment, envtrack import): no live counter moves
		}
		if e.IsMarker() {
			m.deployments.WithLabelValues(m.labels.Status(e.Marker().Status)).Inc()
			continue
		}
		if !e.IsLifecycle() {
			continue // a window not observed: no lifecycle metric counts it
		}
		m.events.WithLabelValues(string(e.Name)).Inc()
		typ := m.labels.Type(e.Type)
		m.ensureType(typ)
		switch e.Name {
		case event.Ready:
			d, ok := e.Meta(event.MetaProvisioningDuration).(float64)
			if e.Late() || !ok || d < 0 {
				continue // a late ready is neither success nor observation; a baseline is no attempt
			}
			m.attempts.WithLabelValues("success", typ).Inc()
			observe(m.provisioning.WithLabelValues(typ), d, e.EnvironmentID)
		case event.ProvisioningFailed:
			m.attempts.WithLabelValues("failed", typ).Inc()
			// The class is one of event.FailureClasses (a bounded label).
			m.failures.WithLabelValues(m.labels.Reason(e.Reason()), typ, e.FailureClass()).Inc()
		case event.Terminated:
			if d, ok := e.Meta(event.MetaTerminationDuration).(float64); ok && d >= 0 {
				observe(m.termination.WithLabelValues(typ), d, e.EnvironmentID)
			}
		case event.Deployed:
			m.deployments.WithLabelValues("success").Inc()
		}
	}
}

func observe(o prometheus.Observer, v float64, envID string) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok {
		eo.ObserveWithExemplar(v, prometheus.Labels{metric.ExemplarLabel: envID})
		return
	}
	o.Observe(v)
}

// gauges computes the phase gauges from the tracker's state at each scrape.
type gauges struct{ m *Metrics }

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.m.envsDesc
	ch <- g.m.inProgDesc
	ch <- g.m.stuckDesc
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	type key struct{ phase, typ string }
	counts := map[key]int{}
	inProg := map[string]int{}
	for phase, typ := range g.m.states {
		typ := g.m.labels.TypeLabel(typ)
		if _, seen := inProg[typ]; !seen {
			// Every phase of a known type is a series, 0 included, so panels and alerts
			// see zeros rather than gaps.
			inProg[typ] = 0
			for _, p := range tracker.Phases {
				counts[key{string(p), typ}] += 0
			}
		}
		counts[key{string(phase), typ}]++
		if phase == tracker.PhaseProvisioning {
			inProg[typ]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(g.m.envsDesc, prometheus.GaugeValue, float64(n), k.phase, k.typ)
	}
	stuck := map[string]int{}
	for t := range inProg {
		stuck[t] = 0 // every known type, so that the alert sees a 0 before a 1
	}
	if seq := g.m.stuck.Load(); seq != nil {
		for typ := range *seq {
			stuck[g.m.labels.TypeLabel(typ)]++
		}
	}
	for t, n := range inProg {
		ch <- prometheus.MustNewConstMetric(g.m.inProgDesc, prometheus.GaugeValue, float64(n), t)
	}
	for t, n := range stuck {
		ch <- prometheus.MustNewConstMetric(g.m.stuckDesc, prometheus.GaugeValue, float64(n), t)
	}
}
