package apitypes

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// sameMarker: where scanMarker decodes body, DecodeEvent's checks and strictDecode
// decode it to the same marker; it reports whether scanMarker did.
func sameMarker(t *testing.T, body []byte) bool {
	t.Helper()
	got, ok := scanMarker(body)
	if !ok {
		return false
	}
	require.True(t, json.Valid(body), "%q", body)
	require.True(t, utf8.Valid(body), "%q", body)
	marker, object := topLevelKey(body, event.MetaKind)
	require.True(t, marker && object, "%q", body)
	var want DeploymentMarker
	require.NoError(t, strictDecode(body, &want), "%q", body)
	require.Equal(t, want, got, "%q", body)
	return true
}

// TestScanMarker: the markers pipelines send are decoded without encoding/json, as it
// decodes them; anything else is left to it (and to its errors).
func TestScanMarker(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		fast bool
	}{
		"marker":                             {body: `{"kind":"deployment","environment":"test","host":"ci-3","application":"app-7","activity":"deploy-app-7-42","status":"success","timestamp":"2025-01-07T10:00:00Z"}`, fast: true},
		"spaced":                             {body: "{ \"kind\" : \"deployment\",\n\t\"environment\": \"test\", \"backfill\": true, \"timestamp\": null }\n", fast: true},
		"no timestamp, backfill false":       {body: `{"status":"failed","kind":"deployment","backfill":false}`, fast: true},
		"a wrong kind is the marker's check": {body: `{"kind":"other"}`, fast: true},
		"zone":                               {body: `{"kind":"deployment","timestamp":"2025-01-07T10:00:00.5+02:00"}`, fast: true},
		"no kind":                            {body: `{"environment":"test"}`},
		"escapes":                            {body: `{"kind":"deployment","activity":"a\u0026b"}`},
		"unknown field":                      {body: `{"kind":"deployment","extra":1}`},
		"another case":                       {body: `{"kind":"deployment","Status":"success"}`},
		"repeated field":                     {body: `{"kind":"deployment","status":"a","status":"b"}`},
		"number":                             {body: `{"kind":"deployment","status":1}`},
		"null string":                        {body: `{"kind":"deployment","status":null}`},
		"null backfill":                      {body: `{"kind":"deployment","backfill":null}`},
		"bad time":                           {body: `{"kind":"deployment","timestamp":"today"}`},
		"two objects":                        {body: `{"kind":"deployment"}{}`},
		"invalid UTF-8":                      {body: "{\"kind\":\"deployment\",\"host\":\"\xff\"}"},
		"array":                              {body: `[{"kind":"deployment"}]`},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.fast, sameMarker(t, []byte(tc.body)))
		})
	}
}

// TestScanMarkerLayout: the fast path knows every field of DeploymentMarker; a field
// added to it must be taught to scanMarker (and markerLayout), or every marker would go
// back to encoding/json unnoticed.
func TestScanMarkerLayout(t *testing.T) {
	require.True(t, markerLayout, "DeploymentMarker changed: teach scanMarker (markerscan.go) its new layout")
}

func FuzzScanMarker(f *testing.F) {
	f.Add([]byte(`{"kind":"deployment","environment":"test","host":"ci-3","application":"app-7","activity":"deploy-app-7-42","status":"success","timestamp":"2025-01-07T10:00:00Z"}`))
	f.Add([]byte("{ \"kind\" : \"x\", \"backfill\": true, \"timestamp\": null }\n"))
	f.Fuzz(func(t *testing.T, body []byte) { sameMarker(t, body) })
}

// BenchmarkDecodeMarker: a CI pipeline's marker decoded and checked by DecodeEvent,
// against encoding/json's path (go test -run '^$' -bench DecodeMarker -benchmem ./model/apitypes/).
func BenchmarkDecodeMarker(b *testing.B) {
	body := []byte(`{"kind":"deployment","environment":"test","host":"ci-3","application":"app-7","activity":"deploy-app-7-42","status":"success","timestamp":"2025-01-07T10:00:00Z"}`)
	now := time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC)
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			_, _, _ = DecodeEvent(body, now)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			// what DecodeEvent did for it before scanMarker
			_, _ = json.Valid(body), utf8.Valid(body)
			_, _ = topLevelKey(body, event.MetaKind)
			var m DeploymentMarker
			_ = strictDecode(body, &m)
			_, _ = m.validate(now)
		}
	})
}
