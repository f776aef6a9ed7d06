package config

import (
	"bytes"
	"fmt"
	"strings"
)

// expandError is a problem found while expanding ${VAR} references.
// line and col (1-based, bytes) are positions in the expanded text.
type expandError struct {
	line, col int
	msg       string
}

// expandEnv replaces ${NAME} with the value lookup gives for NAME and $$ with
// a literal $, in the raw text before it is parsed. Any other $ is kept as is.
//
// Comments are left untouched (a commented-out "token: ${ARGOCD_TOKEN}" does
// not require ARGOCD_TOKEN), as is anything after # that YAML would read as
// a comment; quoted strings and block scalars are expanded.
// A value containing a newline is refused, so that line numbers stay true and
// a variable cannot inject YAML structure across lines.
//
// It always expands the whole text (an undefined variable becomes "") and
// returns the first problem, so that the caller can still parse the result
// to name the key where the problem is.
func expandEnv(src []byte, lookup func(string) (string, bool)) ([]byte, *expandError) {
	e := &expander{lookup: lookup, out: make([]byte, 0, len(src)), block: -1}
	for start := 0; start <= len(src); {
		e.line++
		end := bytes.IndexByte(src[start:], '\n')
		if end < 0 {
			e.processLine(src[start:])
			break
		}
		e.processLine(src[start : start+end])
		e.out = append(e.out, '\n')
		start += end + 1
	}
	return e.out, e.err
}

type expander struct {
	lookup func(string) (string, bool)
	out    []byte
	line   int
	quote  byte // '"' or '\'' while inside a quoted scalar, which may span lines
	block  int  // >= 0 inside a block scalar: its lines are indented more than this
	err    *expandError
}

type span struct{ start, end int }

func (e *expander) fail(col int, format string, args ...any) {
	if e.err == nil {
		e.err = &expandError{line: e.line, col: col, msg: fmt.Sprintf(format, args...)}
	}
}

func (e *expander) processLine(l []byte) {
	lineStart := len(e.out)
	indent := 0
	for indent < len(l) && l[indent] == ' ' {
		indent++
	}
	if e.block >= 0 {
		if len(bytes.TrimSpace(l)) == 0 || indent > e.block {
			// Block scalar content: no comments in it.
			for i := 0; i < len(l); {
				if l[i] == '$' {
					i = e.dollar(l, i, lineStart)
					continue
				}
				e.out = append(e.out, l[i])
				i++
			}
			return
		}
		e.block = -1
	}
	var toks []span // completed tokens (outside comments) of this line
	cur := -1       // start of the current token, -1 between tokens
	if e.quote != 0 {
		cur = 0
	}
	i := 0
	for i < len(l) {
		c := l[i]
		if e.quote != 0 {
			switch {
			case c == '$':
				i = e.dollar(l, i, lineStart)
				continue
			case c == '\\' && e.quote == '"' && i+1 < len(l):
				e.out = append(e.out, c, l[i+1])
				i += 2
				continue
			case c == e.quote:
				if e.quote == '\'' && i+1 < len(l) && l[i+1] == '\'' {
					e.out = append(e.out, c, c)
					i += 2
					continue
				}
				e.quote = 0
			}
			e.out = append(e.out, c)
			i++
			continue
		}
		switch {
		case c == ' ' || c == '\t':
			if cur >= 0 {
				toks = append(toks, span{cur, i})
				cur = -1
			}
			e.out = append(e.out, c)
			i++
			continue
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			e.out = append(e.out, l[i:]...)
			i = len(l)
			continue
		}
		if cur < 0 {
			cur = i
		}
		switch {
		case (c == '"' || c == '\'') && quoteMayStart(l, i, cur, toks):
			e.quote = c
		case c == '$':
			i = e.dollar(l, i, lineStart)
			continue
		}
		e.out = append(e.out, c)
		i++
	}
	if e.quote != 0 {
		return
	}
	if cur >= 0 {
		toks = append(toks, span{cur, len(l)})
	}
	e.block = blockThreshold(l, toks)
}

// quoteMayStart reports whether a quote at l[i] opens a quoted scalar rather
// than being part of a plain one ("it's").
func quoteMayStart(l []byte, i, cur int, toks []span) bool {
	if i > 0 {
		switch l[i-1] {
		case '[', '{', ',':
			return true
		}
	}
	if cur != i {
		return false
	}
	if len(toks) == 0 {
		return true
	}
	p := l[toks[len(toks)-1].start:toks[len(toks)-1].end]
	switch p[len(p)-1] {
	case ':', '-', '?', '[', '{', ',':
		return true
	}
	return p[0] == '&' || p[0] == '!'
}

// blockThreshold returns the indentation that the lines of a block scalar
// started on this line ("key: |", "- >-") must exceed, or -1 when the line
// does not start one.
func blockThreshold(l []byte, toks []span) int {
	n := len(toks)
	if n < 2 || !isBlockIndicator(l[toks[n-1].start:toks[n-1].end]) {
		return -1
	}
	j := n - 2
	for j > 0 && (l[toks[j].start] == '&' || l[toks[j].start] == '!') {
		j-- // anchors and tags before the indicator
	}
	prev := l[toks[j].start:toks[j].end]
	switch {
	case prev[len(prev)-1] == ':':
		for _, t := range toks {
			if s := string(l[t.start:t.end]); s != "-" && s != "?" {
				return t.start
			}
		}
	case string(prev) == "-" || string(prev) == "?":
		return toks[j].start
	}
	return -1
}

func isBlockIndicator(t []byte) bool {
	if len(t) == 0 || len(t) > 3 || (t[0] != '|' && t[0] != '>') {
		return false
	}
	for _, c := range t[1:] {
		if !strings.ContainsRune("0123456789+-", rune(c)) {
			return false
		}
	}
	return true
}

// dollar handles the '$' at l[i] and returns the index to continue from.
func (e *expander) dollar(l []byte, i, lineStart int) int {
	col := len(e.out) - lineStart + 1
	if i+1 >= len(l) || (l[i+1] != '$' && l[i+1] != '{') {
		e.out = append(e.out, '$')
		return i + 1
	}
	if l[i+1] == '$' {
		e.out = append(e.out, '$')
		return i + 2
	}
	end := bytes.IndexByte(l[i+2:], '}')
	if end < 0 {
		ref := l[i:]
		if k := bytes.IndexAny(ref, " \t\"'"); k > 0 {
			ref = ref[:k]
		}
		if len(ref) > 40 {
			ref = ref[:40]
		}
		e.fail(col, "unterminated variable reference %q", ref)
		e.out = append(e.out, l[i:]...)
		return len(l)
	}
	name := string(l[i+2 : i+2+end])
	next := i + 3 + end
	if !validVarName(name) {
		ref := name
		if len(ref) > 40 {
			ref = ref[:40] + "..."
		}
		e.fail(col, "invalid variable reference %q", "${"+ref+"}")
		return next
	}
	v, ok := e.lookup(name)
	switch {
	case !ok:
		e.fail(col, "environment variable %s is not set", name)
	case strings.ContainsAny(v, "\r\n"):
		e.fail(col, "environment variable %s contains a newline", name)
	default:
		e.out = append(e.out, v...)
	}
	return next
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
