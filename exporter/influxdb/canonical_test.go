package influxdb

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCanonicalJSON: the sink's metadata is kept as stored; text encoding/json would
// write otherwise is not.
func TestCanonicalJSON(t *testing.T) {
	for s, want := range map[string]bool{
		`{}`: true, `{"revision":"a1b2","status":"success"}`: true, `{"a":1,"b":-0,"c":0.5,"d":1e+21,"e":1e-7}`: true,
		`{"m":"x\"y\\z\n\u0001\u003c\u2028 äö 😀 \ufffd"}`: false, // \ufffd is written as the character
		`{"m":"x\"y\\z\n\u0001\u003c\u2028 äö 😀 �"}`:      true,
		`{"a":[true,false,null,{"b":[]}],"b":{}}`:         true,
		`{"b":1,"a":2}`: false, `{"a":1,"a":2}`: false, `{"a": 1}`: false, `{"a":1.0}`: false, `{"a":01}`: false,
		`{"a":"<"}`: false, `{"a":"\/"}`: false, `{"a":"\u00e4"}`: false, `{"a":"\u001F"}`: false, `{"a":"\u0009"}`: false,
		`{"a":12345678901234567890}`: false, `{"a":100000000000000000000}`: true, `{"a":1E+21}`: false,
		"{\"a\":\"\xff\"}": false, `{"a":1}x`: false, `{"a":1`: false, `[1]`: false, `null`: false, `"x"`: false, ``: false,
		`{"\u003c":1,"a":2}`: true, `{"a":2,"\u003c":1}`: false, `{"\n":1,"\u0001":2}`: false, `{"\u0001":1,"\n":2}`: true,
	} {
		require.Equal(t, want, canonicalJSON(s), "%s", s)
	}
}

// FuzzCanonicalJSON: what canonicalJSON keeps is exactly what json.Marshal writes for
// its decoding; and what json.Marshal writes for a decoded object, it keeps.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"<&>\u2028","b":[1,2.5e-7,1e21,{"c":null}],"d":true}`, `{"message":"x\"y\\z\n\u0001"}`,
		"{\"\xff\":\"\xfe\"}", `{"a":1,"a":2}`, `{"b":0.1,"a":-0}`, `{"\u00e4":1,"z":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if canonicalJSON(s) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(s), &m), "%q", s)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			require.Equal(t, s, string(b))
		}
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil || m == nil || strings.Count(s, "[")+strings.Count(s, "{") > maxCanonicalDepth {
			return
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.True(t, canonicalJSON(string(b)), "%s", b)
	})
}
