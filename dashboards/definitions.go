// Package dashboards is the generator side of the one set of definitions (DESIGN §7, the
// metrics factory of 002): to every metric defined in model/metric (name, help, type,
// labels, buckets: what the collectors are built from) it adds the panels that show it,
// the alerts on it with their runbook text, and the recording rules. From these come the
// Grafana dashboards (dashboards/*.json), the Prometheus rules and their promtool tests
// (deploy/prometheus/) and the operations handbook (docs/operations.md, as in 003).
// `envtrack generate` writes the files; `go test ./dashboards -update` rewrites the
// committed copies, and the same test fails when they drift from what generate writes.
// Every metric name comes from model/metric (a test holds no literal name here).
//
// Build a Set with New(DefaultOptions()) (or options changed from the defaults), then ask
// it for Rules, RuleTests, Dashboards, Handbook or all Files at once. Everything a Set
// renders is deterministic: sorted, no timestamps.
package dashboards

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/common/model"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// Type is a Prometheus metric type.
type Type = metric.Type

// Metric types.
const (
	Counter   = metric.Counter
	Gauge     = metric.Gauge
	Histogram = metric.Histogram
)

// SourcePrometheus is the Source of a metric recorded by Prometheus itself (up); the
// others name the package that registers them (metric.Def.Source).
const SourcePrometheus = "Prometheus"

// Metric is one metric's definition with everything that is derived from it.
type Metric struct {
	// Def is the metric's definition in model/metric, which its collector is built from:
	// the full exposed name (with metrics.namespace for the lifecycle metrics), help,
	// type, labels, buckets, native-histogram settings, exemplar label and the package
	// that registers it (or SourcePrometheus).
	metric.Def
	// ID is the stable key of the metric: the name without the namespace for the
	// lifecycle metrics (metric.Lifecycle.ID), the full name for the others.
	ID string
	// Panels show the metric; Alerts fire on it; Records are the recording rules
	// computed from it.
	Panels  []Panel
	Alerts  []Alert
	Records []Record
}

// Series names the metric's series as PromQL selects them: the name, plus _bucket,
// _sum and _count for a histogram.
func (m Metric) Series() []string {
	if m.Type != Histogram {
		return []string{m.Name}
	}
	return []string{m.Name, m.Name + "_bucket", m.Name + "_count", m.Name + "_sum"}
}

// Record is a Prometheus recording rule.
type Record struct {
	Name string
	Expr string
	Help string // one line for the handbook
}

// Severities of the alerts.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// Alert is a Prometheus alerting rule with its handbook entry and its promtool test
// cases.
type Alert struct {
	Name     string
	Group    string // rule group: GroupProvisioning or GroupHealth
	Expr     string
	For      time.Duration
	Severity string
	// Threshold says in words when it fires ("p95 over 1h ≥ 10m, target 5m").
	Threshold string
	// Summary and Description are Prometheus templates ($labels, $value).
	Summary     string
	Description string
	// Meaning (markdown) says what it means; Steps are the first steps, in order.
	Meaning string
	Steps   []string
	// Cases are the promtool test cases: at least one firing and one not.
	Cases []Case
}

// Rule groups.
const (
	GroupRecording    = "envtrack-provisioning.recording"
	GroupProvisioning = "envtrack-provisioning"
	GroupHealth       = "envtrack-health"
)

// Case is one promtool alert test: input series, and whether the alert fires at the
// end with which labels (besides alertname and severity) and $value.
type Case struct {
	Name   string
	Series []InputSeries
	Fires  bool
	Labels map[string]string
	Value  float64
}

// InputSeries is one promtool input series: a series selector, its first value and
// its increment per step (rendered in promtool's expanding notation, "0+1x100").
type InputSeries struct {
	Series     string
	Start, Inc float64
}

// Options parameterise everything a Set generates. Start from DefaultOptions.
type Options struct {
	// Namespace is metrics.namespace (default "blueberry").
	Namespace string
	// Job is a regular expression matched against the job label of envtrack's scrape
	// targets in `up` (default "envtrack").
	Job string
	// DeploymentsMeasurement is influxdb.deployments_measurement, the InfluxDB
	// measurement of the deployment markers (001) the overlay panel draws.
	DeploymentsMeasurement string
	// Targets are the service-level targets (config targets).
	Targets Targets
	// SLOs are the objectives per environment type (config slos:), and Types the
	// configured types (config types:): each named type gets its own SLOs, the default
	// covers the rest.
	SLOs  config.SLOs
	Types []string

	// Window is the range over which the provisioning percentiles and the success
	// rate are computed for the alerts; For is how long they must hold.
	Window time.Duration
	For    time.Duration
	// BurnRates are the multi-window, multi-burn-rate pairs of the error-budget alert
	// on the success SLO; BurnRateFor is its `for`.
	BurnRates   []BurnRate
	BurnRateFor time.Duration

	// HealthWindow is the range of the rate()/increase() in the envtrack health alerts;
	// HealthFor how long they must hold; DownFor how long a target must be down.
	HealthWindow time.Duration
	HealthFor    time.Duration
	DownFor      time.Duration
	// ArgoCDPollErrorRatio and ProbeFailureRatio are the fractions (0..1) of failed
	// Argo CD polls and URL probes that alert; SinkLagEvents the lag that alerts when
	// it lasts HealthFor.
	ArgoCDPollErrorRatio float64
	ProbeFailureRatio    float64
	SinkLagEvents        float64

	// Handbook is the URL of the generated handbook; runbook_url annotations point at
	// its anchors.
	Handbook string
}

// BurnRate is one window pair of the multi-window, multi-burn-rate alert: it fires when
// the error ratio over both Long and Short exceeds Factor times the error budget.
type BurnRate struct {
	Long, Short time.Duration
	Factor      float64
}

// Targets are config's `targets` (000's performance targets): Target is the objective,
// Alert the threshold that alerts.
type (
	Targets        = config.TargetsConfig
	DurationTarget = config.DurationTarget
	RateTarget     = config.RateTarget
)

// DefaultTargets are config's defaults: P50 2m (alert 3m), P95 5m (alert 10m), success
// rate 98 % (alert 95 %).
var DefaultTargets = config.DefaultTargetsConfig

// HandbookURL is where the committed handbook is read.
const HandbookURL = "https://github.com/blueberry-idp/envtrack/blob/main/docs/operations.md"

// DefaultOptions are the options the committed files are generated with.
func DefaultOptions() Options {
	return Options{
		Namespace:              config.DefaultMetricsConfig.Namespace,
		Job:                    "envtrack",
		DeploymentsMeasurement: config.DefaultInfluxDBConfig.DeploymentsMeasurement,
		Targets:                DefaultTargets,
		SLOs:                   config.DefaultSLOs,
		Window:                 time.Hour,
		For:                    15 * time.Minute,
		// The SRE workbook's paging pairs: 2 % of a 30-day budget in 1 h, 5 % in 6 h.
		BurnRates: []BurnRate{
			{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4},
			{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6},
		},
		BurnRateFor:          2 * time.Minute,
		HealthWindow:         10 * time.Minute,
		HealthFor:            15 * time.Minute,
		DownFor:              5 * time.Minute,
		ArgoCDPollErrorRatio: 0.5,
		ProbeFailureRatio:    0.5,
		SinkLagEvents:        0,
		Handbook:             HandbookURL,
	}
}

var namespaceRegexp = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate reports options that would generate rules that cannot work.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !namespaceRegexp.MatchString(o.Namespace) {
		bad("namespace %q is not a metric name prefix", o.Namespace)
	}
	if _, err := regexp.Compile("^(?:" + o.Job + ")$"); err != nil || o.Job == "" {
		bad("job %q is not a regular expression", o.Job)
	}
	if o.DeploymentsMeasurement == "" {
		bad("deployments measurement is empty")
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 || d%time.Second != 0 {
			bad("%s %s must be a positive whole number of seconds", name, d)
		}
	}
	notNegative := func(name string, d time.Duration) {
		if d < 0 || d%time.Second != 0 {
			bad("%s %s must be a whole number of seconds, 0 or more", name, d)
		}
	}
	positive("window", o.Window)
	notNegative("for", o.For)
	notNegative("burn-rate for", o.BurnRateFor)
	positive("health window", o.HealthWindow)
	notNegative("health for", o.HealthFor)
	notNegative("down for", o.DownFor)
	lowest, highest := metric.ProvisioningBuckets[0], metric.ProvisioningBuckets[len(metric.ProvisioningBuckets)-1]
	for _, q := range []struct {
		name string
		t    DurationTarget
	}{{"provisioning_p50", o.Targets.ProvisioningP50}, {"provisioning_p95", o.Targets.ProvisioningP95}} {
		a := time.Duration(q.t.Alert).Seconds()
		if a < lowest || a > highest {
			bad("targets.%s.alert %s is outside the histogram's classic buckets (%s to %s): the quantile cannot be told from them",
				q.name, time.Duration(q.t.Alert), seconds(lowest), seconds(highest))
		}
		if q.t.Target <= 0 {
			bad("targets.%s.target must be positive", q.name)
		}
	}
	sr := o.Targets.SuccessRate
	if !(sr.Target > 0 && sr.Target < 100) {
		bad("targets.success_rate.target %v must be above 0 and below 100 (an SLO of 100 %% leaves no error budget)", sr.Target)
	}
	if !(sr.Alert > 0 && sr.Alert <= 100) {
		bad("targets.success_rate.alert %v must be above 0 and at most 100", sr.Alert)
	}
	if len(o.BurnRates) == 0 {
		bad("no burn-rate windows")
	}
	for _, b := range o.BurnRates {
		positive("burn-rate long window", b.Long)
		positive("burn-rate short window", b.Short)
		if b.Short >= b.Long {
			bad("burn-rate short window %s must be shorter than the long window %s", b.Short, b.Long)
		}
		if b.Factor <= 0 || b.Factor*(100-sr.Target)/100 >= 1 {
			bad("burn rate %v with a %v %% SLO needs an error ratio of %v or more, which cannot happen",
				b.Factor, sr.Target, b.Factor*(100-sr.Target)/100)
		}
	}
	for name, r := range map[string]float64{"Argo CD poll error ratio": o.ArgoCDPollErrorRatio, "probe failure ratio": o.ProbeFailureRatio} {
		if !(r >= 0 && r < 1) {
			bad("%s %v must be at least 0 and below 1", name, r)
		}
	}
	if o.SinkLagEvents < 0 {
		bad("sink lag threshold %v must not be negative", o.SinkLagEvents)
	}
	if _, ok := o.SLOs[config.SLODefault]; !ok {
		bad("slos has no %q entry", config.SLODefault)
	}
	if o.Handbook == "" {
		bad("handbook URL is empty")
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// Set is the catalogue for one set of options.
type Set struct {
	opts    Options
	ordered []Metric // in definition order
	metrics []Metric // sorted by name
}

// New validates opts and builds the catalogue.
func New(opts Options) (*Set, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("definitions: %w", err)
	}
	s := &Set{opts: opts}
	s.ordered = s.catalog()
	s.metrics = append([]Metric(nil), s.ordered...)
	sort.Slice(s.metrics, func(i, j int) bool { return s.metrics[i].Name < s.metrics[j].Name })
	return s, nil
}

// Options returns the set's options.
func (s *Set) Options() Options { return s.opts }

// Metrics returns every metric, sorted by name.
func (s *Set) Metrics() []Metric { return append([]Metric(nil), s.metrics...) }

// Metric returns the metric with the given ID (see Metric.ID); it panics when there is
// none, which is a programming error.
func (s *Set) Metric(id string) Metric {
	for _, m := range s.metrics {
		if m.ID == id {
			return m
		}
	}
	panic(fmt.Sprintf("definitions: no metric %q", id))
}

// Alerts returns every alert, by group then in definition order.
func (s *Set) Alerts() []Alert {
	var out []Alert
	for _, g := range []string{GroupProvisioning, GroupHealth} {
		for _, m := range s.ordered {
			for _, a := range m.Alerts {
				if a.Group == g {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// Records returns every recording rule in definition order.
func (s *Set) Records() []Record {
	var out []Record
	for _, m := range s.ordered {
		out = append(out, m.Records...)
	}
	return out
}

// Series returns every series name the metrics and recording rules declare (what a
// query may select), sorted.
func (s *Set) Series() []string {
	var out []string
	for _, m := range s.metrics {
		out = append(out, m.Series()...)
	}
	for _, r := range s.Records() {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// seconds renders a number of seconds as a Prometheus duration ("10m", "1m30s").
func seconds(v float64) string { return dur(time.Duration(v * float64(time.Second))) }

// dur renders a duration the way Prometheus writes it ("1h", "5m", "1m30s").
func dur(d time.Duration) string { return model.Duration(d).String() }
