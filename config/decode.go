// YAML decoding helpers shared by the sections' UnmarshalYAML: strict decoding with
// line numbers, and the field checks every section uses.

package config

import (
	_ "embed" // for Example
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

type nodeCapture struct{ node *yaml.Node }

func (n *nodeCapture) UnmarshalYAML(value *yaml.Node) error {
	n.node = value
	return nil
}

func captureNode(unmarshal func(any) error) (*yaml.Node, error) {
	var c nodeCapture
	if err := unmarshal(&c); err != nil {
		return nil, err
	}
	return c.node, nil
}

var durationType = reflect.TypeFor[model.Duration]()

// decodeSection decodes a section strictly into v (a *plain) and returns its
// node. Durations are checked first, so that a bad one is reported with its
// line (model.Duration's own error has none).
func decodeSection(unmarshal func(any) error, v any) (*yaml.Node, error) {
	node, err := captureNode(unmarshal)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type != durationType {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		val := mappingValue(node, key)
		if val == nil || val.ShortTag() == "!!null" {
			continue
		}
		if val.Kind != yaml.ScalarNode {
			return nil, nodeErrorf(val, "", "must be a duration such as 15s, 30m or 7d, got %s", describeNode(val))
		}
		if _, err := model.ParseDuration(val.Value); err != nil {
			return nil, nodeErrorf(val, "", "invalid duration %q (use e.g. 500ms, 15s, 30m, 7d)", val.Value)
		}
	}
	if err := unmarshal(v); err != nil {
		return nil, err
	}
	return node, nil
}

func positive(node *yaml.Node, key string, d model.Duration) error {
	if d <= 0 {
		return nodeErrorf(node, key, "must be greater than 0")
	}
	return nil
}

// secretPair checks a key and its key_file twin.
func secretPair(node *yaml.Node, key string, value, file, required bool) error {
	switch {
	case value && file:
		err := nodeErrorf(node, "", "%s and %s_file are mutually exclusive", key, key)
		if k := mappingKey(node, key+"_file"); k != nil {
			err.(*nodeError).line = k.Line
		}
		return err
	case required && !value && !file:
		return nodeErrorf(node, key, "must be set (or %s_file)", key)
	}
	return nil
}

func nonEmptyItems(node *yaml.Node, key string, items []string) error {
	for i, s := range items {
		if s == "" {
			return nodeErrorf(node, fmt.Sprintf("%s[%d]", key, i), "must not be empty")
		}
	}
	return nil
}

// checkHTTPURL checks that s is an absolute http or https URL with a host.
// Its errors never repeat the URL, which may hold credentials.
// requiredHTTPURL checks that the key is set to an http(s) URL.
func requiredHTTPURL(node *yaml.Node, key, v string) error {
	if v == "" {
		return nodeErrorf(node, key, "must be set")
	}
	if _, err := checkHTTPURL(v); err != nil {
		return nodeErrorf(node, key, "%w", err)
	}
	return nil
}

func checkHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must be an http:// or https:// URL")
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}
