package fakeargocd

import (
	"encoding/json"
	"strings"
)

// FieldsMode selects how the fake honours the `fields` query parameter of the list.
type FieldsMode int

const (
	// FieldsWhitelist is Argo CD v2.x (since the list got its field processor, including
	// v2.14) and v3.x: server/application/forwarder_overwrite.go keeps a fixed table of
	// selectable paths (SupportedFields) and silently ignores every other path. The answer
	// is {"items":[...],"metadata":<list metadata>} with the top-level metadata always
	// present, "items" null when no Application matched, and, per path, Go's encoding of
	// the value: a nil map or pointer gives null (e.g. "deletionTimestamp":null), a zero
	// metav1.Time gives null, and paths under operationState are left out when the
	// Application has no operationState. Note: status.sync.revision, status.history and
	// status.operationState.message are NOT selectable, and the path
	// items.status.operationState.operation.sync yields operationState.syncResult.
	FieldsWhitelist FieldsMode = iota
	// FieldsGeneric is the older generic filter of github.com/argoproj/pkg grpc/http
	// (messageMarshaler.processItem): any path can be kept; a key is kept when its dotted
	// path is listed or is a string prefix of a listed path; the top-level metadata goes
	// unless asked for.
	FieldsGeneric
)

// fieldSpec is one selectable path of FieldsWhitelist.
type fieldSpec struct {
	path   string // output path within an item
	src    string // where the value is in the encoded Application ("" = path)
	guard  string // the path is skipped unless this path exists ("" = always)
	absent any    // value written when src is absent (nil = JSON null)
	skip   bool   // leave the path out when src is absent
}

// whitelist mirrors appFields of Argo CD's forwarder_overwrite.go (v2.14). The absent
// values follow what json.Marshal writes for the Go values the real table returns.
var whitelist = []fieldSpec{
	{path: "metadata.name", absent: ""},
	{path: "metadata.namespace", absent: ""},
	{path: "metadata.annotations"},
	{path: "metadata.labels"},
	{path: "metadata.creationTimestamp"},
	{path: "metadata.deletionTimestamp"},
	{path: "spec", absent: map[string]any{}},
	{path: "status.sync.status", absent: ""},
	{path: "status.health", absent: map[string]any{}},
	{path: "status.summary", absent: map[string]any{}},
	{path: "status.operationState.startedAt", guard: "status.operationState"},
	{path: "status.operationState.finishedAt", guard: "status.operationState"},
	{path: "status.resources", skip: true},
	{path: "operation.sync", guard: "operation"},
	{path: "status.operationState.phase", guard: "status.operationState", absent: ""},
	{path: "status.operationState.operation.sync", src: "status.operationState.syncResult", guard: "status.operationState"},
}

// SupportedFields lists the paths (with the "items." prefix the query uses) that a
// v2.14 server honours in `fields`.
func SupportedFields() []string {
	out := make([]string, len(whitelist))
	for i, f := range whitelist {
		out[i] = "items." + f.path
	}
	return out
}

// parseFields parses the `fields` parameter: comma-separated paths, a leading "-" turning
// the list into an exclusion list.
func parseFields(q string) (fields map[string]bool, exclude bool) {
	if strings.HasPrefix(q, "-") {
		q, exclude = q[1:], true
	}
	fields = map[string]bool{}
	for _, f := range strings.Split(q, ",") {
		f = strings.TrimSpace(f)
		fields[f] = true
		// Every string prefix of a path, under prefixKey: what processItem asks of
		// each key, answered by one lookup instead of a scan of the paths per key (the
		// snapshot of 100,000 Applications).
		for i := 1; i <= len(f); i++ {
			fields[prefixKey+f[:i]] = true
		}
	}
	return fields, exclude
}

// prefixKey marks the entries of a parsed `fields` that are prefixes of its paths, not
// paths (no path starts with a NUL).
const prefixKey = "\x00"

// paths counts the paths of a parsed `fields`.
func paths(fields map[string]bool) int {
	n := 0
	for f := range fields {
		if !strings.HasPrefix(f, prefixKey) {
			n++
		}
	}
	return n
}

// encodeWhitelist renders the list as Argo CD's processApplicationListField does.
func encodeWhitelist(rv string, apps []Application, fields map[string]bool, exclude bool) ([]byte, error) {
	var items []map[string]any // nil when empty: "items":null, as the real server
	if fields["items.metadata.name"] && !exclude && paths(fields) == 1 {
		// The names list a watch session starts with: the same answer, without encoding
		// and decoding every Application (100,000 of them took the fake a minute).
		for _, a := range apps {
			items = append(items, map[string]any{"metadata": map[string]any{"name": a.Metadata.Name}})
		}
		return json.Marshal(map[string]any{"items": items, "metadata": ListMeta{ResourceVersion: rv}})
	}
	for _, a := range apps {
		full, err := toMap(a)
		if err != nil {
			return nil, err
		}
		item := map[string]any{}
		for _, f := range whitelist {
			if fields["items."+f.path] == exclude {
				continue
			}
			if f.guard != "" {
				if _, ok := lookup(full, f.guard); !ok {
					continue
				}
			}
			src := f.src
			if src == "" {
				src = f.path
			}
			v, ok := lookup(full, src)
			if !ok {
				if f.skip {
					continue
				}
				v = f.absent
			}
			set(item, f.path, v)
		}
		items = append(items, item)
	}
	return json.Marshal(map[string]any{
		"items":    items,
		"metadata": ListMeta{ResourceVersion: rv},
	})
}

// encodeGeneric renders the full list and trims it like argoproj/pkg's messageMarshaler.
func encodeGeneric(list ApplicationList, fields map[string]bool, exclude bool) ([]byte, error) {
	b, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	processItem(nil, m, fields, exclude)
	return json.Marshal(m)
}

func processItem(path []string, item any, fields map[string]bool, exclude bool) {
	switch v := item.(type) {
	case map[string]any:
		for k, child := range v {
			fieldPath := strings.Join(append(append([]string(nil), path...), k), ".")
			pathIn := fields[fieldPath]
			parentPathIn := pathIn || fields[prefixKey+fieldPath] // a string prefix of a listed path
			keep := exclude && !pathIn || !exclude && parentPathIn
			if !keep {
				delete(v, k)
				continue
			}
			if !pathIn {
				processItem(append(append([]string(nil), path...), k), child, fields, exclude)
			}
		}
	case []any:
		for _, child := range v {
			processItem(path, child, fields, exclude)
		}
	}
}

func toMap(a Application) (map[string]any, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

// lookup returns the value at a dotted path of nested maps.
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// set writes v at a dotted path, creating intermediate maps.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
