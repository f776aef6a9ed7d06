package influxdb

import (
	"regexp"
	"testing"

	"github.com/influxdata/influxql"
	"github.com/stretchr/testify/require"
)

func TestQuoteInfluxQL(t *testing.T) {
	for _, tc := range []struct {
		in                string
		lit, ident, regex string
	}{
		{"abc123", `'abc123'`, `"abc123"`, `/^abc123$/`},
		{"", `''`, `""`, `/^$/`},
		{`it's`, `'it\'s'`, `"it's"`, `/^it\x{27}s$/`},
		{`a"b`, `'a"b'`, `"a\"b"`, `/^a\x{22}b$/`},
		{`x\y`, `'x\\y'`, `"x\\y"`, `/^x\x{5c}y$/`},
		{`trailing\`, `'trailing\\'`, `"trailing\\"`, `/^trailing\x{5c}$/`},
		{`a/b`, `'a/b'`, `"a/b"`, `/^a\x{2f}b$/`},
		{"two\nlines", `'two\nlines'`, `"two\nlines"`, `/^two\x{a}lines$/`},
		{`' OR ''='`, `'\' OR \'\'=\''`, `"' OR ''='"`, `/^\x{27}\x{20}OR\x{20}\x{27}\x{27}\x{3d}\x{27}$/`},
		{"ü.*", `'ü.*'`, `"ü.*"`, `/^\x{fc}\x{2e}\x{2a}$/`},
	} {
		for q, want := range map[Quoting]string{Literal: tc.lit, Ident: tc.ident, Regex: tc.regex} {
			got, err := QuoteInfluxQL(tc.in, q)
			require.NoError(t, err)
			require.Equal(t, want, got, "%q as %d", tc.in, q)
		}
	}
	for _, s := range []string{"nul\x00", "cr\r", "crlf\r\n", "\xff"} {
		for _, q := range []Quoting{Literal, Ident, Regex} {
			_, err := QuoteInfluxQL(s, q)
			require.ErrorIs(t, err, ErrUnquotable, "%q", s)
		}
	}
}

// FuzzInfluxQL: whatever s is, a statement built with QuoteInfluxQL(s, ...) parses, with
// InfluxQL's own parser (the version InfluxDB 1.8.10 runs), into one statement whose
// measurement, tag key, string literal and regex are exactly s; or InfluxQL refuses s.
func FuzzQuoteInfluxQL(f *testing.F) {
	for _, s := range []string{"", "abc", `it's`, `a"b`, `x\y`, `trailing\`, `a/b`, `\/`, `\\/`, "nl\n",
		`' OR 1=1 --`, `"; DROP DATABASE "x`, `/ OR "x" =~ /.*`, "ü日本", "\xff", "\x00", "\r", `$x`, `.*+?()[]{}|^$`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ident, err := QuoteInfluxQL(s, Ident)
		if err != nil {
			require.ErrorIs(t, err, ErrUnquotable)
			_, err = QuoteInfluxQL(s, Literal)
			require.ErrorIs(t, err, ErrUnquotable)
			return
		}
		lit, err := QuoteInfluxQL(s, Literal)
		require.NoError(t, err)
		re, err := QuoteInfluxQL(s, Regex)
		require.NoError(t, err)

		text := `SELECT "f" FROM ` + ident + ` WHERE ` + ident + ` = ` + lit + ` AND "t" =~ ` + re + ` AND time >= 0`
		q, err := influxql.ParseQuery(text)
		if err != nil {
			t.Fatalf("%q: %s: %v", s, text, err)
		}
		if len(q.Statements) != 1 {
			t.Fatalf("%q: %s: %d statements", s, text, len(q.Statements))
		}
		sel, ok := q.Statements[0].(*influxql.SelectStatement)
		if !ok || len(sel.Sources) != 1 {
			t.Fatalf("%q: %s: not one SELECT from one source: %s", s, text, q.Statements[0])
		}
		if m, ok := sel.Sources[0].(*influxql.Measurement); !ok || m.Name != s || m.Regex != nil {
			t.Fatalf("%q: %s: source %#v", s, text, sel.Sources[0])
		}
		// ((ident = lit) AND ("t" =~ re)) AND (time >= 0)
		and, ok := sel.Condition.(*influxql.BinaryExpr)
		if !ok || and.Op != influxql.AND {
			t.Fatalf("%q: %s: condition %s", s, text, sel.Condition)
		}
		inner, ok := and.LHS.(*influxql.BinaryExpr)
		if !ok || inner.Op != influxql.AND {
			t.Fatalf("%q: %s: condition %s", s, text, sel.Condition)
		}
		eq, ok := inner.LHS.(*influxql.BinaryExpr)
		if !ok || eq.Op != influxql.EQ {
			t.Fatalf("%q: %s: equality %s", s, text, inner.LHS)
		}
		if v, ok := eq.LHS.(*influxql.VarRef); !ok || v.Val != s {
			t.Fatalf("%q: %s: tag key %#v", s, text, eq.LHS)
		}
		if v, ok := eq.RHS.(*influxql.StringLiteral); !ok || v.Val != s {
			t.Fatalf("%q: %s: literal %#v", s, text, eq.RHS)
		}
		match, ok := inner.RHS.(*influxql.BinaryExpr)
		if !ok || match.Op != influxql.EQREGEX {
			t.Fatalf("%q: %s: regex match %s", s, text, inner.RHS)
		}
		rl, ok := match.RHS.(*influxql.RegexLiteral)
		if !ok {
			t.Fatalf("%q: %s: regex %#v", s, text, match.RHS)
		}
		// The regex InfluxDB compiles matches s, and only s.
		if !rl.Val.MatchString(s) || rl.Val.MatchString(s+"x") || rl.Val.MatchString("x"+s) {
			t.Fatalf("%q: %s: regex %s does not match exactly s", s, text, rl.Val)
		}
		if s != "" && rl.Val.MatchString("") {
			t.Fatalf("%q: %s: regex %s matches the empty string", s, text, rl.Val)
		}
		if got := regexp.MustCompile(rl.Val.String()).FindString(s); got != s {
			t.Fatalf("%q: %s: regex %s finds %q", s, text, rl.Val, got)
		}
	})
}
