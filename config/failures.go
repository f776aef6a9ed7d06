package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Regexp is a regular expression (RE2 syntax) compiled when the configuration loads
// (STYLE 10). Anchored ones must match the whole value.
type Regexp struct {
	re     *regexp.Regexp
	source string
}

// NewRegexp compiles expr; anchored makes it match whole values only.
func NewRegexp(expr string, anchored bool) (Regexp, error) {
	full := expr
	if anchored {
		full = "^(?:" + expr + ")$"
	}
	re, err := regexp.Compile(full)
	if err != nil {
		return Regexp{}, err
	}
	return Regexp{re: re, source: expr}, nil
}

func mustRegexp(expr string, anchored bool) Regexp {
	re, err := NewRegexp(expr, anchored)
	if err != nil {
		panic(err)
	}
	return re
}

// IsZero reports whether the expression is unset (it then constrains nothing).
func (r Regexp) IsZero() bool { return r.re == nil }

// MatchString reports whether s matches (an unset expression matches nothing).
func (r Regexp) MatchString(s string) bool { return r.re != nil && r.re.MatchString(s) }

// String is the expression as written.
func (r Regexp) String() string { return r.source }

// MarshalYAML implements yaml.Marshaler: the expression as written.
func (r Regexp) MarshalYAML() (any, error) { return r.source, nil }

// compileRegexp compiles the scalar value of key in node into *dst.
func compileRegexp(node *yaml.Node, key string, anchored bool, dst *Regexp) error {
	v := mappingValue(node, key)
	if v == nil || v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.ScalarNode {
		return nodeErrorf(node, key, "must be a regular expression, got %s", describeNode(v))
	}
	re, err := NewRegexp(v.Value, anchored)
	if err != nil {
		return nodeErrorf(node, key, "invalid regular expression %q: %s", v.Value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	*dst = re
	return nil
}

// FailureMatcher is one entry of `failures:`: a failed provisioning attempt whose
// evidence matches every expression it sets is of its Class. One that sets none matches
// every failure.
type FailureMatcher struct {
	// Name is what the failure's metadata (failure_matcher), the timeline and the pages
	// say decided it; default "failures[N]".
	Name  string `yaml:"name,omitempty"`
	Class string `yaml:"class"`
	// Reason must match the failure's reason (timeout, sync_failed, degraded,
	// url_unreachable, deleted_before_ready, or a pushed one) as a whole.
	Reason Regexp `yaml:"reason,omitempty"`
	// Message must match somewhere in one of the failure's messages: the sync
	// operation's message, each error condition as "Type: message" (as Argo CD writes
	// them into an operation's message), the health message, a pushed message.
	Message Regexp `yaml:"message,omitempty"`
	// Condition must match the type of one of the error conditions shown at the
	// failure (ComparisonError, InvalidSpecError, ...) as a whole.
	Condition Regexp `yaml:"condition,omitempty"`
}

// matcherNameRegexp bounds a matcher's name: it becomes metadata and page text.
var matcherNameRegexp = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$`)

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (m *FailureMatcher) UnmarshalYAML(unmarshal func(any) error) error {
	var p struct {
		Name      string    `yaml:"name"`
		Class     string    `yaml:"class"`
		Reason    yaml.Node `yaml:"reason"`
		Message   yaml.Node `yaml:"message"`
		Condition yaml.Node `yaml:"condition"`
	}
	node, err := decodeSection(unmarshal, &p)
	if err != nil {
		return err
	}
	*m = FailureMatcher{Name: p.Name, Class: p.Class}
	if m.Class != event.ClassUser && m.Class != event.ClassPlatform {
		if mappingKey(node, "class") == nil {
			return nodeErrorf(node, "class", "must be set: %s or %s", event.ClassUser, event.ClassPlatform)
		}
		return nodeErrorf(node, "class", "must be %s or %s, got %q", event.ClassUser, event.ClassPlatform, m.Class)
	}
	if m.Name != "" && !matcherNameRegexp.MatchString(m.Name) {
		return nodeErrorf(node, "name", "%q is not a valid matcher name (must match %s)", m.Name, matcherNameRegexp)
	}
	if err := compileRegexp(node, "reason", true, &m.Reason); err != nil {
		return err
	}
	if err := compileRegexp(node, "message", false, &m.Message); err != nil {
		return err
	}
	return compileRegexp(node, "condition", true, &m.Condition)
}

// catchAll reports whether m matches every failure.
func (m FailureMatcher) catchAll() bool {
	return m.Reason.IsZero() && m.Message.IsZero() && m.Condition.IsZero()
}

// Match reports whether a failure with this reason, these error condition types and
// these messages is m's.
func (m FailureMatcher) Match(reason string, conditions, messages []string) bool {
	if !m.Reason.IsZero() && !m.Reason.MatchString(reason) {
		return false
	}
	if !m.Condition.IsZero() && !slices.ContainsFunc(conditions, m.Condition.MatchString) {
		return false
	}
	if !m.Message.IsZero() && !slices.ContainsFunc(messages, m.Message.MatchString) {
		return false
	}
	return true
}

// Failures are the ordered matchers that classify failed provisioning attempts: the
// file's `failures:` first, then DefaultFailures (unless the file's list ends with a
// matcher that matches everything); Load fills them in.
type Failures []FailureMatcher

// Classify returns the class of a failure and the name of the matcher that decided it:
// the first that matches; a failure none matches is the platform's (event.MatcherUnmatched),
// so that a failure nobody recognised is never hidden from the platform's success SLO.
func (f Failures) Classify(reason string, conditions, messages []string) (class, matcher string) {
	for _, m := range f {
		if m.Match(reason, conditions, messages) {
			return m.Class, m.Name
		}
	}
	return event.ClassPlatform, event.MatcherUnmatched
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface: the file's matchers,
// named, checked for repeated names and for matchers nothing can reach, then the defaults.
func (f *Failures) UnmarshalYAML(unmarshal func(any) error) error {
	node, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	if node.Kind != yaml.SequenceNode {
		return nodeErrorf(node, "", "must be a list of matchers such as {class: user, reason: deleted_before_ready}, got %s", describeNode(node))
	}
	var list []FailureMatcher
	if err := unmarshal(&list); err != nil {
		return err
	}
	seen := map[string]int{}
	for _, d := range DefaultFailures {
		seen[d.Name] = -1
	}
	at := func(i int) *yaml.Node { return node.Content[i] }
	for i := range list {
		m := &list[i]
		if m.Name == "" {
			m.Name = fmt.Sprintf("failures[%d]", i)
		} else if j, dup := seen[m.Name]; dup {
			if j < 0 {
				return nodeErrorf(at(i), "name", "%q is the name of a default matcher", m.Name)
			}
			return nodeErrorf(at(i), "name", "duplicate matcher name %q (also failures[%d])", m.Name, j)
		}
		seen[m.Name] = i
		if m.catchAll() && i < len(list)-1 {
			return nodeErrorf(at(i), "", "matches every failure (it sets none of reason, message, condition), so the matchers after it are never used; make it the last one")
		}
	}
	if len(list) == 0 || !list[len(list)-1].catchAll() {
		list = append(list, DefaultFailures...)
	}
	*f = list
	return nil
}

// MarshalYAML implements yaml.Marshaler: the file's own matchers (the defaults have
// names a file may not use, so they are known by name), so that a printed configuration
// loads back as the same.
func (f Failures) MarshalYAML() (any, error) {
	builtin := map[string]bool{}
	for _, d := range DefaultFailures {
		builtin[d.Name] = true
	}
	out := []FailureMatcher{}
	for i, m := range f {
		if builtin[m.Name] {
			continue
		}
		if m.Name == fmt.Sprintf("failures[%d]", i) {
			m.Name = "" // named by its place again when loaded
		}
		out = append(out, m)
	}
	return out, nil
}
