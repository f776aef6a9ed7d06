package metric

import "slices"

// SourceLifecycle is the package that registers the lifecycle metrics (Def.Source).
const SourceLifecycle = "exporter/prom"

// Lifecycle is one of the lifecycle metrics of DESIGN §4. They are named under
// metrics.namespace (default blueberry), so a Lifecycle carries its ID, the name without
// the namespace, and In(namespace) is its definition.
type Lifecycle struct {
	// ID is the name without the namespace ("environment_provisioning_duration_seconds").
	ID   string
	Help string
	Type Type
	// Labels are the variable label names, in the order the collector declares them.
	Labels []string
	// Buckets are the classic histogram buckets.
	Buckets []float64
	// NativeHistogram: native-histogram buckets are exposed too when
	// metrics.native_histograms is on.
	NativeHistogram bool
	// Exemplar names the label of the exemplar attached to each observation ("": none).
	Exemplar string
}

// In is the metric's definition under namespace: its full name is namespace_ID.
func (l Lifecycle) In(namespace string) Def {
	return Def{
		Name: namespace + "_" + l.ID, Help: l.Help, Type: l.Type, Labels: l.Labels, Buckets: l.Buckets,
		NativeHistogram: l.NativeHistogram, Exemplar: l.Exemplar, Source: SourceLifecycle,
	}
}

// ProvisioningBuckets are the classic buckets of 000: 30s, 1m, 2m, 5m, 10m.
var ProvisioningBuckets = []float64{30, 60, 120, 300, 600}

// WithBoundaries returns buckets with every boundary of extra added, sorted, without
// repeats (buckets is not changed).
func WithBoundaries(buckets, extra []float64) []float64 {
	out := append(append([]float64(nil), buckets...), extra...)
	slices.Sort(out)
	return slices.Compact(out)
}

// TerminationBuckets cover cleanups from seconds to half an hour.
var TerminationBuckets = []float64{10, 30, 60, 120, 300, 600, 1800}

// Native-histogram settings of the lifecycle histograms (DESIGN §4).
const (
	NativeHistogramBucketFactor    = 1.1
	NativeHistogramMaxBucketNumber = 160
)

// ExemplarLabel is the label of the exemplar on each duration observation: which
// environment it was (an exemplar, not a label, so no series takes an environment id).
const ExemplarLabel = "environment_id"

// The lifecycle metrics of DESIGN §4 (contract: their names, types and labels).
var (
	ProvisioningDuration = Lifecycle{ID: "environment_provisioning_duration_seconds", Type: Histogram, Labels: []string{"type"},
		Help:    "Time from provisioning_started to ready, by environment type.",
		Buckets: ProvisioningBuckets, NativeHistogram: true, Exemplar: ExemplarLabel}
	ProvisioningTotal = Lifecycle{ID: "environment_provisioning_total", Type: Counter, Labels: []string{"status", "type"},
		Help: "Provisioning attempts that ended, by status (success, failed) and type."}
	ProvisioningFailures = Lifecycle{ID: "environment_provisioning_failures_total", Type: Counter, Labels: []string{"reason", "type", "class"},
		Help: "Failed provisioning attempts by reason, type and class (user: what was asked cannot work; platform: it could not be provided)."}
	ProvisioningInProgress = Lifecycle{ID: "environment_provisioning_in_progress", Type: Gauge, Labels: []string{"type"},
		Help: "Environments provisioning now (the current provisioning queue), by type."}
	Environments = Lifecycle{ID: "environments", Type: Gauge, Labels: []string{"phase", "type"},
		Help: "Tracked environments by current phase and type."}
	TerminationDuration = Lifecycle{ID: "environment_termination_duration_seconds", Type: Histogram, Labels: []string{"type"},
		Help:    "Time from termination_started to terminated, by environment type.",
		Buckets: TerminationBuckets, NativeHistogram: true, Exemplar: ExemplarLabel}
	TerminationsStuck = Lifecycle{ID: "environment_terminations_stuck", Type: Gauge, Labels: []string{"type"},
		Help: "Environments terminating for longer than readiness.termination_timeout (finalizers that never finish), by type."}
	LifecycleEvents = Lifecycle{ID: "environment_lifecycle_events_total", Type: Counter, Labels: []string{"event"},
		Help: "Lifecycle events recorded, by event."}
	Deployments = Lifecycle{ID: "deployments_total", Type: Counter, Labels: []string{"status"},
		Help: "Deployments: deployment markers pushed by CI and deployed events seen in Argo CD, by status."}
)

// LifecycleMetrics are every lifecycle metric, in the order the handbook tells them.
var LifecycleMetrics = []Lifecycle{
	ProvisioningDuration, ProvisioningTotal, ProvisioningFailures, ProvisioningInProgress, Environments,
	TerminationDuration, TerminationsStuck, LifecycleEvents, Deployments,
}
