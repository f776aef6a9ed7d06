package apitypes

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeMetadata: DecodeMetadata decodes what json.Unmarshal decodes into a
// map[string]any, whether its fast path reads the text or leaves it to encoding/json.
func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, ` {"provisioning_duration_seconds":180,"evidence":"creationTimestamp"} `,
		`{"a":1,"a":"x"}`, `{"late":true,"b":false,"n":null,"f":-1.5e3}`, `{"nested":{"x":[1,2]}}`,
		`{"q":"say \"hi\""}`, "{\"bad\":\"\xff\"}", `{"a":1}x`, `[1]`, `"s"`, `{"n":1e400}`, `{"n":01}`,
		`{"ready":"ready"}`, ``, `{`, `{"a" 1}`, `{"a":1,}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var want map[string]any
		if json.Unmarshal([]byte(raw), &want) != nil {
			want = nil
		}
		if got := DecodeMetadata(raw); !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeMetadata(%q) = %#v, json.Unmarshal %#v", raw, got, want)
		}
	})
}

func BenchmarkDecodeMetadata(b *testing.B) {
	raw := `{"evidence":"creationTimestamp","provisioning_duration_seconds":180,"queue_duration_seconds":12}`
	b.ReportAllocs()
	for b.Loop() {
		DecodeMetadata(raw)
	}
}
