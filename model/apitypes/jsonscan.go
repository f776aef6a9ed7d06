package apitypes

import (
	"strconv"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// JSONScanner reads the plain JSON that most pushed events and every journaled event
// are: strings without escapes or control characters, valid UTF-8, numbers as RFC 8259
// spells them, whitespace where JSON allows it. It is the fast path of decoders that
// leave anything else (and every error) to encoding/json, and are fuzzed against it
// (the pushed markers here, the journal's events in exporter/store): a method that
// returns false has found something it leaves to encoding/json.
type JSONScanner struct {
	B []byte
	I int // the next byte to read
}

func (p *JSONScanner) space() {
	for p.I < len(p.B) {
		switch p.B[p.I] {
		case ' ', '\t', '\r', '\n':
			p.I++
		default:
			return
		}
	}
}

// Byte reads c (a structural character), after whitespace.
func (p *JSONScanner) Byte(c byte) bool {
	p.space()
	if p.I < len(p.B) && p.B[p.I] == c {
		p.I++
		return true
	}
	return false
}

// Peek returns the next byte after whitespace, without reading it.
func (p *JSONScanner) Peek() (byte, bool) {
	p.space()
	if p.I < len(p.B) {
		return p.B[p.I], true
	}
	return 0, false
}

// End reports whether only whitespace is left.
func (p *JSONScanner) End() bool {
	p.space()
	return p.I == len(p.B)
}

// RawString reads a plain string and returns its JSON text, quotes included.
func (p *JSONScanner) RawString() ([]byte, bool) {
	if !p.Byte('"') {
		return nil, false
	}
	start := p.I - 1
	for ; p.I < len(p.B); p.I++ {
		switch c := p.B[p.I]; {
		case c == '"':
			p.I++
			raw := p.B[start:p.I]
			return raw, utf8.Valid(raw)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// String reads a plain string.
func (p *JSONScanner) String() (string, bool) {
	raw, ok := p.RawString()
	if !ok {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// Literal reads s (true, false, null), after whitespace.
func (p *JSONScanner) Literal(s string) bool {
	p.space()
	if len(p.B)-p.I >= len(s) && string(p.B[p.I:p.I+len(s)]) == s {
		p.I += len(s)
		return true
	}
	return false
}

// Number reads a number and returns its text (RFC 8259's grammar, which encoding/json
// checks).
func (p *JSONScanner) Number() ([]byte, bool) {
	p.space()
	start := p.I
	p.is('-')
	switch {
	case p.is('0'):
	case p.I < len(p.B) && p.B[p.I] >= '1' && p.B[p.I] <= '9':
		p.digits()
	default:
		return nil, false
	}
	if p.is('.') && p.digits() == 0 {
		return nil, false
	}
	if p.is('e') || p.is('E') {
		if !p.is('+') {
			p.is('-')
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return p.B[start:p.I], true
}

// Uint64 reads a number into a uint64 as encoding/json does (strconv.ParseUint of its
// text: a fraction, an exponent or a sign is its error, left to it).
func (p *JSONScanner) Uint64() (uint64, bool) {
	n, ok := p.Number()
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	return u, err == nil
}

// Float64 reads a number into a float64 as encoding/json does (strconv.ParseFloat of
// its text: out of range is its error, left to it).
func (p *JSONScanner) Float64() (float64, bool) {
	n, ok := p.Number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

func (p *JSONScanner) is(c byte) bool {
	if p.I < len(p.B) && p.B[p.I] == c {
		p.I++
		return true
	}
	return false
}

func (p *JSONScanner) digits() int {
	n := 0
	for p.I < len(p.B) && p.B[p.I] >= '0' && p.B[p.I] <= '9' {
		p.I++
		n++
	}
	return n
}

// Words are strings that recur in every event (event names, sources, metadata keys,
// marker values): a scan shares them rather than allocating each one it reads, and
// garbage collection was a tenth of the batch push's CPU.
type Words struct {
	str   map[string]string
	boxed map[string]any // the same, as interface values (metadata)
}

// CommonWords are the words of envtrack's own events.
var CommonWords = func() *Words {
	ws := []string{"api", "argocd", "probe", "annotation", string(event.KindDeployment),
		event.MetaKind, event.MetaHost, event.MetaApplication, event.MetaActivity, event.MetaStatus, event.MetaFailed,
		event.MetaDetectedAt, event.MetaBackfill, event.MetaLate, event.MetaBaseline, event.MetaReason, event.MetaSource,
		event.MetaEvidence, event.MetaRevision, event.MetaCause, event.MetaPushed, event.MetaIdempotencyKey,
		event.MetaRepository, event.MetaBranch, event.MetaCommitSHA}
	for _, n := range event.Names {
		ws = append(ws, string(n))
	}
	ws = append(ws, event.MarkerStatuses...)
	ws = append(ws, event.DurationKeys...)
	w := &Words{str: make(map[string]string, len(ws)), boxed: make(map[string]any, len(ws))}
	for _, s := range ws {
		w.str[s], w.boxed[s] = s, s
	}
	return w
}()

// InternedString reads a plain string, shared when it is one of w's.
func (p *JSONScanner) InternedString(w *Words) (string, bool) {
	raw, ok := p.RawString()
	if !ok {
		return "", false
	}
	if s, ok := w.str[string(raw[1:len(raw)-1])]; ok {
		return s, true
	}
	return string(raw[1 : len(raw)-1]), true
}

// FlatObject reads metadata as json.Unmarshal reads it into a map[string]any: null
// (nil), or an object whose values are plain strings, numbers (float64), booleans or
// null. Nested values are left to encoding/json. w shares the words it reads.
func (p *JSONScanner) FlatObject(w *Words) (map[string]any, bool) {
	if p.Literal("null") {
		return nil, true
	}
	if !p.Byte('{') {
		return nil, false
	}
	m := make(map[string]any, 8)
	for first := true; ; first = false {
		if p.Byte('}') {
			return m, true
		}
		if !first && !p.Byte(',') {
			return nil, false
		}
		k, ok := p.InternedString(w)
		if !ok || !p.Byte(':') {
			return nil, false
		}
		c, _ := p.Peek()
		switch {
		case c == '"':
			raw, ok := p.RawString()
			if !ok {
				return nil, false
			}
			if v, ok := w.boxed[string(raw[1:len(raw)-1])]; ok {
				m[k] = v
			} else {
				m[k] = string(raw[1 : len(raw)-1])
			}
		case c == 't' && p.Literal("true"):
			m[k] = true
		case c == 'f' && p.Literal("false"):
			m[k] = false
		case c == 'n' && p.Literal("null"):
			m[k] = nil
		case c == '-' || c >= '0' && c <= '9':
			f, ok := p.Float64()
			if !ok {
				return nil, false
			}
			m[k] = f
		default:
			return nil, false
		}
	}
}
