package apitypes

// The JSON of what envtrack writes without reflection, byte for byte what encoding/json
// writes: the API's timeline (exporter/api) and the journal's events (exporter/store),
// both written in bulk, where encoding/json's reflection cost as much as the rest.

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AppendJSONTime appends t as encoding/json writes a time.Time (its MarshalJSON: RFC
// 3339 with nanoseconds); false where MarshalJSON fails (a year outside 0-9999).
func AppendJSONTime(dst []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); t.Location() != time.UTC || y < 0 || y > 9999 {
		// time.Time's MarshalJSON decides (and refuses what RFC 3339 cannot say).
		b, err := t.MarshalJSON()
		if err != nil {
			return dst, false
		}
		return append(dst, b...), true
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano) // what MarshalJSON writes
	return append(dst, '"'), true
}

// maxNesting bounds AppendJSONValue's recursion; deeper values (or cycles) are left to
// encoding/json.
const maxNesting = 64

// AppendJSONValue appends v as encoding/json writes it (json.Marshal, HTML escaping
// on): what JSON decodes into (nil, string, float64, bool, map[string]any, []any) here,
// anything else by json.Marshal. false when it leaves v to encoding/json (a value it
// refuses, as NaN, or nesting deeper than 64): dst is then to be dropped.
func AppendJSONValue(dst []byte, v any) ([]byte, bool) { return appendValue(dst, v, 0) }

func appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > maxNesting {
		return dst, false
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return AppendJSONString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case float64:
		return appendFloat(dst, v)
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		var buf [16]string
		keys := buf[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, strings.Compare) // encoding/json's order
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendValue(dst, v[k], depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, x, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}

// appendFloat is encoding/json's floatEncoder for float64, which refuses what JSON
// cannot say.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	return AppendJSONFloat(dst, f), true
}

const hex = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, as encoding/json's appendString does with HTML escaping (what json.Marshal and
// an Encoder write): \" \\ \b \f \n \r \t, \u00XX for the other control characters and
// for < > &, \ufffd for bytes that are not UTF-8, \u2028 and \u2029.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
