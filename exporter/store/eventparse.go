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
			if ev.Metadata, ok = p.FlatObject(apitypes.CommonWords); !ok {
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
			s, ok := p.InternedString(apitypes.CommonWords)
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
