package redact

import "strings"

// URLsIn returns s with each URL in it shown as URL shows it: the password of its user
// info and the values of its secret parameters masked, the rest of s as written. A URL
// is a scheme ("https", "git+ssh") and "://" up to the first space, quote or angle
// bracket, so one quoted in a message (an error, a CI pipeline's link, a sync failure
// naming its repository) is found too. Text without a URL is returned as it is.
func URLsIn(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for rest := s; ; {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		start := i
		for start > 0 && schemeByte(rest[start-1]) {
			start--
		}
		for start < i && !letter(rest[start]) { // a scheme begins with a letter
			start++
		}
		end := i + len("://")
		for end < len(rest) {
			if strings.HasPrefix(rest[end:], Mask) {
				end += len(Mask) // a URL redacted before: part of it
				continue
			}
			if urlEnd(rest[end]) {
				break
			}
			end++
		}
		// Punctuation that ends a sentence, or closes a parenthesis the URL did not open,
		// is the text's, not the URL's (as linkifiers read it).
		for end > i+len("://") && (strings.IndexByte(".,;:!?", rest[end-1]) >= 0 ||
			rest[end-1] == ')' && !strings.Contains(rest[start:end], "(")) {
			end--
		}
		if start == i {
			b.WriteString(rest[:end]) // no scheme: not a URL
		} else {
			b.WriteString(rest[:start])
			b.WriteString(redactOnce(rest[start:end]))
		}
		rest = rest[end:]
	}
	if b.Len() == len(s) && b.String() == s {
		return s
	}
	return b.String()
}

// escapedMask is Mask as a URL may hold it (its user info cannot hold '<' or '>').
const escapedMask = "%3Csecret%3E"

// redactOnce is URL for a URL that may have been redacted before: its masks are read as
// masks, so that redacting twice gives what redacting once gave.
func redactOnce(u string) string {
	if !strings.Contains(u, Mask) {
		return URL(u)
	}
	out := URL(strings.ReplaceAll(u, Mask, escapedMask))
	return strings.ReplaceAll(out, escapedMask, Mask)
}

// Values applies URLsIn to every string of a value decoded from JSON (pushed metadata),
// keys included, at any depth, in place; it returns the value.
func Values(v any) any {
	v, _ = values(v)
	return v
}

// values is Values, and whether v was a string it changed: a map or a slice is changed
// in place, and an unchanged string is left in its interface value, so that metadata
// without a URL (every marker's) costs no allocation.
func values(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		if r := URLsIn(x); r != x {
			return r, true
		}
	case map[string]any:
		for k, e := range x {
			nk := URLsIn(k)
			ne, changed := values(e)
			if nk != k {
				delete(x, k)
			} else if !changed {
				continue
			}
			x[nk] = ne
		}
	case []any:
		for i, e := range x {
			if ne, changed := values(e); changed {
				x[i] = ne
			}
		}
	}
	return v, false
}

func letter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func schemeByte(c byte) bool {
	return letter(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

func urlEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return c < 0x20
}
