package api

// The timeline's JSON without reflection. A long-lived environment's timeline is
// thousands of entries, and encoding/json spent about as long on them (reflection, each
// metadata map's sorted keys, time.Time's MarshalJSON and the check of its output) as
// envtrack spent reading them from InfluxDB (docs/benchmarks.md). appendTimeline
// writes the entries exactly as encoding/json writes them (TestTimelineJSON and
// FuzzTimelineJSON hold it to that) and leaves the rest of the document, and whatever it
// does not know how to write, to encoding/json.

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// entryLayout is whether apitypes.TimelineEntry is still the struct appendEntry writes:
// a field added to it turns the fast path off (TestTimelineJSONFastPath notices).
var entryLayout = func() bool {
	t := reflect.TypeFor[apitypes.TimelineEntry]()
	want := []struct{ name, tag string }{{"Event", "event"}, {"Timestamp", "timestamp"}, {"Metadata", "metadata"}, {"RawMetadata", "-"}}
	if t.NumField() != len(want) {
		return false
	}
	for i, w := range want {
		if f := t.Field(i); f.Name != w.name || f.Tag.Get("json") != w.tag {
			return false
		}
	}
	return true
}()

// timelineKey is where the entries go in the rest of the document, encoded with none:
// the only place a quote is followed by a colon is after a key (a quote in a string
// value is escaped).
var timelineKey = []byte(`"timeline":null`)

// appendTimeline appends tl's JSON, as json.Marshal writes it, to dst; false when it
// leaves tl to encoding/json.
func appendTimeline(dst []byte, tl *apitypes.Timeline) ([]byte, bool) {
	if !entryLayout || tl.Timeline == nil {
		return dst, false
	}
	rest := *tl
	rest.Timeline = nil
	head, err := json.Marshal(&rest)
	if err != nil || bytes.Count(head, timelineKey) != 1 {
		return dst, false
	}
	at := bytes.Index(head, timelineKey) + len(`"timeline":`)
	dst = append(dst, head[:at]...)
	dst = append(dst, '[')
	for i := range tl.Timeline {
		if cap(dst)-len(dst) < 1024 {
			dst = slices.Grow(dst, max(len(dst), 64<<10)) // twice the size, not a quarter more
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendEntry(dst, &tl.Timeline[i]); !ok {
			return dst, false
		}
	}
	dst = append(dst, ']')
	return append(dst, head[at+len("null"):]...), true
}

func appendEntry(dst []byte, e *apitypes.TimelineEntry) ([]byte, bool) {
	dst = append(dst, `{"event":`...)
	dst = appendString(dst, string(e.Event))
	dst = append(dst, `,"timestamp":`...)
	if y := e.Timestamp.Year(); e.Timestamp.Location() != time.UTC || y < 0 || y > 9999 {
		// time.Time's MarshalJSON decides (and refuses what RFC 3339 cannot say).
		b, err := e.Timestamp.MarshalJSON()
		if err != nil {
			return dst, false
		}
		dst = append(dst, b...)
	} else {
		dst = append(dst, '"')
		dst = e.Timestamp.AppendFormat(dst, time.RFC3339Nano) // what MarshalJSON writes
		dst = append(dst, '"')
	}
	dst = append(dst, `,"metadata":`...)
	if e.RawMetadata != "" && e.Metadata == nil {
		// What json.Marshal writes for it (RawMetadata's promise): as it is.
		dst = append(dst, e.RawMetadata...)
		return append(dst, '}'), true
	}
	dst, ok := appendValue(dst, e.Metadata, 0)
	return append(dst, '}'), ok
}

// maxNesting bounds appendValue's recursion; deeper values (or cycles) are left to
// encoding/json.
const maxNesting = 64

// appendValue appends v as encoding/json writes it: what JSON decodes into (nil,
// string, float64, bool, map[string]any, []any) here, anything else by json.Marshal.
func appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > maxNesting {
		return dst, false
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case float64:
		return appendFloat(dst, v)
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		var buf [16]string
		keys := buf[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, strings.Compare) // encoding/json's order
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendValue(dst, v[k], depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, x, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}

// appendFloat is encoding/json's floatEncoder for float64, which refuses what JSON
// cannot say.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	return apitypes.AppendJSONFloat(dst, f), true
}

const hex = "0123456789abcdef"

// appendString is encoding/json's appendString with HTML escaping (what json.Marshal and
// an Encoder write): \" \\ \b \f \n \r \t, \u00XX for the other control characters and
// for < > &, \ufffd for bytes that are not UTF-8, \u2028 and \u2029.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// maxPooledTimeline: a buffer that grew larger is left to the garbage collector.
const maxPooledTimeline = 4 << 20

// timelineBuffers recycles the buffers timelines are written from.
var timelineBuffers = sync.Pool{New: func() any { return new([]byte) }}

// writeTimeline is WriteJSON(w, http.StatusOK, tl), the same bytes, written at once
// with their length.
func writeTimeline(w http.ResponseWriter, tl *apitypes.Timeline) {
	bp := timelineBuffers.Get().(*[]byte)
	b, ok := appendTimeline((*bp)[:0], tl)
	b = append(b, '\n') // as json.Encoder ends a value
	defer func() {
		if cap(b) <= maxPooledTimeline {
			*bp = b[:0]
			timelineBuffers.Put(bp)
		}
	}()
	if !ok {
		decodeRawMetadata(tl)
		WriteJSON(w, http.StatusOK, tl)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// decodeRawMetadata gives each entry that carries its metadata as JSON text the map
// encoding/json writes (it does not write RawMetadata).
func decodeRawMetadata(tl *apitypes.Timeline) {
	for i := range tl.Timeline {
		if e := &tl.Timeline[i]; e.RawMetadata != "" && e.Metadata == nil {
			e.Metadata = apitypes.DecodeMetadata(e.RawMetadata)
		}
	}
}
