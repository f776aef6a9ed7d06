package dashboards

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// The SLOs per environment type (config slos:) become rules in Sloth's shape
// (github.com/slok/sloth, its generated prometheus/v1 rules): per SLO, the error ratio
// of each alert window as slo:sli_error:ratio_rate<window>, the metadata
// (slo:objective:ratio, slo:error_budget:ratio, slo:period_error_budget_remaining:ratio,
// ...) and a page and a ticket alert of the SRE workbook's multi-window,
// multi-burn-rate kind, all labelled sloth_id, sloth_service and sloth_slo: a Sloth SLO
// dashboard reads them unchanged.

// The SLIs of each type.
const (
	SLILatency = "provisioning-latency"
	SLISuccess = "provisioning-success"
)

// SLO is one generated SLO: one SLI of one slos: entry.
type SLO struct {
	// Key is the environment type, or config.SLODefault for every type not named.
	Key string
	// SLI is SLILatency or SLISuccess.
	SLI string
	// Objective is the percent of attempts that must be good; Window the period it is
	// judged over; Threshold the latency SLI's (ready within it is good).
	Objective float64
	Window    time.Duration
	Threshold time.Duration
	// Selector selects the SLO's types in the lifecycle metrics: `type="preview"`, or
	// for the default `type!~"preview|staging"` (empty when no type is named).
	Selector string
}

// Service is the SLO's sloth_service: "envtrack-<type>".
func (o SLO) Service() string { return "envtrack-" + o.Key }

// ID is its sloth_id, service and SLI.
func (o SLO) ID() string { return o.Service() + "-" + o.SLI }

// ErrorBudget is the fraction of attempts that may miss it.
func (o SLO) ErrorBudget() float64 { return config.ErrorBudget(o.Objective) }

func (o SLO) ids() string {
	return fmt.Sprintf(`sloth_id=%q, sloth_service=%q, sloth_slo=%q`, o.ID(), o.Service(), o.SLI)
}

func (o SLO) labels(window string) map[string]string {
	l := map[string]string{"sloth_id": o.ID(), "sloth_service": o.Service(), "sloth_slo": o.SLI}
	if window != "" {
		l["sloth_window"] = window
	}
	return l
}

// SLOs returns the generated SLOs: each type named in slos: or types: (by the type's
// objectives), then the default over every other type; latency before success.
func (s *Set) SLOs() []SLO {
	o := s.opts
	named := append(o.SLOs.Types(), o.Types...)
	sort.Strings(named)
	named = slices.Compact(named)
	var out []SLO
	add := func(key, selector string) {
		obj := o.SLOs.For(key)
		w := time.Duration(obj.Window)
		out = append(out,
			SLO{Key: key, SLI: SLILatency, Objective: obj.Latency.Objective, Threshold: time.Duration(obj.Latency.Threshold), Window: w, Selector: selector},
			SLO{Key: key, SLI: SLISuccess, Objective: obj.Success.Objective, Window: w, Selector: selector})
	}
	for _, t := range named {
		add(t, fmt.Sprintf("type=%q", t))
	}
	def := ""
	if len(named) > 0 {
		def = fmt.Sprintf("type!~%q", strings.Join(named, "|"))
	}
	add(config.SLODefault, def)
	return out
}

// sloWindows are the SLI windows the alerts read (config.BurnWindows), shortest first.
func sloWindows() []time.Duration {
	var out []time.Duration
	for _, b := range config.BurnWindows {
		out = append(out, b.Short, b.Long)
	}
	sortDurations(out)
	return slices.Compact(out)
}

// selector joins matchers into a selector body.
func selector(ms ...string) string {
	var keep []string
	for _, m := range ms {
		if m != "" {
			keep = append(keep, m)
		}
	}
	return "{" + strings.Join(keep, ", ") + "}"
}

// leMatcher matches a classic bucket boundary however the scrape wrote it: Prometheus 3
// normalises le="300" to le="300.0".
func leMatcher(th time.Duration) string {
	v := num(th.Seconds())
	return fmt.Sprintf(`le=~"%s|%s\\.0"`, v, v)
}

// ErrorRatio is the SLI's error ratio over w, in Sloth's form (errors / (total > 0)).
// The success SLI's errors are the platform's failures only: a user's failure is a
// success of the platform (002). The latency SLI's are the ready attempts above the
// threshold, the histogram's count less its bucket at the threshold.
func (s *Set) ErrorRatio(o SLO, w time.Duration) string {
	win := dur(w)
	switch o.SLI {
	case SLILatency:
		h := s.def(metric.ProvisioningDuration)
		count := fmt.Sprintf("sum(rate(%s_count%s[%s]))", h.Name, selector(o.Selector), win)
		within := fmt.Sprintf("sum(rate(%s%s[%s]))", h.Bucket(), selector(leMatcher(o.Threshold), o.Selector), win)
		return fmt.Sprintf("(%s - %s)\n/\n(%s > 0)", count, within, count)
	default:
		errs := fmt.Sprintf("sum(rate(%s%s[%s]))", s.def(metric.ProvisioningFailures).Name, selector(fmt.Sprintf("class=%q", event.ClassPlatform), o.Selector), win)
		total := fmt.Sprintf("sum(rate(%s%s[%s]))", s.def(metric.ProvisioningTotal).Name, selector(o.Selector), win)
		return fmt.Sprintf("(%s)\n/\n(%s > 0)", errs, total)
	}
}

const (
	sloErrorRatio = "slo:sli_error:ratio_rate"
	// SLOBudgetRemaining is the record of the share of an SLO's error budget left over
	// its window (1 untouched, 0 spent).
	SLOBudgetRemaining = "slo:period_error_budget_remaining:ratio"
	// SLOCurrentBurn is the record of an SLO's current burn rate (over 5m).
	SLOCurrentBurn = "slo:current_burn_rate:ratio"
)

// sloPanels are the provisioning dashboard's SLO row: each type's error budget left
// and burn rate, from the SLO records (one series per SLO).
func (s *Set) sloPanels() []Panel {
	sel := `{sloth_service=~"envtrack-.+"}`
	return []Panel{
		{
			Dashboard: DashboardProvisioning, Row: RowSLOs, Slot: 10, Kind: Stat, Width: 8, Height: 8,
			Title:       "Error budget left by type",
			Description: "The share of each SLO's error budget not yet spent over its window (slos:, one SLO per type and SLI; default covers the types not named): 100 % untouched, 0 spent, negative overspent.",
			Unit:        "percentunit",
			Queries:     []Query{{Expr: SLOBudgetRemaining + sel, Legend: "{{sloth_service}} {{sloth_slo}}", Instant: true}},
			Thresholds:  []Step{{Color: "red"}, {Value: ptr(0), Color: "orange"}, {Value: ptr(0.25), Color: "green"}},
		},
		{
			Dashboard: DashboardProvisioning, Row: RowSLOs, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
			Title:       "Burn rate by type",
			Description: "How fast each SLO spends its error budget (the error ratio over 5m divided by the budget): 1 spends it exactly over the window; the page alert fires from 14.4 (30d) on both 1h and 5m, or 6 on both 6h and 30m.",
			Unit:        "none", Min: ptr(0),
			Queries:        []Query{{Expr: SLOCurrentBurn + sel, Legend: "{{sloth_service}} {{sloth_slo}}"}},
			Thresholds:     []Step{{Color: "green"}, {Value: ptr(1), Color: "orange"}, {Value: ptr(6), Color: "red"}},
			ThresholdStyle: "dashed",
		},
	}
}

// SLORecords are the names of the SLO recording rules (Sloth's), sorted.
func (s *Set) SLORecords() []string {
	var out []string
	for _, g := range s.sloRuleGroups() {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// sloRuleGroups are the rules of every SLO, one group each: SLI recordings, metadata,
// alerts, in this order. Sloth writes three groups; one keeps them evaluated in order
// (the metadata and alerts read the SLI records of the same evaluation), whatever the
// evaluation interval.
func (s *Set) sloRuleGroups() []RuleGroup {
	var out []RuleGroup
	for _, o := range s.SLOs() {
		sli := RuleGroup{Name: "envtrack-slo-" + o.ID()}
		for _, w := range sloWindows() {
			sli.Rules = append(sli.Rules, Rule{Record: sloErrorRatio + dur(w), Expr: s.ErrorRatio(o, w), Labels: o.labels(dur(w))})
		}
		period := dur(o.Window)
		sli.Rules = append(sli.Rules, Rule{Record: sloErrorRatio + period, Labels: o.labels(period), Expr: fmt.Sprintf(
			"sum_over_time(%s5m{%s}[%s])\n/ ignoring (sloth_window)\ncount_over_time(%s5m{%s}[%s])", sloErrorRatio, o.ids(), period, sloErrorRatio, o.ids(), period)})
		meta := &sli
		rec := func(name, expr string) {
			meta.Rules = append(meta.Rules, Rule{Record: name, Expr: expr, Labels: o.labels("")})
		}
		rec("slo:objective:ratio", fmt.Sprintf("vector(%s)", num(o.Objective/100)))
		rec("slo:error_budget:ratio", fmt.Sprintf("vector(1-%s)", num(o.Objective/100)))
		rec("slo:time_period:days", fmt.Sprintf("vector(%s)", num(o.Window.Hours()/24)))
		burn := func(ratio string) string {
			return fmt.Sprintf("%s{%s}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{%s}", ratio, o.ids(), o.ids())
		}
		rec(SLOCurrentBurn, burn(sloErrorRatio+"5m"))
		rec("slo:period_burn_rate:ratio", burn(sloErrorRatio+period))
		rec(SLOBudgetRemaining, fmt.Sprintf("1 - slo:period_burn_rate:ratio{%s}", o.ids()))
		info := o.labels("")
		info["sloth_mode"], info["sloth_spec"], info["sloth_version"], info["sloth_objective"] = "envtrack-generate", "prometheus/v1", "envtrack", num(o.Objective)
		meta.Rules = append(meta.Rules, Rule{Record: "sloth_slo_info", Expr: "vector(1)", Labels: info})
		for _, a := range s.sloAlerts(o) {
			labels := map[string]string{"severity": a.Severity, "sloth_severity": sloSeverity(a.Severity)}
			sli.Rules = append(sli.Rules, Rule{Alert: a.Name, Expr: a.Expr, Labels: labels, Annotations: s.annotations(a)})
		}
		out = append(out, sli)
	}
	return out
}

func sloSeverity(severity string) string {
	if severity == SeverityCritical {
		return config.SeverityPage
	}
	return config.SeverityTicket
}

// burnExpr is Sloth's alert expression over the window pairs of one severity.
func (o SLO) burnExpr(severity string) string {
	var pairs []string
	for _, b := range config.BurnWindows {
		if b.Severity != severity {
			continue
		}
		threshold := fmt.Sprintf("(%s * %s)", num(b.Factor(o.Window)), num(o.ErrorBudget()))
		pairs = append(pairs, fmt.Sprintf("(\n    max(%s%s{%s} > %s) without (sloth_window)\n    and\n    max(%s%s{%s} > %s) without (sloth_window)\n)",
			sloErrorRatio, dur(b.Short), o.ids(), threshold, sloErrorRatio, dur(b.Long), o.ids(), threshold))
	}
	return strings.Join(pairs, "\nor\n")
}

// sloAlertName is the alert of an SLI at a severity.
func sloAlertName(sli, severity string) string {
	name := "EnvironmentProvisioningSuccessBudgetBurn"
	if sli == SLILatency {
		name = "EnvironmentProvisioningLatencyBudgetBurn"
	}
	if severity == config.SeverityPage {
		return name
	}
	return name + "Slow"
}

// sloAlerts are the page and the ticket alert of one SLO, with their handbook text.
func (s *Set) sloAlerts(o SLO) []Alert {
	var out []Alert
	for _, sev := range []string{config.SeverityPage, config.SeverityTicket} {
		var words []string
		for _, b := range config.BurnWindows {
			if b.Severity == sev {
				words = append(words, fmt.Sprintf("%s x over %s and %s (%s %% of the budget in %s)", num(b.Factor(o.Window)), dur(b.Long), dur(b.Short), num(b.BudgetPercent), dur(b.Long)))
			}
		}
		what, bad := "provisioning success", "the platform failed"
		if o.SLI == SLILatency {
			what, bad = "provisioning latency", "were not ready within the threshold"
		}
		a := Alert{
			Name: sloAlertName(o.SLI, sev), Group: "envtrack-slo-" + o.ID(), Expr: o.burnExpr(sev),
			Severity:  map[string]string{config.SeverityPage: SeverityCritical, config.SeverityTicket: SeverityWarning}[sev],
			Threshold: fmt.Sprintf("%s: the error ratio burns the SLO's budget faster than %s", sev, strings.Join(words, ", or ")),
			Summary:   fmt.Sprintf("{{ $labels.sloth_service }} %s: the SLO's error budget burns too fast (%s).", what, sev),
			Description: fmt.Sprintf("{{ $labels.sloth_service }} {{ $labels.sloth_slo }}: too many recent attempts %s (%s); at this rate the SLO's error budget of %s %% is gone before its %s window ends.",
				bad, strings.Join(words, ", or "), num(100-o.Objective), dur(o.Window)),
		}
		out = append(out, a)
	}
	return out
}

// sloAlert is o's alert of severity sev.
func (s *Set) sloAlert(o SLO, sev string) Alert {
	for _, a := range s.sloAlerts(o) {
		if a.Name == sloAlertName(o.SLI, sev) {
			return a
		}
	}
	panic("definitions: no SLO alert " + sev)
}

// SLOAlerts are the SLO alerts with their handbook text, one per name, as the first SLO
// of each SLI generates them.
func (s *Set) SLOAlerts() []Alert {
	var out []Alert
	seen := map[string]bool{}
	for _, o := range s.SLOs() {
		for _, a := range s.sloAlerts(o) {
			if seen[a.Name] {
				continue
			}
			seen[a.Name] = true
			a.Meaning, a.Steps = sloRunbook(o.SLI, a.Severity)
			out = append(out, a)
		}
	}
	return out
}

func sloRunbook(sli, severity string) (string, []string) {
	speed := "fast enough to spend the whole budget within days (2 % of it in an hour, or 5 % in six hours): treat it as an outage"
	if severity == SeverityWarning {
		speed = "steadily (10 % of it in a day, or in three days): the budget will not last the window, a problem to fix this week"
	}
	if sli == SLILatency {
		return "The type's latency SLO (slos.<type>.latency) says which share of the attempts that became ready must be ready within its threshold. This burn-rate alert (Sloth's shape, the SRE workbook's windows) fires when the attempts above the threshold spend the error budget " + speed + ". Late attempts are counted as they become ready; failed ones belong to the success SLO.",
			[]string{
				"Open the provisioning dashboard's SLO row for the type in `sloth_service` (budget left, burn rate), then *Provisioning duration percentiles*.",
				"Correlate with the deployments lane: a platform change (base images, sync waves, node pools) that started it is the first to roll back.",
				"Look at the slowest environments' timelines (`envtrack insights --type <type>`, the exemplars of the duration histogram): queueing (queue_duration_seconds) points at capacity, a slow sync at the chart.",
			}
	}
	return "The type's success SLO (slos.<type>.success) says which share of the attempts that ended the platform may not fail. A user's failure (failures:, the class label) is a success of the platform and never burns this budget; only the platform's failures do. This burn-rate alert (Sloth's shape, the SRE workbook's windows) fires when they spend the budget " + speed + ".",
		[]string{
			"Open the provisioning dashboard's SLO row for the type in `sloth_service`, and *Failed provisions by reason and class*: which reason dominates among the platform's failures.",
			"Read the failure_matcher and messages of recent failures (`/environments/{id}`, the timeline): `unmatched` failures are the platform's by default; when they are the user's, add a failures: matcher.",
			"For timeouts and unreachable URLs check cluster capacity, the Argo CD repo-server and controller; roll back the platform change that started it.",
		}
}

// SLORuleTests are the promtool tests of each SLO alert: it fires at its burn rate and
// stays silent just below it, for each of its window pairs; and user failures never burn
// the success SLO's budget. Rules are evaluated every sloEvalInterval (each alert is
// checked at an evaluation); input series are a minute apart for the page alerts (a 5m
// short window), 15m apart for the ticket alerts (a 2h one): windows of days evaluated
// every minute would take minutes of promtool.
func (s *Set) SLORuleTests() RuleTestFile {
	return RuleTestFile{RuleFiles: []string{"envtrack.rules.yml"}, EvaluationInterval: dur(sloEvalInterval), Tests: s.sloTests()}
}

const sloEvalInterval = time.Hour

func (s *Set) sloTests() []RuleTest {
	var out []RuleTest
	const attempts = 100.0 // per minute, so ratios are exact in the counters
	for _, o := range s.SLOs() {
		if o.Key != config.SLODefault {
			continue // the named types' rules differ from the default's only in their selector
		}
		budget := o.ErrorBudget()
		for _, sev := range []string{config.SeverityPage, config.SeverityTicket} {
			step := time.Minute
			if sev == config.SeverityTicket {
				step = 15 * time.Minute
			}
			name := sloAlertName(o.SLI, sev)
			severity := map[string]string{config.SeverityPage: SeverityCritical, config.SeverityTicket: SeverityWarning}[sev]
			for _, b := range config.BurnWindows {
				if b.Severity != sev {
					continue
				}
				factor := b.Factor(o.Window)
				// The error ratio holds over the pair's long window (and a little more), after a
				// quiet time that keeps the other pair of the severity out of it.
				burst := b.Long + step
				var total time.Duration
				for _, p := range config.BurnWindows {
					if p.Severity == sev {
						total = max(total, p.Long+step)
					}
				}
				if burst < total {
					total += burst // quiet, then the burst
				} else {
					total = burst
				}
				total = roundUp(total, sloEvalInterval) // checked at an evaluation; the quiet part grows
				for _, c := range []struct {
					what  string
					ratio float64
					fires bool
				}{{"fires at", 1.05, true}, {"stays silent just below", 0.95, false}} {
					ratio := factor * budget * c.ratio
					t := RuleTest{Name: fmt.Sprintf("%s %s: %s %s x over %s", name, o.Service(), c.what, num(factor), dur(b.Long)), Interval: dur(step),
						InputSeries: s.sloSeries(o, attempts, ratio, 0, total, burst, step)}
					exp := []ExpAlert{}
					if c.fires {
						labels := o.labels("")
						labels["severity"], labels["sloth_severity"] = severity, sev
						exp = []ExpAlert{{ExpLabels: labels, ExpAnnotations: s.expandAnnotations(s.sloAlert(o, sev), labels, 0)}}
					}
					t.AlertRuleTests = []AlertRuleTest{{EvalTime: dur(total), AlertName: name, ExpAlerts: exp}}
					out = append(out, t)
				}
			}
			if o.SLI == SLISuccess {
				// Every attempt failing, all by the user's fault: no budget burns.
				var long time.Duration
				for _, p := range config.BurnWindows {
					if p.Severity == sev {
						long = max(long, p.Long+step)
					}
				}
				long = roundUp(long, sloEvalInterval)
				out = append(out, RuleTest{Name: fmt.Sprintf("%s %s: user failures never burn the platform's budget", name, o.Service()), Interval: dur(step),
					InputSeries:    s.sloSeries(o, attempts, 0, 1, long, long, step),
					AlertRuleTests: []AlertRuleTest{{EvalTime: dur(long), AlertName: name, ExpAlerts: []ExpAlert{}}}})
			}
		}
	}
	return out
}

// sloSeries are the input series of an SLO test of length total: attempts per minute,
// and over the last burst the ratio of them bad (platform failures, or ready beyond the
// latency threshold) and userRatio failed by the user's fault.
func (s *Set) sloSeries(o SLO, attempts, ratio, userRatio float64, total, burst, step time.Duration) []SeriesValues {
	n := int(total / step)
	quiet := n - int(burst/step)
	typ := o.Key
	if o.Key == config.SLODefault {
		typ = "other-type"
	}
	// values: flat at 0 for the quiet steps, then rising by inc per step.
	values := func(inc float64) string {
		if inc == 0 {
			return fmt.Sprintf("0x%d", n)
		}
		if quiet == 0 {
			return fmt.Sprintf("0+%sx%d", num(inc), n)
		}
		return fmt.Sprintf("0x%d 0+%sx%d", quiet-1, num(inc), n-quiet)
	}
	perStep := attempts * step.Minutes()
	ls := func(extra ...string) string {
		return selector(append([]string{fmt.Sprintf("type=%q", typ)}, extra...)...)
	}
	if o.SLI == SLILatency {
		h := s.def(metric.ProvisioningDuration)
		le := num(o.Threshold.Seconds())
		// Every attempt is ready; before the burst all within the threshold.
		return []SeriesValues{
			{Series: h.Name + "_count" + ls(), Values: fmt.Sprintf("0+%sx%d", num(perStep), n)},
			{Series: h.Bucket() + ls(fmt.Sprintf("le=%q", le)), Values: withinValues(perStep, ratio, n, quiet)},
		}
	}
	fail := func(class string, r float64) SeriesValues {
		return SeriesValues{Series: s.def(metric.ProvisioningFailures).Name + ls(fmt.Sprintf("class=%q", class), fmt.Sprintf("reason=%q", event.ReasonTimeout)), Values: values(perStep * r)}
	}
	attemptsTotal := s.def(metric.ProvisioningTotal).Name
	return []SeriesValues{
		{Series: attemptsTotal + ls(`status="failed"`), Values: values(perStep * (ratio + userRatio))},
		{Series: attemptsTotal + ls(`status="success"`), Values: withinValues(perStep, ratio+userRatio, n, quiet)},
		fail(event.ClassPlatform, ratio),
		fail(event.ClassUser, userRatio),
	}
}

// withinValues is the bucket at the threshold: every attempt within it before the
// burst, a share 1-ratio of them during it.
func withinValues(perStep, ratio float64, n, quiet int) string {
	if quiet == 0 {
		return fmt.Sprintf("0+%sx%d", num(perStep*(1-ratio)), n)
	}
	start := perStep * float64(quiet) // no step without attempts where the burst begins
	return fmt.Sprintf("0+%sx%d %s+%sx%d", num(perStep), quiet-1, num(start), num(perStep*(1-ratio)), n-quiet)
}
