package config

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// SLODefault is the key of `slos:` whose objectives hold for every type not named there.
const SLODefault = "default"

// SLO is the service-level objectives of one environment type (`slos.<type>`), or of
// every type not named (`slos.default`): provisioning latency, provisioning success and
// the window both are judged over.
type SLO struct {
	Latency LatencyObjective `yaml:"latency"`
	Success SuccessObjective `yaml:"success"`
	// Window is the SLO's period: the error budget is what the objectives allow to fail
	// in it (28d or 30d in Sloth's and the SRE workbook's terms; 7d to 90d, whole days).
	Window model.Duration `yaml:"window"`
}

// LatencyObjective: Objective percent of the attempts that became ready were ready
// within Threshold (provisioning_started to ready). Threshold is a classic bucket
// boundary of the provisioning histogram, so the share is exact (ProvisioningBuckets).
type LatencyObjective struct {
	Objective float64        `yaml:"objective"`
	Threshold model.Duration `yaml:"threshold"`
}

// SuccessObjective: Objective percent of the attempts that ended did not fail through
// the platform's fault. A user failure (failures:) is a success of the platform (002).
type SuccessObjective struct {
	Objective float64 `yaml:"objective"`
}

// ErrorBudget is the fraction of attempts an objective in percent allows to miss it.
func ErrorBudget(objective float64) float64 { return (100 - objective) / 100 }

// SLOs are the objectives by environment type, SLODefault for the others; Load makes
// sure SLODefault is present (000's table unless the file says otherwise).
type SLOs map[string]SLO

// For returns the objectives environments of type typ are judged by.
func (s SLOs) For(typ string) SLO {
	if o, ok := s[typ]; ok {
		return o
	}
	return s[SLODefault]
}

// Types returns the types named in slos, sorted, without SLODefault.
func (s SLOs) Types() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		if k != SLODefault {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// LatencyThresholds returns every latency threshold in seconds, sorted, without
// repeats: each must be a classic bucket boundary of the provisioning histogram.
func (s SLOs) LatencyThresholds() []float64 {
	var out []float64
	for _, o := range s {
		out = append(out, time.Duration(o.Latency.Threshold).Seconds())
	}
	sort.Float64s(out)
	return slices.Compact(out)
}

// Fields of an SLO entry, to know which ones an entry wrote and which it inherits from
// slos.default.
const (
	sloLatencyObjective = 1 << iota
	sloLatencyThreshold
	sloSuccessObjective
	sloWindow
)

// sloEntry is one entry of `slos:` as written: the fields it set, and where.
type sloEntry struct {
	SLO
	set  int
	node *yaml.Node
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (e *sloEntry) UnmarshalYAML(unmarshal func(any) error) error {
	type plain struct {
		Latency *LatencyObjective `yaml:"latency"`
		Success *SuccessObjective `yaml:"success"`
		Window  model.Duration    `yaml:"window"`
	}
	var p plain
	node, err := decodeSection(unmarshal, &p)
	if err != nil {
		return err
	}
	*e = sloEntry{node: node, SLO: SLO{Window: p.Window}}
	if mappingKey(node, "window") != nil {
		e.set |= sloWindow
		days := time.Duration(p.Window).Hours() / 24
		if days != math.Trunc(days) || days < 7 || days > 90 {
			return nodeErrorf(node, "window", "must be whole days from 7d to 90d (28d or 30d as in Sloth), got %s", p.Window)
		}
	}
	if l := mappingValue(node, "latency"); l != nil && p.Latency != nil {
		e.Latency = *p.Latency
		if mappingKey(l, "objective") != nil {
			e.set |= sloLatencyObjective
			if err := objectivePercent(l, "objective", e.Latency.Objective); err != nil {
				return err
			}
		}
		if mappingKey(l, "threshold") != nil {
			e.set |= sloLatencyThreshold
			if err := positive(l, "threshold", e.Latency.Threshold); err != nil {
				return err
			}
			if time.Duration(e.Latency.Threshold)%time.Second != 0 {
				return nodeErrorf(l, "threshold", "must be whole seconds (a histogram bucket boundary), got %s", e.Latency.Threshold)
			}
		}
	}
	if s := mappingValue(node, "success"); s != nil && p.Success != nil {
		e.Success = *p.Success
		if mappingKey(s, "objective") != nil {
			e.set |= sloSuccessObjective
			if err := objectivePercent(s, "objective", e.Success.Objective); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectivePercent checks an objective in percent: above 0, below 100 (an objective of
// 100 leaves no error budget: a single miss in the window breaks it).
func objectivePercent(node *yaml.Node, key string, v float64) error {
	switch {
	case v >= 100:
		return nodeErrorf(node, key, "%g leaves no error budget: a single miss in the window breaks it (use at most 99.99)", v)
	case !(v > 0):
		return nodeErrorf(node, key, "must be a percentage above 0 and below 100, got %g", v)
	}
	return nil
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface. Each type's entry
// inherits what it does not say from `default`, which inherits from DefaultSLO (000's
// table).
func (s *SLOs) UnmarshalYAML(unmarshal func(any) error) error {
	node, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	if node.Kind != yaml.MappingNode {
		return nodeErrorf(node, "", "must be a mapping from environment types (and %s) to objectives, got %s", SLODefault, describeNode(node))
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k := node.Content[i].Value; k != SLODefault && !EnvironmentIDRegexp.MatchString(k) {
			return nodeErrorf(node, k, "%q is not an environment type (must match %s) nor %q", k, EnvironmentIDRegexp, SLODefault)
		}
	}
	var entries map[string]sloEntry
	if err := unmarshal(&entries); err != nil {
		return err
	}
	def := sloEntry{SLO: DefaultSLO}
	if e, ok := entries[SLODefault]; ok {
		def = inherit(e, DefaultSLO)
	}
	out := SLOs{SLODefault: def.SLO}
	for k, e := range entries {
		if k != SLODefault {
			out[k] = inherit(e, def.SLO).SLO
		}
	}
	*s = out
	return nil
}

// inherit fills what e did not set from base.
func inherit(e sloEntry, base SLO) sloEntry {
	if e.set&sloLatencyObjective == 0 {
		e.Latency.Objective = base.Latency.Objective
	}
	if e.set&sloLatencyThreshold == 0 {
		e.Latency.Threshold = base.Latency.Threshold
	}
	if e.set&sloSuccessObjective == 0 {
		e.Success.Objective = base.Success.Objective
	}
	if e.set&sloWindow == 0 {
		e.Window = base.Window
	}
	return e
}

// Alert windows of the multi-window, multi-burn-rate SLO alerts, as Sloth writes them
// for 28d and 30d (slok/sloth internal/alert/windows/google-30d.yaml, from the SRE
// workbook's "recommended parameters"): a page when 2 % of the budget burns in 1h (5m
// short window) or 5 % in 6h (30m), a ticket when 10 % burns in 1d (2h) or in 3d (6h).
// The burn-rate factor of each is Sloth's: budget share × window ÷ long window.
var (
	PageQuick   = BurnWindow{Severity: SeverityPage, BudgetPercent: 2, Long: time.Hour, Short: 5 * time.Minute}
	PageSlow    = BurnWindow{Severity: SeverityPage, BudgetPercent: 5, Long: 6 * time.Hour, Short: 30 * time.Minute}
	TicketQuick = BurnWindow{Severity: SeverityTicket, BudgetPercent: 10, Long: 24 * time.Hour, Short: 2 * time.Hour}
	TicketSlow  = BurnWindow{Severity: SeverityTicket, BudgetPercent: 10, Long: 72 * time.Hour, Short: 6 * time.Hour}
	// BurnWindows are the four, pages first.
	BurnWindows = []BurnWindow{PageQuick, PageSlow, TicketQuick, TicketSlow}
)

// Severities of the SLO alerts (Sloth's sloth_severity label).
const (
	SeverityPage   = "page"
	SeverityTicket = "ticket"
)

// BurnWindow is one window pair of the SLO alerts: it fires when both windows burn the
// error budget at least Factor(window) times as fast as the SLO window allows.
type BurnWindow struct {
	Severity      string
	BudgetPercent float64 // share of the window's budget that burns in Long
	Long, Short   time.Duration
}

// Factor is the burn rate that spends BudgetPercent of a window's error budget in Long
// (Sloth's getBurnRateFactor): 14.4 for 2 % in 1h of 30d, 13.44 of 28d.
func (b BurnWindow) Factor(window time.Duration) float64 {
	return b.BudgetPercent / 100 * window.Hours() / b.Long.Hours()
}

// checkSLOs makes the checks of `slos:` that need the rest of the configuration: the
// types it names are configured ones (when `types:` is set), each latency threshold is
// one that a ready attempt can miss (below readiness.provisioning_timeout), and each
// objective leaves an error budget that the fastest page alert can see burn.
func (l *loader) checkSLOs(c *Config) error {
	keys := append([]string{SLODefault}, c.SLOs.Types()...)
	for _, typ := range keys[1:] {
		if len(c.Types) > 0 && !slices.Contains(c.Types, typ) {
			return l.errorf("slos."+typ, "%q is not one of types (%s)", typ, strings.Join(c.Types, ", "))
		}
	}
	timeout := time.Duration(c.Readiness.ProvisioningTimeout)
	for _, typ := range keys {
		o := c.SLOs[typ]
		// Only what the file wrote is checked, where it wrote it: 000's table holds for
		// any configuration (a short provisioning_timeout makes its latency objective
		// vacuous, not wrong), so a file without slos: loads as it did.
		if key, ok := l.sloKey(typ, "latency.threshold"); ok {
			if th := time.Duration(o.Latency.Threshold); th >= timeout {
				return l.errorf(key, "%s can never be missed: an attempt not ready within readiness.provisioning_timeout (%s) fails instead, so every ready attempt is within it; use a threshold below %s",
					model.Duration(th), model.Duration(timeout), model.Duration(timeout))
			}
		}
		window := time.Duration(o.Window)
		for _, obj := range []struct {
			field string
			v     float64
		}{{"latency.objective", o.Latency.Objective}, {"success.objective", o.Success.Objective}} {
			key, ok := l.sloKey(typ, obj.field)
			if !ok {
				key, ok = l.sloKey(typ, "window")
			}
			if !ok {
				continue
			}
			budget, factor := ErrorBudget(obj.v), PageQuick.Factor(window)
			if factor*budget >= 1 {
				return l.errorf(key, "%g %% over %s leaves an error budget of %g %% of attempts; the page alert fires when 2 %% of it burns in %s, a burn rate of %g, which needs more than %g %% of attempts to miss and cannot happen: use an objective above %g %% or a shorter window",
					obj.v, model.Duration(window), round4(100-obj.v), model.Duration(PageQuick.Long), round4(factor), round4(factor*budget*100), round4(100-100/factor))
			}
		}
	}
	return nil
}

// sloKey is the dotted key of field in type typ's entry, as the file wrote it: the
// entry's own, else default's (which the entry inherits); false when neither wrote it.
func (l *loader) sloKey(typ, field string) (string, bool) {
	for _, k := range []string{typ, SLODefault} {
		key := "slos." + k + "." + field
		if _, ok := l.idx.byPath[key]; ok {
			return key, true
		}
	}
	return "", false
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
