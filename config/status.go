package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// StatusMatcher is a compiled list of HTTP status codes and ranges, written
// in YAML as a list of strings: ["200", "301-308"] (a single string is
// accepted too). It is parsed when the configuration loads.
type StatusMatcher struct {
	specs  []string
	ranges []statusRange
}

type statusRange struct{ lo, hi int }

// ParseStatusMatcher compiles specs such as "200" or "200-299". Codes must be
// within 100-599 and a range's start must not be greater than its end.
func ParseStatusMatcher(specs ...string) (StatusMatcher, error) {
	if len(specs) == 0 {
		return StatusMatcher{}, fmt.Errorf("must not be empty")
	}
	m := StatusMatcher{specs: make([]string, 0, len(specs)), ranges: make([]statusRange, 0, len(specs))}
	for _, s := range specs {
		r, err := parseStatusRange(s)
		if err != nil {
			return StatusMatcher{}, err
		}
		m.specs = append(m.specs, strings.TrimSpace(s))
		m.ranges = append(m.ranges, r)
	}
	return m, nil
}

func mustParseStatusMatcher(specs ...string) StatusMatcher {
	m, err := ParseStatusMatcher(specs...)
	if err != nil {
		panic(err)
	}
	return m
}

func parseStatusRange(spec string) (statusRange, error) {
	s := strings.TrimSpace(spec)
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parseStatusCode(lo)
	if err != nil {
		return statusRange{}, fmt.Errorf("invalid status %q: %w", spec, err)
	}
	if !isRange {
		return statusRange{a, a}, nil
	}
	b, err := parseStatusCode(hi)
	if err != nil {
		return statusRange{}, fmt.Errorf("invalid status range %q: %w", spec, err)
	}
	if a > b {
		return statusRange{}, fmt.Errorf("invalid status range %q: start is greater than end", spec)
	}
	return statusRange{a, b}, nil
}

func parseStatusCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || len(s) != 3 {
		return 0, fmt.Errorf("not a 3-digit status code")
	}
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("outside 100-599")
	}
	return n, nil
}

// Match reports whether code is one of the expected statuses.
func (m StatusMatcher) Match(code int) bool {
	for _, r := range m.ranges {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// Specs returns the list as written in the configuration.
func (m StatusMatcher) Specs() []string {
	return append([]string(nil), m.specs...)
}

// IsZero reports whether the matcher is empty (matches nothing).
func (m StatusMatcher) IsZero() bool { return len(m.ranges) == 0 }

// String returns the specs joined by commas, e.g. "200-299,301".
func (m StatusMatcher) String() string { return strings.Join(m.specs, ",") }

// MarshalYAML implements yaml.Marshaler.
func (m StatusMatcher) MarshalYAML() (any, error) {
	if m.specs == nil {
		return []string{}, nil
	}
	return m.specs, nil
}

// UnmarshalYAML implements yaml.Unmarshaler. It is a leaf type, so it takes
// the node directly (strict key checking does not apply to a list).
func (m *StatusMatcher) UnmarshalYAML(value *yaml.Node) error {
	var items []*yaml.Node
	switch value.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{value}
	case yaml.SequenceNode:
		items = value.Content
	default:
		return nodeErrorf(value, "", "must be a list of status codes or ranges such as \"200-399\"")
	}
	if len(items) == 0 {
		return nodeErrorf(value, "", "must not be empty")
	}
	specs := make([]string, 0, len(items))
	for _, it := range items {
		if it.Kind == yaml.AliasNode && it.Alias != nil {
			it = it.Alias
		}
		if it.Kind != yaml.ScalarNode {
			return nodeErrorf(it, "", "must be a status code or range such as \"200-399\"")
		}
		if _, err := parseStatusRange(it.Value); err != nil {
			return nodeErrorf(it, "", "%w", err)
		}
		specs = append(specs, it.Value)
	}
	parsed, err := ParseStatusMatcher(specs...)
	if err != nil {
		return nodeErrorf(value, "", "%w", err)
	}
	*m = parsed
	return nil
}
