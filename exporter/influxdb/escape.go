package influxdb

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// String returns s as a Flux string literal, quotes included, that evaluates to exactly
// s: `\` becomes `\\`, `"` becomes `\"`, `${` (string interpolation) becomes `\${`,
// newline, carriage return and tab become `\n`, `\r`, `\t`, and other control bytes and
// bytes that are not UTF-8 become `\xNN`. Every string that goes into a query, whoever
// controls it, goes through String; nothing else is spliced into query text.
//
// One more rule comes from the Flux scanner (flux 0.65 in InfluxDB 1.8, and libflux): a
// "$" not followed by "{" swallows the next byte whole, so "$" directly before an escape
// sequence would eat its backslash ("$\"" would end the literal, "$\${x}" would
// interpolate x). Such a "$" is written as the byte escape `\x24`.
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`) // the "{" follows as is
		case c == '$' && i+1 < len(s) && !plainAfterDollar(s[i+1:]):
			b.WriteString(`\x24`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			writeHexByte(&b, c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				writeHexByte(&b, c) // not UTF-8: Flux reads \xNN as that byte
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

// plainAfterDollar reports whether rest (what follows a "$") starts with a byte that
// String writes as itself: then the scanner may swallow it with the "$".
func plainAfterDollar(rest string) bool {
	c := rest[0]
	switch {
	case c == '\\' || c == '"' || c == '$' || c == '{' || c < 0x20 || c == 0x7f:
		return false
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(rest)
		return !(r == utf8.RuneError && size == 1)
	}
	return true
}

func writeHexByte(b *strings.Builder, c byte) {
	const hex = "0123456789abcdef"
	b.WriteString(`\x`)
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xf])
}

// ErrInvalidID is returned for an environment id that does not match
// event.EnvironmentIDPattern; the API answers 404 (no such environment can exist).
var ErrInvalidID = errors.New("invalid environment id: must match " + event.EnvironmentIDPattern)

// ValidEnvironmentID reports whether id is a well-formed environment id (DESIGN §5):
// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`. Flux metacharacters never pass.
func ValidEnvironmentID(id string) bool { return event.ValidEnvironmentID(id) }
