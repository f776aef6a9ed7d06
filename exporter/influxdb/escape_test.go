package influxdb

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestFluxString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `""`},
		{`abc123`, `"abc123"`},
		{`a"b`, `"a\"b"`},
		{`x\y`, `"x\\y"`},
		{`trailing\`, `"trailing\\"`},
		{`\"`, `"\\\""`},
		{`${x}`, `"\${x}"`},
		{`$x {`, `"$x {"`},
		{`$`, `"$"`},
		{`$${`, `"\x24\${"`},
		{`$"`, `"\x24\""`},
		{`$\`, `"\x24\\"`},
		{"$\n", `"\x24\n"`},
		{`$$`, `"\x24$"`},
		{`a$b$`, `"a$b$"`},
		{`$ü`, `"$ü"`},
		{`a|>b`, `"a|>b"`},
		{`") |> drop() //`, `"\") |> drop() //"`},
		{"line\nbreak\r\n\ttab", `"line\nbreak\r\n\ttab"`},
		{"nul\x00bel\x07del\x7f", `"nul\x00bel\x07del\x7f"`},
		{"ünï©ødé 日本", `"ünï©ødé 日本"`},
		{"bad\xffutf8\xc3", `"bad\xffutf8\xc3"`},
	} {
		got := FluxString(tc.in)
		require.Equal(t, tc.want, got, "FluxString(%q)", tc.in)
		back, err := unquote(got)
		require.NoError(t, err)
		require.Equal(t, tc.in, back)
	}
}

func TestValidEnvironmentID(t *testing.T) {
	for _, id := range []string{"a", "abc123", "A.b_c:d-e", "0", strings.Repeat("x", 128)} {
		require.True(t, ValidEnvironmentID(id), id)
	}
	for _, id := range []string{"", `a"b`, `x\y`, `${x}`, `a|>b`, "-a", ".a", "a b", "a\n", "ü",
		strings.Repeat("x", 129), `a")`, "a/b"} {
		require.False(t, ValidEnvironmentID(id), id)
	}
}

// unquote is the inverse of FluxString, written from the string literal rules of the Flux
// scanner (flux 0.65 internal/scanner/scanner.rl) and parser (strconv.ParseText):
//
//	escaped_char  = "\\" ( "n" | "r" | "t" | "\\" | '"' | "${" )
//	byte_value    = "\\x" xdigit{2}
//	dollar_value  = "$" ( any - "{" )      (the byte after "$" is taken as is)
//	unicode_value = any - [\\$]  (a raw '"' ends the literal)
//
// Anything else (an early quote, "${", a "$" that swallows the backslash of an escape or
// the closing quote, an unknown escape) is an error.
func unquote(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", errors.New("not a quoted literal")
	}
	s := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return "", errors.New("unescaped quote inside the literal")
		case '$':
			if i+1 == len(s) {
				b.WriteByte(c) // "$" right before the closing quote
				continue
			}
			switch s[i+1] {
			case '{':
				return "", errors.New("unescaped ${ inside the literal")
			case '\\', '"':
				return "", errors.New("a $ swallows the next escape or quote")
			}
			b.WriteString(s[i : i+2])
			i++
			continue
		case '\\':
		default:
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", errors.New("backslash at the end (escapes the closing quote)")
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '"':
			b.WriteByte(s[i])
		case '$':
			if i+1 >= len(s) || s[i+1] != '{' {
				return "", errors.New(`the scanner knows \${ but not \$ alone`)
			}
			b.WriteByte('$')
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New("short \\x escape")
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", errors.New("bad \\x escape")
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			return "", errors.New("unknown escape \\" + string(s[i]))
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func FuzzFluxString(f *testing.F) {
	for _, s := range []string{"", `a"b`, `x\y`, `${x}`, `a|>b`, "\n\t\r", "\\\"${", "$", "$$${{",
		"\xff\xfe", "ü${\\\"}", `") |> yield() //`, `$"`, `$\`, "$\xff", `$$${x}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit := FluxString(s)
		// Embedded in a query the literal is one token: it ends at its own closing quote.
		q := `from(bucket: "b") |> filter(fn: (r) => r.environment_id == ` + lit + `)`
		start := strings.Index(q, "== ") + len("== ")
		end := closingQuote(q, start)
		if end != start+len(lit)-1 {
			t.Fatalf("FluxString(%q) = %s ends at byte %d of the query, want %d", s, lit, end, start+len(lit)-1)
		}
		back, err := unquote(q[start : end+1])
		if err != nil {
			t.Fatalf("FluxString(%q) = %s: %v", s, lit, err)
		}
		if back != s {
			t.Fatalf("FluxString(%q) = %s unquotes to %q", s, lit, back)
		}
		if strings.ContainsAny(lit, "\n\r") {
			t.Fatalf("FluxString(%q) = %s holds a raw line break", s, lit)
		}
		if !utf8.ValidString(lit) {
			t.Fatalf("FluxString(%q) = %q: bytes that are not UTF-8 must be escaped", s, lit)
		}
	})
}

// closingQuote returns the index of the quote that closes the string literal opening at
// q[start], as the Flux scanner sees it: a backslash escapes the next byte, a "$"
// swallows the next byte unless that is a quote, and a raw quote ends the literal.
func closingQuote(q string, start int) int {
	for i := start + 1; i < len(q); i++ {
		switch q[i] {
		case '\\':
			i++
		case '$':
			if i+1 < len(q) && q[i+1] != '"' {
				i++
			}
		case '"':
			return i
		}
	}
	return -1
}
