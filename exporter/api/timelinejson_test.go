package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// sameAsEncodingJSON: writeTimeline answers what WriteJSON answers for tl, byte for
// byte; it reports whether it took the fast path.
func sameAsEncodingJSON(t *testing.T, tl *apitypes.Timeline) bool {
	t.Helper()
	want := httptest.NewRecorder()
	WriteJSON(want, http.StatusOK, tl)
	got := httptest.NewRecorder()
	writeTimeline(got, tl)
	require.Equal(t, want.Code, got.Code)
	require.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"))
	require.Equal(t, want.Body.String(), got.Body.String())
	_, fast := appendTimeline(nil, tl)
	return fast
}

func float(f float64) *float64 { return &f }

// TestTimelineJSON: the timeline's JSON is encoding/json's, for the values metadata
// holds as people write them and for those encoding/json writes in its own way.
func TestTimelineJSON(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	entry := func(meta map[string]any) apitypes.TimelineEntry {
		return apitypes.TimelineEntry{Event: event.Deployed, Timestamp: t0, Metadata: meta}
	}
	for name, tc := range map[string]struct {
		tl   apitypes.Timeline
		fast bool
	}{
		"empty metadata and null": {tl: apitypes.Timeline{EnvironmentID: "pr-1", Timeline: []apitypes.TimelineEntry{entry(map[string]any{}), entry(nil)}}, fast: true},
		"people's metadata": {tl: apitypes.Timeline{
			EnvironmentID: "pr-7.feature:login", EnvironmentName: `Login "v2" \ ${team}'s <b>&amp;</b>`,
			Timeline: []apitypes.TimelineEntry{
				entry(map[string]any{"revision": "a1b2c3", "status": "success", "queue_duration_seconds": 0.0}),
				entry(map[string]any{"message": "ComparisonError: \"values.yaml\" \n at C:\\charts\\app ${x} 'quoted'\t\r\b\f\x01\x1f\x7f",
					"html": "<script>&</script>", "seps": "a\u2028b\u2029c", "bad utf8": "\xff\xfe x \xc3", "unicode": "äö 日本 😀 \ufffd",
					"z": true, "a": false, "m": nil, "Ä": 1.0, "": "empty key", "\x00k<": "odd key"}),
				entry(map[string]any{"floats": []any{0.1, math.Copysign(0, -1), 1e21, 1e20, 123456789012345678.0, 1e-6, 1e-7, 5e-324, math.MaxFloat64, -1.5e-300, 180.0, 3.0000000001}}),
				entry(map[string]any{"nested": map[string]any{"b": []any{map[string]any{"y": 1.0, "x": []any{}}, nil, "s"}, "a": map[string]any{}}, "empty": []any(nil), "nilmap": map[string]any(nil)}),
				{Event: event.Ready, Timestamp: time.Date(2025, 1, 7, 10, 3, 0, 0, time.UTC), Metadata: map[string]any{event.MetaProvisioningDuration: 180.0}},
			},
			Summary: apitypes.Summary{ProvisioningDurationSeconds: float(180), TotalLifetimeHours: float(0.05), Outcome: "ready"},
		}, fast: true},
		"other Go values": {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{
			entry(map[string]any{"int": 7, "int64": int64(1) << 60, "uint8s": []byte("hi"), "strings": []string{"a", "<"}, "time": t0, "number": json.Number("1.50")}),
		}}, fast: true},
		"times": {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{
			{Event: event.Created, Timestamp: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
			{Event: event.Created, Timestamp: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
			{Event: event.Created, Timestamp: t0.In(time.FixedZone("CEST", 2*3600))},
			{Event: event.Created, Timestamp: t0.In(time.FixedZone("odd", 2*3600+30))},
		}}, fast: true},
		// What encoding/json refuses it is left to refuse.
		"year 10000": {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{{Event: event.Created, Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
		"NaN":        {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{entry(map[string]any{"x": math.NaN()})}}},
		"no entries": {tl: apitypes.Timeline{EnvironmentID: "x"}},
		// The windows not observed follow the entries, as encoding/json writes them.
		"gaps": {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{entry(nil)}, Gaps: []apitypes.Gap{
			{From: t0, To: t0.Add(20 * time.Second), Source: event.GapArgoCD, Reason: event.GapStalled},
			{From: t0.In(time.FixedZone("CEST", 2*3600)), To: t0.Add(time.Hour), Source: `"timeline":null <&>`, Reason: " ÿ", Ongoing: true},
		}}, fast: true},
		"no gaps": {tl: apitypes.Timeline{EnvironmentID: "x", Timeline: []apitypes.TimelineEntry{entry(nil)}, Gaps: []apitypes.Gap{}}, fast: true},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.fast, sameAsEncodingJSON(t, &tc.tl))
		})
	}
	// Cycles are encoding/json's to refuse.
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	require.False(t, sameAsEncodingJSON(t, &apitypes.Timeline{Timeline: []apitypes.TimelineEntry{entry(cyclic)}}))
}

// TestTimelineJSONFastPath: the fast path knows apitypes.TimelineEntry as it is; a field
// added there needs appendEntry to write it.
func TestTimelineJSONFastPath(t *testing.T) {
	require.True(t, entryLayout, "apitypes.TimelineEntry changed: teach appendEntry its new field")
}

// FuzzTimelineJSON: for any metadata JSON decodes into and any names, writeTimeline
// writes what encoding/json writes.
func FuzzTimelineJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"<&>\u2028","b":[1,2.5e-7,1e21,{"c":null}],"d":true}`, `{"message":"x\"y\\z\n\u0001"}`, "{\"\xff\":\"\xfe\"}"} {
		f.Add(s, "pr-1", `Name "q" <x>`, int64(1736244000123456789))
	}
	f.Fuzz(func(t *testing.T, meta, id, name string, ns int64) {
		var m map[string]any
		if json.Unmarshal([]byte(meta), &m) != nil {
			m = map[string]any{"raw": meta}
		}
		tl := &apitypes.Timeline{EnvironmentID: id, EnvironmentName: name, Timeline: []apitypes.TimelineEntry{
			{Event: event.Name(name), Timestamp: time.Unix(0, ns).UTC(), Metadata: m},
			{Event: event.Deployed, Timestamp: time.Unix(0, ns/3).UTC(), Metadata: map[string]any{id: name, name: m}},
		}, Gaps: []apitypes.Gap{{From: time.Unix(0, ns/3).UTC(), To: time.Unix(0, ns).UTC(), Source: id, Reason: name, Ongoing: ns%2 == 0}}}
		sameAsEncodingJSON(t, tl)
	})
}

// TestTimelineJSONRawMetadata: an entry that carries its metadata as the JSON text
// json.Marshal writes for it (RawMetadata) is written as the entry with the map, on the
// fast path and on encoding/json's.
func TestTimelineJSONRawMetadata(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	metas := []map[string]any{
		{"revision": "a1b2c3", "status": "success"},
		{"message": `pod "api" <CrashLoopBackOff> & more`, "n": []any{1.0, 2.5e-7, map[string]any{"b": nil, "a": true}}},
		nil,
	}
	for name, odd := range map[string]map[string]any{"fast": nil, "encoding/json": {"x": math.NaN()}} {
		t.Run(name, func(t *testing.T) {
			withMaps := &apitypes.Timeline{EnvironmentID: "pr-1"}
			withRaw := &apitypes.Timeline{EnvironmentID: "pr-1"}
			for _, m := range metas {
				e := apitypes.TimelineEntry{Event: event.Deployed, Timestamp: t0, Metadata: m}
				withMaps.Timeline = append(withMaps.Timeline, e)
				if m != nil {
					b, err := json.Marshal(m)
					require.NoError(t, err)
					e.Metadata, e.RawMetadata = nil, string(b)
				}
				withRaw.Timeline = append(withRaw.Timeline, e)
			}
			if odd != nil { // a value only encoding/json may refuse: the slow path
				withMaps.Timeline = append(withMaps.Timeline, apitypes.TimelineEntry{Event: event.Ready, Timestamp: t0, Metadata: odd})
				withRaw.Timeline = append(withRaw.Timeline, apitypes.TimelineEntry{Event: event.Ready, Timestamp: t0, Metadata: odd})
			}
			want := httptest.NewRecorder()
			WriteJSON(want, http.StatusOK, withMaps)
			got := httptest.NewRecorder()
			writeTimeline(got, withRaw)
			require.Equal(t, want.Code, got.Code)
			require.Equal(t, want.Body.String(), got.Body.String())
		})
	}
}
