package influxdb

// Metadata kept as its stored JSON. The sink writes each event's metadata as
// json.Marshal writes it; a timeline's answer is that JSON again, so decoding it into a
// map only for the API to encode the map back was a quarter of what a long timeline
// cost envtrack (docs/benchmarks.md). canonicalJSON tells the text that encoding its
// decoding gives back unchanged (the sink's, or anything written like it): a timeline
// carries that text as is (event.Event.RawMetadata), and decodes the rest as before.
// FuzzCanonicalJSON holds it to json.Unmarshal and json.Marshal.

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// maxCanonicalDepth bounds the nesting canonicalJSON follows; deeper text is decoded.
const maxCanonicalDepth = 32

// canonicalJSON reports whether s is a JSON object that json.Marshal writes again
// byte for byte when it is decoded into a map[string]any: no white space, keys in
// increasing byte order without duplicates, strings escaped as encoding/json escapes
// them (HTML characters included), numbers as float64s print.
func canonicalJSON(s string) bool {
	if len(s) == 0 || s[0] != '{' {
		return false
	}
	i, ok := canonicalValue(s, 0, 0)
	return ok && i == len(s)
}

// canonicalValue checks the value at s[i:] and returns where it ends.
func canonicalValue(s string, i, depth int) (int, bool) {
	if i >= len(s) || depth > maxCanonicalDepth {
		return i, false
	}
	switch c := s[i]; {
	case c == '"':
		return canonicalString(s, i)
	case c == '{':
		i++
		if i < len(s) && s[i] == '}' {
			return i + 1, true
		}
		prev := -1 // where the previous key's text is, for the order
		prevEnd := 0
		for {
			if i >= len(s) || s[i] != '"' {
				return i, false
			}
			end, ok := canonicalString(s, i)
			// Canonical strings of two keys compare as the keys do: each character has
			// one spelling, and escapes (\u00XX, \", \\ ...) order as their characters
			// only among themselves, so a key with an escape is checked as decoded.
			if !ok || prev >= 0 && !keyAfter(s[prev:prevEnd], s[i:end]) {
				return i, false
			}
			prev, prevEnd = i, end
			if i = end; i >= len(s) || s[i] != ':' {
				return i, false
			}
			if i, ok = canonicalValue(s, i+1, depth+1); !ok {
				return i, false
			}
			if i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ',':
				i++
			case '}':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		i++
		if i < len(s) && s[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = canonicalValue(s, i, depth+1); !ok || i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ',':
				i++
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == 't':
		return canonicalWord(s, i, "true")
	case c == 'f':
		return canonicalWord(s, i, "false")
	case c == 'n':
		return canonicalWord(s, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return canonicalNumber(s, i)
	}
	return i, false
}

func canonicalWord(s string, i int, w string) (int, bool) {
	if len(s)-i >= len(w) && s[i:i+len(w)] == w {
		return i + len(w), true
	}
	return i, false
}

// keyAfter reports whether the key quoted as b sorts after the one quoted as a, as
// encoding/json orders a map's keys (by their decoded bytes). Both are canonical.
func keyAfter(a, b string) bool {
	plain := func(q string) bool {
		for i := 1; i < len(q)-1; i++ {
			if q[i] == '\\' {
				return false
			}
		}
		return true
	}
	if plain(a) && plain(b) {
		return a[1:len(a)-1] < b[1:len(b)-1]
	}
	da, errA := strconv.Unquote(a)
	db, errB := strconv.Unquote(b)
	return errA == nil && errB == nil && da < db
}

// canonicalString checks the string whose quote is at s[i]: every character spelled
// as encoding/json's appendString (HTML escaping on) spells it.
func canonicalString(s string, i int) (int, bool) {
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(s) {
				return i, false
			}
			switch s[i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
				if i+6 > len(s) {
					return i, false
				}
				if !canonicalEscape(s[i+2 : i+6]) {
					return i, false
				}
				i += 6
				continue
			}
			return i, false
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			return i, false // encoding/json escapes them
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				return i, false // written as \ufffd, \u2028, \u2029
			}
			i += size
		}
	}
	return i, false
}

// canonicalEscape: the four hex digits of a \u escape encoding/json writes: a control
// character without a short escape, <, >, &, U+2028 or U+2029, in lower case.
func canonicalEscape(h string) bool {
	for i := 0; i < 4; i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	switch h {
	case "003c", "003e", "0026", "2028", "2029":
		return true
	case "0008", "000c", "000a", "000d", "0009": // \b \f \n \r \t
		return false
	}
	return h[:3] == "000" || h[:3] == "001"
}

// canonicalNumber checks the number at s[i:]: the text encoding/json writes for the
// float64 it parses to.
func canonicalNumber(s string, i int) (int, bool) {
	start, j := i, i
	if j < len(s) && s[j] == '-' {
		j++
	}
	digits := j
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == digits {
		return i, false
	}
	// The common case: an integer of up to 15 digits, no leading zero, is exact and
	// prints as itself ("-0" too).
	intOnly := j == len(s) || s[j] != '.' && s[j] != 'e' && s[j] != 'E'
	if intOnly && j-digits <= 15 && (s[digits] != '0' || j-digits == 1) {
		return j, true
	}
	for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '+' || s[j] == '-') {
		j++
	}
	f, err := strconv.ParseFloat(s[start:j], 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return i, false
	}
	var buf [32]byte
	return j, string(apitypes.AppendJSONFloat(buf[:0], f)) == s[start:j]
}
