package apitypes

import (
	"bytes"
	"encoding/json"
)

// topLevelKey reports whether body, valid JSON (checked before), is an object with the
// key name at its top level, keys compared as json.Unmarshal into a map compares them
// (exactly, after unescaping); object is false when body is neither an object nor
// null (null unmarshals into a map as no key). It reads the bytes once and allocates
// nothing for keys without escapes: DecodeEvent used to unmarshal every pushed event
// into a map just to look for one key.
func topLevelKey(body []byte, name string) (has, object bool) {
	i := skipSpace(body, 0)
	switch {
	case bytes.HasPrefix(body[i:], []byte("null")):
		return false, true
	case i >= len(body) || body[i] != '{':
		return false, false
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) || body[i] != '"' {
			return false, true // '}': the end of the object
		}
		end := stringEnd(body, i)
		if keyIs(body[i:end], name) {
			return true, true
		}
		i = skipSpace(body, end) + 1 // past ':'
		i = skipSpace(body, skipValue(body, skipSpace(body, i)))
		if i < len(body) && body[i] == ',' {
			i++
		}
	}
}

// keyIs compares a JSON string (with its quotes) to name.
func keyIs(quoted []byte, name string) bool {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1:len(quoted)-1]) == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the JSON value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) {
		i++
	}
	return i
}
