package apitypes

import (
	"encoding/json"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// TestPrintable: strings stored before pushes were checked can hold terminal escape
// sequences, carriage returns, bells, C1 controls, bidirectional overrides and bytes that
// are not UTF-8; printed, each is a visible escape, nothing is deleted, and clean text
// (accents, emoji, CJK) is untouched.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain feature-x", "plain feature-x"},
		{"café ✓ 日本 🚀", "café ✓ 日本 🚀"},
		{"\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		{"ok\rFAKE", `ok\x0dFAKE`},
		{"bell\a", `bell\x07`},
		{"tab\tnewline\n", `tab\x09newline\x0a`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"nel\u0085", `nel\u0085`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"\u2066iso\u2067\u2068\u2069", `\u2066iso\u2067\u2068\u2069`},
		{"mark\u200e\u200f", `mark\u200e\u200f`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"\x1b]8;;http://evil.example\x07link\x1b]8;;\x07", `\x1b]8;;http://evil.example\x07link\x1b]8;;\x07`},
	} {
		got := Printable(tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
		for _, r := range got {
			require.False(t, unicode.IsControl(r) || badRune(r), "%q left %U", tc.in, r)
		}
	}
}

// TestPrintableJSON: the JSON printed by --json keeps its meaning (it decodes to the same
// value) and carries none of the raw runes JSON allows inside strings.
func TestPrintableJSON(t *testing.T) {
	v := map[string]any{"reason": "a\u202eb\u009bc\x7fd", "n": "café", "esc": "\x1b[31m"}
	raw, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	out := PrintableJSON(raw)
	for _, r := range string(out) {
		require.False(t, badRune(r) && r != '\n', "raw %U in %s", r, out)
	}
	var back map[string]any
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, v, back)
	clean := []byte(`{"a": "b"}`)
	require.Equal(t, clean, PrintableJSON(clean))
	require.Equal(t, `\xff{`, string(PrintableJSON([]byte("\xff{"))))
}
