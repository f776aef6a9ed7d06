package store

// Reading the journal's events back. Each sink decodes every event it delivers, and
// json.Unmarshal of event.Event (reflection, field names matched without case, a
// validation pass before the decoding one) was an eighth of envtrack's CPU per pushed
// event. parseEvent reads the JSON the journal's encoder writes (eventjson.go) directly
// and leaves anything else (escapes in a string, nested metadata, an unknown or
// repeated key, ...) to json.Unmarshal, so that every stored event decodes
// as it did (FuzzParseEvent holds the two to the same result).

import (
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// parseEvent decodes v as json.Unmarshal decodes it into an event.Event; false when it
// leaves v to json.Unmarshal.
func parseEvent(v []byte) (event.Event, bool) {
	var ev event.Event
	if !eventLayout {
		return ev, false
	}
	p := apitypes.JSONScanner{B: v}
	if !p.Byte('{') {
		return ev, false
	}
	var seen uint16
	for first := true; ; first = false {
		if p.Byte('}') {
			break
		}
		if !first && !p.Byte(',') {
			return ev, false
		}
		key, ok := p.RawString()
		if !ok || !p.Byte(':') {
			return ev, false
		}
		f := eventField(string(key[1 : len(key)-1]))
		if f < 0 || seen&(1<<f) != 0 {
			return ev, false // unknown (or a case json matches), or repeated: json decides
		}
		seen |= 1 << f
		switch f {
		case fSeq:
			if ev.Seq, ok = p.Uint64(); !ok {
				return ev, false
			}
		case fTime, fRecordedAt:
			raw, ok := p.RawString()
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
			if ev.Metadata, ok = flatObject(&p); !ok {
				return ev, false
			}
		case fEnvironmentName:
			raw, ok := p.RawString()
			if !ok {
				return ev, false
			}
			if ev.EnvironmentName = ev.EnvironmentID; string(raw[1:len(raw)-1]) != ev.EnvironmentID {
				ev.EnvironmentName = string(raw[1 : len(raw)-1])
			}
		default:
			s, ok := internedString(&p)
			if !ok {
				return ev, false
			}
			*stringField(&ev, f) = s
		}
	}
	return ev, p.End()
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

// internedString reads a string, shared when it is one of interned.
func internedString(p *apitypes.JSONScanner) (string, bool) {
	raw, ok := p.RawString()
	if !ok {
		return "", false
	}
	if s, ok := interned[string(raw[1:len(raw)-1])]; ok {
		return s, true
	}
	return string(raw[1 : len(raw)-1]), true
}

// flatObject reads metadata: null, or an object whose values are strings, numbers
// (float64), booleans or null, decoded as into an interface{}; nested values are left
// to encoding/json.
func flatObject(p *apitypes.JSONScanner) (map[string]any, bool) {
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
		k, ok := internedString(p)
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
			if v, ok := internedBoxed[string(raw[1:len(raw)-1])]; ok {
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
