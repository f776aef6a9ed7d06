package store

// The journal's events are JSON, as encoding/json writes event.Event. A batch push
// encodes hundreds of events per commit, and encoding/json's reflection (each metadata
// map's sorted keys, time.Time's MarshalJSON and the check of its output) was a tenth
// of envtrack's CPU per pushed event (docs/benchmarks.md). appendEvent writes the very
// same bytes without reflection (TestEventJSON and FuzzEventJSON hold it to that), so
// the stored format does not change: every reader, and every journal written before,
// is as it was.

import (
	"encoding/json"
	"strconv"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// eventLayout is whether event.Event is still the struct appendEvent writes: a field
// added, moved or retagged turns the fast path off (TestEventJSONLayout notices).
var eventLayout = apitypes.JSONLayout[event.Event](
	[2]string{"Seq", "seq"}, [2]string{"ID", "id"}, [2]string{"EnvironmentID", "environment_id"},
	[2]string{"EnvironmentName", "environment_name,omitempty"}, [2]string{"Name", "event"}, [2]string{"Time", "timestamp"},
	[2]string{"Type", "type,omitempty"}, [2]string{"Repository", "repository,omitempty"}, [2]string{"Branch", "branch,omitempty"},
	[2]string{"CommitSHA", "commit_sha,omitempty"}, [2]string{"Metadata", "metadata,omitempty"}, [2]string{"RawMetadata", "-"},
	[2]string{"RecordedAt", "recorded_at"}, [2]string{"Source", "source,omitempty"},
)

// appendEvent appends ev's JSON, as json.Marshal writes it, to dst; false when it
// leaves ev to encoding/json (dst is then to be dropped).
func appendEvent(dst []byte, ev *event.Event) ([]byte, bool) {
	if !eventLayout {
		return dst, false
	}
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"id":`...)
	dst = apitypes.AppendJSONString(dst, ev.ID)
	dst = append(dst, `,"environment_id":`...)
	dst = apitypes.AppendJSONString(dst, ev.EnvironmentID)
	dst = appendOmitEmpty(dst, `,"environment_name":`, ev.EnvironmentName)
	dst = append(dst, `,"event":`...)
	dst = apitypes.AppendJSONString(dst, string(ev.Name))
	dst = append(dst, `,"timestamp":`...)
	dst, ok := apitypes.AppendJSONTime(dst, ev.Time)
	if !ok {
		return dst, false
	}
	dst = appendOmitEmpty(dst, `,"type":`, ev.Type)
	dst = appendOmitEmpty(dst, `,"repository":`, ev.Repository)
	dst = appendOmitEmpty(dst, `,"branch":`, ev.Branch)
	dst = appendOmitEmpty(dst, `,"commit_sha":`, ev.CommitSHA)
	if len(ev.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		if dst, ok = apitypes.AppendJSONValue(dst, ev.Metadata); !ok {
			return dst, false
		}
	}
	dst = append(dst, `,"recorded_at":`...)
	if dst, ok = apitypes.AppendJSONTime(dst, ev.RecordedAt); !ok {
		return dst, false
	}
	dst = appendOmitEmpty(dst, `,"source":`, ev.Source)
	return append(dst, '}'), true
}

func appendOmitEmpty(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return apitypes.AppendJSONString(append(dst, key...), s)
}

// eventEncoder encodes the events of one transaction into one buffer. bbolt keeps a
// reference to each value until the transaction ends, so a value's bytes are never
// written again: the buffer only grows (a new chunk when full; the old one stays with
// the values cut from it).
type eventEncoder struct{ buf []byte }

// encode returns ev's JSON, what json.Marshal returns.
func (e *eventEncoder) encode(ev *event.Event) ([]byte, error) {
	start := len(e.buf)
	if cap(e.buf)-start < 1024 {
		e.buf, start = make([]byte, 0, min(max(4<<10, 2*cap(e.buf)), 256<<10)), 0
	}
	if b, ok := appendEvent(e.buf, ev); ok {
		e.buf = b
		return b[start:len(b):len(b)], nil
	}
	e.buf = e.buf[:start]
	return json.Marshal(ev)
}

// MarshalEvent returns ev's JSON, what json.Marshal returns, as the journal writes it:
// the other journal drivers store the same bytes.
func MarshalEvent(ev *event.Event) ([]byte, error) {
	if b, ok := appendEvent(nil, ev); ok {
		return b, nil
	}
	return json.Marshal(ev)
}
