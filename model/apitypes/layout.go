package apitypes

import "reflect"

// JSONLayout is whether T's fields are, in order, exactly the given names with the
// given json tags ({name, tag} pairs). The hand-written JSON readers and writers that
// stand in for encoding/json's reflection check it once at start-up: a field added,
// moved or retagged turns their fast path off rather than letting it write or read a
// struct it no longer knows.
func JSONLayout[T any](fields ...[2]string) bool {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct || t.NumField() != len(fields) {
		return false
	}
	for i, w := range fields {
		if f := t.Field(i); f.Name != w[0] || f.Tag.Get("json") != w[1] {
			return false
		}
	}
	return true
}
