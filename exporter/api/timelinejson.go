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
	"net/http"
	"slices"
	"strconv"

	"github.com/blueberry-idp/envtrack/exporter/recycle"
	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// entryLayout is whether apitypes.TimelineEntry is still the struct appendEntry writes:
// a field added to it turns the fast path off (TestTimelineJSONFastPath notices).
var entryLayout = apitypes.JSONLayout[apitypes.TimelineEntry](
	[2]string{"Event", "event"}, [2]string{"Timestamp", "timestamp"}, [2]string{"Metadata", "metadata"}, [2]string{"RawMetadata", "-"})

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
	dst = apitypes.AppendJSONString(dst, string(e.Event))
	dst = append(dst, `,"timestamp":`...)
	dst, ok := apitypes.AppendJSONTime(dst, e.Timestamp)
	if !ok {
		return dst, false
	}
	dst = append(dst, `,"metadata":`...)
	if e.RawMetadata != "" && e.Metadata == nil {
		// What json.Marshal writes for it (RawMetadata's promise): as it is.
		dst = append(dst, e.RawMetadata...)
		return append(dst, '}'), true
	}
	dst, ok = apitypes.AppendJSONValue(dst, e.Metadata)
	return append(dst, '}'), ok
}

// maxPooledTimeline: a buffer that grew larger is left to the garbage collector.
const maxPooledTimeline = 4 << 20

// timelineBuffers recycles the buffers timelines are written from.
var timelineBuffers = recycle.New[[]byte]()

// keptTimeline: the buffer kept across garbage collections at most (a long timeline's
// document, 3,000 entries, is 400 KB).
const keptTimeline = 1 << 20

// writeTimeline is WriteJSON(w, http.StatusOK, tl), the same bytes, written at once
// with their length.
func writeTimeline(w http.ResponseWriter, tl *apitypes.Timeline) {
	bp := timelineBuffers.Get()
	b, ok := appendTimeline((*bp)[:0], tl)
	b = append(b, '\n') // as json.Encoder ends a value
	defer func() {
		if cap(b) <= maxPooledTimeline {
			*bp = b[:0]
			timelineBuffers.Put(bp, cap(b) <= keptTimeline)
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
