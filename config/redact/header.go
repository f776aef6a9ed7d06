package redact

import "strings"

// secretHeaderWords: a header whose name contains one of them carries a credential
// (Authorization, X-Api-Key, Private-Token, Cookie, X-Hub-Signature, ...).
var secretHeaderWords = []string{"auth", "token", "secret", "key", "password", "passwd", "cookie", "session",
	"signature", "credential"}

// SecretHeader says whether an HTTP header named name looks like it carries a credential:
// its value is shown as Mask (check-config, the landing page) and removed from errors.
func SecretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretHeaderWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return SecretParam(n)
}
