package apitypes

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// FuzzDecodeEvent: whatever the body, DecodeEvent never panics, and what it accepts is
// valid: a known event for a valid id, or a deployment marker for a valid environment.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"environment_id":"pr-1","event":"ready","timestamp":"2025-01-07T10:03:45Z","metadata":{"a":1}}`,
		`{"kind":"deployment","environment":"test","application":"app1","activity":"deployment-app1-1.2.34","status":"success"}`,
		`{"environment_id":"a\"b","event":"ready"}`, `{"environment_id":"${x}","event":"x"}`, `[]`, `null`, `{`, `{"kind":1}`,
		`{"environment_id":"pr-1","event":"provisioning_failed","metadata":{"reason":"timeout","n":[1,{"x":2e400}]}}`,
		`{"environment_id":"pr-1","event":"created","environment_name":"\u001b[31mred","metadata":{"k\u202e":"v"}}`,
		"{\"environment_id\":\"pr-1\",\"event\":\"created\",\"branch\":\"\xff\"}",
		`{"kind":"deployment","environment":"test","application":"a\u0000","activity":"x","status":"success"}`,
		`{"environment_id":"pr-1","event":"ready","metadata":{"late":true,"provisioning_duration_seconds":-1}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		l, m, err := DecodeEvent(body, now)
		if err != nil {
			if l != nil || m != nil {
				t.Fatal("a result with an error")
			}
			return
		}
		switch {
		case l != nil && m == nil:
			if !event.ValidEnvironmentID(l.EnvironmentID) || !l.Event.Valid() {
				t.Fatalf("accepted an invalid lifecycle event: %+v", l)
			}
			b, err := json.Marshal(l.Metadata)
			if err != nil {
				t.Fatalf("accepted metadata that cannot be stored: %v", err)
			}
			if len(b) > MaxMetadataBytes {
				t.Fatalf("accepted %d bytes of metadata", len(b))
			}
			for k := range l.Metadata {
				if reservedMeta[k] {
					t.Fatalf("accepted the reserved metadata key %q", k)
				}
			}
			for _, s := range []string{l.Name, l.Type, l.Repository, l.Branch, l.CommitSHA} {
				cleanString(t, s)
			}
			cleanValue(t, l.Metadata)
		case m != nil && l == nil:
			if !event.ValidEnvironmentID(m.EnvironmentID) || !m.IsMarker() {
				t.Fatalf("accepted an invalid marker: %+v", m)
			}
			for _, k := range []string{"application", "activity", "status", "host"} {
				s, _ := m.Meta(k).(string)
				cleanString(t, s)
			}
		default:
			t.Fatal("exactly one result expected")
		}
	})
}

// cleanString fails on what no accepted string may hold: invalid UTF-8 and the runes
// of badRune.
func cleanString(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("accepted invalid UTF-8: %q", s)
	}
	for _, r := range s {
		if badRune(r) {
			t.Fatalf("accepted %U in %q", r, s)
		}
	}
}

// cleanValue applies cleanString to every key and string of decoded metadata.
func cleanValue(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case string:
		cleanString(t, x)
	case map[string]any:
		for k, vv := range x {
			cleanString(t, k)
			cleanValue(t, vv)
		}
	case []any:
		for _, vv := range x {
			cleanValue(t, vv)
		}
	}
}
