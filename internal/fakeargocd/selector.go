package fakeargocd

import (
	"fmt"
	"strings"
)

// Selector is a parsed Kubernetes label selector, as Argo CD's List parses the `selector`
// query parameter (labels.Parse): comma-separated requirements, all of which must hold.
// Supported: `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (does not exist),
// `k in (a,b)`, `k notin (a,b)`. As in Kubernetes, `k!=v` and `k notin (...)` also match
// objects without the label.
type Selector []requirement

type selectorOp int

const (
	opEquals selectorOp = iota
	opNotEquals
	opExists
	opNotExists
	opIn
	opNotIn
)

type requirement struct {
	key    string
	op     selectorOp
	values []string
}

// ParseSelector parses s; the empty selector matches everything.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	parts, err := splitTopLevel(s)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			if strings.TrimSpace(s) == "" {
				continue
			}
			return nil, fmt.Errorf("found '', expected: identifier")
		}
		r, err := parseRequirement(p)
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// splitTopLevel splits at commas outside parentheses.
func splitTopLevel(s string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unexpected ')' in selector %q", s)
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unclosed '(' in selector %q", s)
	}
	return append(parts, s[start:]), nil
}

func parseRequirement(p string) (requirement, error) {
	if strings.HasPrefix(p, "!") {
		k := strings.TrimSpace(p[1:])
		return requirement{key: k, op: opNotExists}, validKey(k)
	}
	for _, set := range []struct {
		word string
		op   selectorOp
	}{{" notin ", opNotIn}, {" in ", opIn}} {
		if i := strings.Index(p, set.word); i > 0 {
			k := strings.TrimSpace(p[:i])
			rest := strings.TrimSpace(p[i+len(set.word):])
			if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
				return requirement{}, fmt.Errorf("found '%s', expected: '('", rest)
			}
			var vals []string
			for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
				v = strings.TrimSpace(v)
				if err := validValue(v); err != nil {
					return requirement{}, err
				}
				vals = append(vals, v)
			}
			return requirement{key: k, op: set.op, values: vals}, validKey(k)
		}
	}
	for _, eq := range []struct {
		tok string
		op  selectorOp
	}{{"!=", opNotEquals}, {"==", opEquals}, {"=", opEquals}} {
		if i := strings.Index(p, eq.tok); i >= 0 {
			k := strings.TrimSpace(p[:i])
			v := strings.TrimSpace(p[i+len(eq.tok):])
			if err := validValue(v); err != nil {
				return requirement{}, err
			}
			return requirement{key: k, op: eq.op, values: []string{v}}, validKey(k)
		}
	}
	return requirement{key: p, op: opExists}, validKey(p)
}

// validKey is a lenient version of Kubernetes' qualified-name check: [prefix/]name with
// name of alphanumerics, '-', '_', '.'.
func validKey(k string) error {
	name := k
	if i := strings.LastIndex(k, "/"); i >= 0 {
		if i == 0 {
			return fmt.Errorf("invalid label key %q: prefix part must be non-empty", k)
		}
		name = k[i+1:]
	}
	if name == "" || len(name) > 63 {
		return fmt.Errorf("invalid label key %q: name part must be non-empty and at most 63 characters", k)
	}
	for _, c := range k {
		if !isLabelChar(c) && c != '/' {
			return fmt.Errorf("invalid label key %q: name part must consist of alphanumeric characters, '-', '_' or '.'", k)
		}
	}
	return nil
}

func validValue(v string) error {
	if len(v) > 63 {
		return fmt.Errorf("invalid label value: %q: must be no more than 63 characters", v)
	}
	for _, c := range v {
		if !isLabelChar(c) {
			return fmt.Errorf("invalid label value: %q: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'", v)
		}
	}
	return nil
}

func isLabelChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// Matches reports whether labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, has := labels[r.key]
		switch r.op {
		case opEquals:
			if !has || v != r.values[0] {
				return false
			}
		case opNotEquals:
			if has && v == r.values[0] {
				return false
			}
		case opExists:
			if !has {
				return false
			}
		case opNotExists:
			if has {
				return false
			}
		case opIn:
			if !has || !contains(r.values, v) {
				return false
			}
		case opNotIn:
			if has && contains(r.values, v) {
				return false
			}
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
