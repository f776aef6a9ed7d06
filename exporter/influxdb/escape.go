package influxdb

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// FluxString returns s as a Flux string literal, quotes included, that evaluates to exactly
// s: `\` becomes `\\`, `"` becomes `\"`, `${` (string interpolation) becomes `\${`,
// newline, carriage return and tab become `\n`, `\r`, `\t`, and other control bytes and
// bytes that are not UTF-8 become `\xNN`. Every string that goes into a query, whoever
// controls it, goes through FluxString; nothing else is spliced into query text.
//
// One more rule comes from the Flux scanner (flux 0.65 in InfluxDB 1.8, and libflux): a
// "$" not followed by "{" swallows the next byte whole, so "$" directly before an escape
// sequence would eat its backslash ("$\"" would end the literal, "$\${x}" would
// interpolate x). Such a "$" is written as the byte escape `\x24`.
func FluxString(s string) string {
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

// Quoting is where a string goes in an InfluxQL statement.
type Quoting int

// The places InfluxQL quotes.
const (
	Literal Quoting = iota // a string literal, 'it\'s': a tag or field value
	Ident                  // an identifier, "a \"b\"": a measurement, tag, field, database, retention policy
	Regex                  // a regular expression literal matching exactly the string: /^ab\x{2f}c$/
)

// ErrUnquotable is returned for a string InfluxQL cannot hold between quotes: its
// scanner reads NUL as the end of the statement and a carriage return as a line break,
// and decodes runes (bytes that are not UTF-8 would come back as U+FFFD).
var ErrUnquotable = errors.New("influxql: string holds NUL, carriage return or bytes that are not UTF-8")

// QuoteInfluxQL returns s quoted for place q of an InfluxQL statement, so that the statement
// means exactly s there, whoever controls s: every id, type, event name, measurement,
// database and retention policy that reaches a statement goes through it, and nothing
// else is spliced into statement text.
//
// The rules are those of InfluxQL's scanner (github.com/influxdata/influxql
// scanner.go, ScanString and ScanRegex; the version InfluxDB 1.8.10 builds with):
// inside '...' and "..." the escapes are \\, \', \" and \n, and a raw newline ends the
// literal; inside /.../ only \/ is an escape, other backslashes pass to the regular
// expression. A regex is therefore written without "/" and with every byte that is not
// [A-Za-z0-9_] as the escape \x{HEX}, which Go's regexp (1.x, 2.x) and Rust's regex
// (3.x) read alike, so that nothing in s is a metacharacter.
func QuoteInfluxQL(s string, q Quoting) (string, error) {
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r") {
		return "", ErrUnquotable
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	switch q {
	case Literal, Ident:
		quote := byte('\'')
		if q == Ident {
			quote = '"'
		}
		b.WriteByte(quote)
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\', quote:
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte(quote)
	case Regex:
		b.WriteString("/^")
		for _, r := range s {
			if r < utf8.RuneSelf && (r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, `\x{%x}`, r)
			}
		}
		b.WriteString("$/")
	default:
		return "", fmt.Errorf("influxql: unknown quoting %d", q)
	}
	return b.String(), nil
}

// ErrInvalidID is returned for an environment id that does not match
// event.EnvironmentIDPattern; the API answers 404 (no such environment can exist).
var ErrInvalidID = errors.New("invalid environment id: must match " + event.EnvironmentIDPattern)

// ValidEnvironmentID reports whether id is a well-formed environment id (DESIGN §5):
// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`. No Flux or InfluxQL metacharacter passes.
func ValidEnvironmentID(id string) bool { return event.ValidEnvironmentID(id) }
