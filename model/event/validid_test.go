package event

import (
	"regexp"
	"strings"
	"testing"
)

var environmentIDRe = regexp.MustCompile(EnvironmentIDPattern)

// TestValidEnvironmentIDIsThePattern: ValidEnvironmentID answers what
// EnvironmentIDPattern, the pattern DESIGN §5 gives, answers.
func TestValidEnvironmentIDIsThePattern(t *testing.T) {
	for _, id := range []string{"", "a", "pr-7.feature:login", "A_b", "-a", ".a", "_a", ":a", "a b", "a/b", "ä", "a\n",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a" + strings.Repeat("-", 127), "0", "a\x00"} {
		if got, want := ValidEnvironmentID(id), environmentIDRe.MatchString(id); got != want {
			t.Errorf("ValidEnvironmentID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}

func FuzzValidEnvironmentID(f *testing.F) {
	f.Add("pr-7.feature:login")
	f.Add("-x")
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidEnvironmentID(id), environmentIDRe.MatchString(id); got != want {
			t.Fatalf("ValidEnvironmentID(%q) = %v, the pattern says %v", id, got, want)
		}
	})
}
