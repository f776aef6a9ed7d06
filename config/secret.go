package config

const redacted = "<secret>"

// Secret is a string that never prints its value: String, GoString,
// MarshalYAML and MarshalJSON all yield "<secret>" (an empty Secret stays
// empty, so that "not set" remains visible). Use string(s) where the value is
// really needed: an Authorization header, a constant-time comparison.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer, so that %#v does not leak either.
func (s Secret) GoString() string {
	return `config.Secret("` + s.String() + `")`
}

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) {
	return s.String(), nil
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.String() + `"`), nil
}
