// Package labels bounds the label values that come from input (issue 10): a type, a
// failure reason or a marker status is a Prometheus label and an InfluxDB tag, and
// each new value is a new series kept forever, so one typo in a CI script must not
// mint series. Reasons and statuses keep their value when it is in their closed set
// (event.Reasons, event.PushedReasons, event.MarkerStatuses); types when configured
// (`types:`, plus the types the configuration itself names), or, with no list, when
// among the first metrics.max_types seen. Everything else becomes Other, is counted in
// envtrack_label_values_folded_total and logged the first time it is seen. The
// journal and the API keep the raw value: only labels and tags are folded.
package labels

import (
	"sort"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// Other is the value every folded label value becomes.
const Other = "other"

// The labels that fold, as the `label` label of the folded counter.
const (
	LabelType   = "type"
	LabelReason = "reason"
	LabelStatus = "status"
)

// maxLogged bounds how many distinct folded values of a label are remembered to log
// each once;
// beyond it one line says that further values go unlogged (a flood must not grow
// memory through the very path that guards it).
const maxLogged = 1000

// Bound folds label values. A nil *Bound folds nothing (tests of single packages).
type Bound struct {
	folded *prometheus.CounterVec
	logger log.Logger

	mu         sync.Mutex
	configured map[string]bool // types: plus the configuration's own types; nil: cap
	max        int             // metrics.max_types, when no list
	seen       map[string]bool // types admitted under the cap
	logged     map[string]bool // label + "\x00" + value folded and logged
	nLogged    map[string]int  // per label
	loggedFull map[string]bool // per label: the line saying further values go unlogged
}

var (
	reasons  = closedSet(append(append([]string{}, event.Reasons...), event.PushedReasons...))
	statuses = closedSet(event.MarkerStatuses)
)

func closedSet(vals []string) map[string]bool {
	m := map[string]bool{Other: true, "": true}
	for _, v := range vals {
		m[v] = true
	}
	return m
}

// New returns a Bound whose folded counter is registered in reg.
func New(reg prometheus.Registerer, logger log.Logger) *Bound {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	b := &Bound{
		folded: metric.LabelValuesFolded.NewCounterVec(reg),
		logger: logger, max: 50, seen: map[string]bool{}, logged: map[string]bool{},
		nLogged: map[string]int{}, loggedFull: map[string]bool{},
	}
	for _, l := range []string{LabelType, LabelReason, LabelStatus} {
		b.folded.WithLabelValues(l)
	}
	return b
}

// SetTypes sets the type bound (at start-up and on reload): configured is the `types:`
// list, own the types the configuration itself names (static environments, the Argo
// CD default type), max is metrics.max_types. With an empty list, the types seen so far
// stay admitted up to max.
func (b *Bound) SetTypes(configured, own []string, max int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.max = max
	b.configured = nil
	if len(configured) > 0 {
		b.configured = map[string]bool{Other: true, "": true}
		for _, t := range append(append([]string{}, configured...), own...) {
			b.configured[t] = true
		}
		return
	}
	for _, t := range own {
		b.seen[t] = true // the configuration's own types never fold
	}
}

// Seed admits the types of the environments already tracked (at start-up), one entry
// per environment: the most used first, so that a restart keeps the labels that were in
// use under the cap.
func (b *Bound) Seed(types []string) {
	n := map[string]int{}
	for _, t := range types {
		n[t]++
	}
	byUse := make([]string, 0, len(n))
	for t := range n {
		byUse = append(byUse, t)
	}
	sort.Slice(byUse, func(i, j int) bool {
		if n[byUse[i]] != n[byUse[j]] {
			return n[byUse[i]] > n[byUse[j]]
		}
		return byUse[i] < byUse[j]
	})
	for _, t := range byUse {
		b.TypeLabel(t)
	}
}

// Type is the label value of type t. It counts a fold (call it once per event; use
// TypeLabel where values are looked up repeatedly, as at each scrape).
func (b *Bound) Type(t string) string { return b.fold(LabelType, t, true) }

// TypeLabel is Type without counting.
func (b *Bound) TypeLabel(t string) string { return b.fold(LabelType, t, false) }

// Reason is the label value of a failure reason (counted).
func (b *Bound) Reason(r string) string { return b.fold(LabelReason, r, true) }

// Status is the label value of a marker status (counted).
func (b *Bound) Status(s string) string { return b.fold(LabelStatus, s, true) }

func (b *Bound) fold(label, v string, count bool) string {
	if b == nil {
		return v
	}
	var keep bool
	switch label {
	case LabelReason:
		keep = reasons[v]
	case LabelStatus:
		keep = statuses[v]
	default:
		keep = b.admitType(v)
	}
	if keep {
		return v
	}
	if count {
		b.folded.WithLabelValues(label).Inc()
	}
	b.logOnce(label, v)
	return Other
}

func (b *Bound) admitType(t string) bool {
	if t == "" || t == Other {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.configured != nil {
		return b.configured[t]
	}
	if b.seen[t] {
		return true
	}
	if len(b.seen) < b.max {
		b.seen[t] = true
		return true
	}
	return false
}

func (b *Bound) logOnce(label, v string) {
	b.mu.Lock()
	key := label + "\x00" + v
	known := b.logged[key]
	first := !known && b.nLogged[label] < maxLogged
	full := !known && !first && !b.loggedFull[label]
	if first {
		b.logged[key] = true
		b.nLogged[label]++
	}
	if full {
		b.loggedFull[label] = true
	}
	b.mu.Unlock()
	switch {
	case first:
		level.Warn(b.logger).Log("msg", `label value folded into "other": not in its closed set or the configured types`,
			"label", label, "value", v)
	case full:
		level.Warn(b.logger).Log("msg", "more folded label values than are logged; further ones are only counted",
			"label", label, "metric", metric.LabelValuesFolded.Name, "logged", maxLogged)
	}
}
