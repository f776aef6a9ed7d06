package apitypes

import (
	"encoding/json"
	"testing"
)

// FuzzTopLevelKey: for any valid JSON, topLevelKey answers as unmarshalling into a map
// and looking the key up did (what DecodeEvent did before).
func FuzzTopLevelKey(f *testing.F) {
	for _, s := range []string{
		`{"kind":"deployment"}`, `{"a":{"kind":1},"b":["kind",{"kind":2}]}`, ` { "k\u0069nd" : null } `,
		`{"x":"\"kind\":","kind":[]}`, `null`, `[]`, `"kind"`, `1`, `{}`, `{"a":1,"b":true,"c":-2.5e3,"kind":false}`,
		`{"Kind":1}`, `{"kind ":1}`, `{"a":"\\","kind":1}`, `{"a":[[],{}],"b":{"c":{"kind":1}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		var probe map[string]json.RawMessage
		err := json.Unmarshal(body, &probe)
		_, want := probe["kind"]
		has, object := topLevelKey(body, "kind")
		if object != (err == nil) || has != want {
			t.Fatalf("%s: topLevelKey = %v, %v; map probe: has %v, err %v", body, has, object, want, err)
		}
	})
}
