package api

import "testing"

// TestTokenMatches: a token matches one of the allowed, whatever their lengths; the
// comparison is of digests, so a length mismatch is no shortcut.
func TestTokenMatches(t *testing.T) {
	for _, c := range []struct {
		tok     string
		allowed []string
		want    bool
	}{
		{"ci-token", []string{"ci-token"}, true},
		{"ci-token", []string{"reader", "ci-token"}, true},
		{"ci-token", []string{"ci-tokem"}, false},
		{"ci-token", []string{"ci-token-longer"}, false},
		{"ci-token", []string{"ci"}, false},
		{"ci-token", nil, false},
		{"", []string{"x"}, false},
	} {
		if got := tokenMatches(c.tok, c.allowed); got != c.want {
			t.Errorf("tokenMatches(%q, %q) = %v, want %v", c.tok, c.allowed, got, c.want)
		}
	}
}
