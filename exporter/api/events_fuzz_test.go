package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/event"
)

// FuzzDecodeEvent: whatever the body, DecodeEvent never panics, and what it accepts is
// valid: a known event for a valid id, or a deployment marker for a valid environment.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"environment_id":"pr-1","event":"ready","timestamp":"2025-01-07T10:03:45Z","metadata":{"a":1}}`,
		`{"kind":"deployment","environment":"test","application":"app1","activity":"deployment-app1-1.2.34","status":"success"}`,
		`{"environment_id":"a\"b","event":"ready"}`, `{"environment_id":"${x}","event":"x"}`, `[]`, `null`, `{`, `{"kind":1}`,
		`{"environment_id":"pr-1","event":"provisioning_failed","metadata":{"reason":"timeout","n":[1,{"x":2e400}]}}`,
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
			if !event.ValidEnvironmentID(l.EnvironmentID) || !l.push.Event.Valid() {
				t.Fatalf("accepted an invalid lifecycle event: %+v", l)
			}
			if _, err := json.Marshal(l.push.Metadata); err != nil {
				t.Fatalf("accepted metadata that cannot be stored: %v", err)
			}
		case m != nil && l == nil:
			if !event.ValidEnvironmentID(m.EnvironmentID) || !m.IsMarker() {
				t.Fatalf("accepted an invalid marker: %+v", m)
			}
		default:
			t.Fatal("exactly one result expected")
		}
	})
}
