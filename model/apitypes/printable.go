package apitypes

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s as it may be printed on a terminal: every rune a push is refused
// for today (badRune: control characters such as ESC, CR, BEL and the C1 controls, the
// bidirectional overrides and isolates) and every byte that is not UTF-8 is shown as a
// visible escape (\x1b, \u202e) instead of acting on the terminal. Strings stored by
// older versions, before pushes were checked, may still hold them; deleting them would
// hide that they are there. The CLI prints every string it did not write itself through
// it.
func Printable(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || badRune(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for s = s[i:]; s != ""; {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r < 0x80 && badRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case badRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// PrintableJSON is Printable for a JSON document printed as it came (`--json`): the
// runes JSON carries raw inside strings (DEL, the C1 controls, the bidirectional
// formatting characters) become \u escapes, so the document means the same and acts on
// no terminal. Controls below U+0020 cannot occur inside a valid JSON string, and
// outside one only as the layout's whitespace, which is kept; a document that is not
// valid JSON is printed through Printable whole.
func PrintableJSON(doc []byte) []byte {
	if !utf8.Valid(doc) {
		return []byte(Printable(string(doc)))
	}
	var b []byte
	for i, r := range string(doc) {
		bad := badRune(r) && r >= 0x20
		if bad || b != nil {
			if b == nil {
				b = append(make([]byte, 0, len(doc)+16), doc[:i]...)
			}
			if bad {
				b = fmt.Appendf(b, `\u%04x`, r)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	if b == nil {
		return doc
	}
	return b
}
