package config

import (
	"sort"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// TypedTimeout is a timeout that may differ by environment type: one duration for every
// type, or a mapping from types to durations with `default` for the others
// (readiness.termination_timeout: 30m, or {default: 30m, preview: 10m}). 0 turns it off.
// Where `types` are configured, the mapping names only those (Load checks it).
type TypedTimeout struct {
	Default model.Duration
	ByType  map[string]model.Duration
}

// typedDefault is the key of the mapping form that holds the other types' timeout.
const typedDefault = "default"

// For returns the timeout of environments of type typ.
func (t TypedTimeout) For(typ string) time.Duration {
	if d, ok := t.ByType[typ]; ok {
		return time.Duration(d)
	}
	return time.Duration(t.Default)
}

// Durations returns the per-type timeouts as durations (nil when there are none).
func (t TypedTimeout) Durations() map[string]time.Duration {
	if len(t.ByType) == 0 {
		return nil
	}
	out := make(map[string]time.Duration, len(t.ByType))
	for k, v := range t.ByType {
		out[k] = time.Duration(v)
	}
	return out
}

// UnmarshalYAML implements yaml.Unmarshaler. It is a leaf type (a scalar or a mapping
// of scalars, checked one by one here), so it takes the node directly.
func (t *TypedTimeout) UnmarshalYAML(value *yaml.Node) error {
	duration := func(n *yaml.Node) (model.Duration, error) {
		if n.Kind != yaml.ScalarNode {
			return 0, nodeErrorf(n, "", "must be a duration such as 30m, got %s", describeNode(n))
		}
		d, err := model.ParseDuration(n.Value)
		if err != nil {
			return 0, nodeErrorf(n, "", "invalid duration %q (use e.g. 15m, 2h, 1d; 0 turns it off)", n.Value)
		}
		return d, nil
	}
	switch value.Kind {
	case yaml.ScalarNode:
		d, err := duration(value)
		if err != nil {
			return err
		}
		*t = TypedTimeout{Default: d}
		return nil
	case yaml.MappingNode:
	default:
		return nodeErrorf(value, "", "must be a duration, or a mapping from environment types (and default) to durations, got %s", describeNode(value))
	}
	out := TypedTimeout{Default: t.Default}
	for i := 0; i+1 < len(value.Content); i += 2 {
		k, v := value.Content[i], value.Content[i+1]
		d, err := duration(v)
		if err != nil {
			return err
		}
		switch {
		case k.Value == typedDefault:
			out.Default = d
		case !EnvironmentIDRegexp.MatchString(k.Value):
			return nodeErrorf(value, k.Value, "%q is not an environment type (must match %s) nor %q", k.Value, EnvironmentIDRegexp, typedDefault)
		default:
			if out.ByType == nil {
				out.ByType = map[string]model.Duration{}
			}
			out.ByType[k.Value] = d
		}
	}
	*t = out
	return nil
}

// MarshalYAML implements yaml.Marshaler: the form it was written in.
func (t TypedTimeout) MarshalYAML() (any, error) {
	if len(t.ByType) == 0 {
		return t.Default, nil
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, d model.Duration) {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: d.String()})
	}
	add(typedDefault, t.Default)
	types := make([]string, 0, len(t.ByType))
	for k := range t.ByType {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		add(k, t.ByType[k])
	}
	return n, nil
}
