package store

// Reading the journal's events back. Each sink decodes every event it delivers, and
// json.Unmarshal of event.Event (reflection, field names matched without case, a
// validation pass before the decoding one) was an eighth of envtrack's CPU per pushed
// event. parseEvent reads the JSON the journal's encoder writes (eventjson.go) directly
// and leaves anything else (escapes in a string, nested metadata, whitespace, an
// unknown or repeated key, ...) to json.Unmarshal, so that every stored event decodes
// as it did (FuzzParseEvent holds the two to the same result).

import (
	"strconv"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// parseEvent decodes v as json.Unmarshal decodes it into an event.Event; false when it
// leaves v to json.Unmarshal.
func parseEvent(v []byte) (event.Event, bool) {
	var ev event.Event
	if !eventLayout {
		return ev, false
	}
	p := parser{b: v}
	if !p.byte('{') {
		return ev, false
	}
	var seen uint16
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return ev, false
		}
		key, ok := p.plainString()
		if !ok || !p.byte(':') {
			return ev, false
		}
		f := eventField(key)
		if f < 0 || seen&(1<<f) != 0 {
			return ev, false // unknown (or a case json matches), or repeated: json decides
		}
		seen |= 1 << f
		switch f {
		case fSeq:
			if ev.Seq, ok = p.uint(); !ok {
				return ev, false
			}
		case fTime, fRecordedAt:
			raw, ok := p.rawPlainString()
			if !ok {
				return ev, false
			}
			t := &ev.Time
			if f == fRecordedAt {
				t = &ev.RecordedAt
			}
			if t.UnmarshalJSON(raw) != nil {
				return ev, false
			}
		case fMetadata:
			if ev.Metadata, ok = p.flatObject(); !ok {
				return ev, false
			}
		case fEnvironmentName:
			raw, ok := p.rawPlainString()
			if !ok {
				return ev, false
			}
			if ev.EnvironmentName = ev.EnvironmentID; string(raw[1:len(raw)-1]) != ev.EnvironmentID {
				ev.EnvironmentName = string(raw[1 : len(raw)-1])
			}
		default:
			s, ok := p.internedString()
			if !ok {
				return ev, false
			}
			*stringField(&ev, f) = s
		}
	}
	return ev, p.i == len(p.b)
}

// The fields of event.Event, as bits of a set.
const (
	fSeq = iota
	fID
	fEnvironmentID
	fEnvironmentName
	fName
	fTime
	fType
	fRepository
	fBranch
	fCommitSHA
	fMetadata
	fRecordedAt
	fSource
)

func eventField(key string) int {
	switch key {
	case "seq":
		return fSeq
	case "id":
		return fID
	case "environment_id":
		return fEnvironmentID
	case "environment_name":
		return fEnvironmentName
	case "event":
		return fName
	case "timestamp":
		return fTime
	case "type":
		return fType
	case "repository":
		return fRepository
	case "branch":
		return fBranch
	case "commit_sha":
		return fCommitSHA
	case "metadata":
		return fMetadata
	case "recorded_at":
		return fRecordedAt
	case "source":
		return fSource
	}
	return -1
}

// stringField is ev's string field f.
func stringField(ev *event.Event, f int) *string {
	switch f {
	case fID:
		return &ev.ID
	case fEnvironmentID:
		return &ev.EnvironmentID
	case fEnvironmentName:
		return &ev.EnvironmentName
	case fName:
		return (*string)(&ev.Name)
	case fType:
		return &ev.Type
	case fRepository:
		return &ev.Repository
	case fBranch:
		return &ev.Branch
	case fCommitSHA:
		return &ev.CommitSHA
	}
	return &ev.Source
}

// parser reads the compact JSON encoding/json writes: no whitespace; strings without
// escapes, control characters or invalid UTF-8; numbers as JSON spells them.
type parser struct {
	b []byte
	i int
}

func (p *parser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawPlainString returns a string's JSON text, quotes included.
func (p *parser) rawPlainString() ([]byte, bool) {
	start := p.i
	if !p.byte('"') {
		return nil, false
	}
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			raw := p.b[start:p.i]
			return raw, utf8.Valid(raw)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// The strings that recur in every event (event names, sources, metadata keys, marker
// values) are shared rather than allocated per event read: garbage collection was a
// tenth of the batch push's CPU.
var (
	interned      = map[string]string{}
	internedBoxed = map[string]any{} // the same, as interface values (metadata)
)

func init() {
	words := []string{"api", "argocd", "probe", "annotation", string(event.KindDeployment),
		event.MetaKind, event.MetaHost, event.MetaApplication, event.MetaActivity, event.MetaStatus, event.MetaFailed,
		event.MetaDetectedAt, event.MetaBackfill, event.MetaLate, event.MetaBaseline, event.MetaReason, event.MetaSource,
		event.MetaEvidence, event.MetaRevision, event.MetaCause, event.MetaPushed, event.MetaIdempotencyKey,
		event.MetaRepository, event.MetaBranch, event.MetaCommitSHA}
	for _, n := range event.Names {
		words = append(words, string(n))
	}
	words = append(words, event.MarkerStatuses...)
	words = append(words, event.DurationKeys...)
	for _, w := range words {
		interned[w] = w
		internedBoxed[w] = w
	}
}

// internedString is plainString, shared when it is one of interned.
func (p *parser) internedString() (string, bool) {
	raw, ok := p.rawPlainString()
	if !ok {
		return "", false
	}
	if s, ok := interned[string(raw[1:len(raw)-1])]; ok {
		return s, true
	}
	return string(raw[1 : len(raw)-1]), true
}

func (p *parser) plainString() (string, bool) {
	raw, ok := p.rawPlainString()
	if !ok {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// number returns a JSON number's text (RFC 8259's grammar, which encoding/json checks).
func (p *parser) number() ([]byte, bool) {
	start := p.i
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.digit1to9():
		p.digits()
	default:
		return nil, false
	}
	if p.byte('.') && p.digits() == 0 {
		return nil, false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return p.b[start:p.i], true
}

func (p *parser) digit1to9() bool {
	if p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9' {
		p.i++
		return true
	}
	return false
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// uint reads a number into a uint64 as encoding/json does (strconv.ParseUint of its
// text: a fraction, an exponent or a sign is its error, left to it).
func (p *parser) uint() (uint64, bool) {
	n, ok := p.number()
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	return u, err == nil
}

// flatObject reads metadata: null, or an object whose values are strings, numbers
// (float64), booleans or null, decoded as into an interface{}; nested values are left
// to encoding/json.
func (p *parser) flatObject() (map[string]any, bool) {
	if p.literal("null") {
		return nil, true
	}
	if !p.byte('{') {
		return nil, false
	}
	m := make(map[string]any, 8)
	for first := true; ; first = false {
		if p.byte('}') {
			return m, true
		}
		if !first && !p.byte(',') {
			return nil, false
		}
		k, ok := p.internedString()
		if !ok || !p.byte(':') || p.i >= len(p.b) {
			return nil, false
		}
		switch c := p.b[p.i]; {
		case c == '"':
			raw, ok := p.rawPlainString()
			if !ok {
				return nil, false
			}
			if v, ok := internedBoxed[string(raw[1:len(raw)-1])]; ok {
				m[k] = v
			} else {
				m[k] = string(raw[1 : len(raw)-1])
			}
		case c == 't' && p.literal("true"):
			m[k] = true
		case c == 'f' && p.literal("false"):
			m[k] = false
		case c == 'n' && p.literal("null"):
			m[k] = nil
		case c == '-' || c >= '0' && c <= '9':
			n, ok := p.number()
			if !ok {
				return nil, false
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return nil, false // out of range: encoding/json's error
			}
			m[k] = f
		default:
			return nil, false
		}
	}
}

func (p *parser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}
