package store

// The sinks read right behind the commits: every event a push commits is, a moment
// later, read back by each sink from its cursor. Decoding it from the file (after
// waiting for the applier to put it there) was a ninth of envtrack's CPU per batch-pushed
// event. recent keeps the last events committed, and Events answers from them, in the
// form a read decodes them into, when it holds the whole range asked for.
//
// That form is made without encoding and decoding only for an event whose metadata
// holds what JSON decodes into (or numbers JSON turns into float64), whose strings are
// valid UTF-8 and whose times are UTC. Any other event is a hole, and a read over a hole
// goes to the file. TestRecentMatchesFile and FuzzDecodedForm hold what recent answers
// to what the file answers.

import (
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// recentEvents and recentBytes bound what recent holds: a sink's catch-up batch
// (delivery.catch_up_batch_size, 5,000) a few times over, so that a sink behind a
// burst of pushes still reads from memory.
const (
	recentEvents = 16384
	recentBytes  = 8 << 20 // of their encoded size
)

type recent struct {
	mu    sync.Mutex
	first uint64        // the seq of evs[0]
	evs   []event.Event // consecutive seqs from first, as committed
	sizes []int         // each event's encoded size
	bytes int
	drops int // copies down (dropFirst), which trim amortises
}

// add appends the events of a commit, which follow the journal's last event; size(i)
// is the encoded size of evs[i]. Call with the store's commit lock held, so that the
// events arrive in seq order. Events that do not follow those held start over.
func (r *recent) add(evs []event.Event, size func(i int) int) {
	if len(evs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) > 0 && r.first+uint64(len(r.evs)) != evs[0].Seq {
		r.clear()
	}
	if len(r.evs) == 0 {
		r.first = evs[0].Seq
	}
	// As committed: a read makes their decoded form, on the reader's goroutine rather
	// than the pusher's.
	r.evs = append(r.evs, evs...)
	for i := range evs {
		n := size(i)
		r.sizes = append(r.sizes, n)
		r.bytes += n
	}
	r.trim()
}

// Recent is recent for a journal kept outside this package (PostgreSQL): the last
// events its replica committed, which the sinks read right behind the commits. There
// the commits of one replica may come back out of seq order, and other replicas'
// commits fall between them: an Add that does not follow the events held starts over,
// so that what Recent holds is always one run of consecutive seqs, each as committed.
type Recent struct{ r recent }

// Add holds the events of a commit, as committed (Seq, ID and RecordedAt assigned);
// size(i) is evs[i]'s encoded size. A commit larger than the store's own log takes
// (directBytes: a first sight's thousands of events) is not held, as in the store: it
// would raise the peak memory, and the sinks are then too far behind to read it from
// memory anyway.
func (x *Recent) Add(evs []event.Event, size func(i int) int) {
	total := 0
	for i := range evs {
		if total += size(i); total > directBytes {
			x.r.reset()
			return
		}
	}
	x.r.add(evs, size)
}

// Events is Store.Events answered from memory: up to limit events after afterSeq, up
// to the last one held; false when the event after afterSeq is not held, or a hole is
// in the range (the journal answers).
func (x *Recent) Events(afterSeq uint64, limit int) ([]event.Event, bool) {
	return x.r.events(afterSeq, limit)
}

// Reset forgets everything: a write other than a commit changed the journal.
func (x *Recent) Reset() { x.r.reset() }

// DropBefore forgets the events before seq (pruned).
func (x *Recent) DropBefore(seq uint64) { x.r.dropBefore(seq) }

// trim drops the oldest events beyond the bounds, down to three quarters of them, so
// that the events kept are copied down once per quarter of the bound, not per commit.
func (r *recent) trim() {
	if len(r.evs) <= recentEvents && r.bytes <= recentBytes {
		return
	}
	drop := 0
	for len(r.evs)-drop > recentEvents*3/4 || r.bytes > recentBytes*3/4 && drop < len(r.evs) {
		r.bytes -= r.sizes[drop]
		drop++
	}
	r.dropFirst(drop)
}

// dropFirst forgets the first n events. It copies down rather than reslicing, so that
// the backing arrays stay bounded.
func (r *recent) dropFirst(n int) {
	if n == 0 {
		return
	}
	r.drops++
	k := copy(r.evs, r.evs[n:])
	clear(r.evs[k:])
	r.evs = r.evs[:k]
	r.sizes = r.sizes[:copy(r.sizes, r.sizes[n:])]
	r.first += uint64(n)
}

// reset forgets everything: a write other than a commit changed the journal.
func (r *recent) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
}

func (r *recent) clear() {
	clear(r.evs)
	r.evs, r.sizes, r.bytes = r.evs[:0], r.sizes[:0], 0
}

// dropBefore forgets the events before seq (pruned).
func (r *recent) dropBefore(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	drop := 0
	for drop < len(r.evs) && r.first+uint64(drop) < seq {
		r.bytes -= r.sizes[drop]
		drop++
	}
	r.dropFirst(drop)
}

// events returns up to limit events after afterSeq (no limit when limit ≤ 0), up to the
// last one held; false when recent does not hold the event after afterSeq, or holds a
// hole in the range. The events share their metadata maps with recent: readers do not
// change them.
func (r *recent) events(afterSeq uint64, limit int) ([]event.Event, bool) {
	r.mu.Lock()
	first := r.first
	if len(r.evs) == 0 || afterSeq == math.MaxUint64 || afterSeq+1 < first || afterSeq+1 > first+uint64(len(r.evs))-1 {
		r.mu.Unlock()
		return nil, false
	}
	from := int(afterSeq + 1 - first)
	to := len(r.evs)
	if limit > 0 {
		to = min(to, from+limit)
	}
	out := slices.Clone(r.evs[from:to])
	r.mu.Unlock()
	for i := range out {
		var ok bool
		if out[i], ok = decodedForm(out[i]); !ok {
			return nil, false // a hole: the file answers
		}
	}
	return out, true
}

// decodedForm is ev as a read decodes it from the journal's JSON; false when that is
// not known without encoding and decoding it.
func decodedForm(ev event.Event) (event.Event, bool) {
	if ev.Seq == 0 || ev.RawMetadata != "" {
		return event.Event{}, false
	}
	for _, s := range [...]string{ev.ID, ev.EnvironmentID, ev.EnvironmentName, string(ev.Name), ev.Type,
		ev.Repository, ev.Branch, ev.CommitSHA, ev.Source} {
		if !utf8.ValidString(s) {
			return event.Event{}, false
		}
	}
	var ok bool
	if ev.Time, ok = decodedTime(ev.Time); !ok {
		return event.Event{}, false
	}
	if ev.RecordedAt, ok = decodedTime(ev.RecordedAt); !ok {
		return event.Event{}, false
	}
	if len(ev.Metadata) == 0 {
		ev.Metadata = nil // omitempty: read back as none
		return ev, true
	}
	if decodedScalars(ev.Metadata) {
		return ev, true // shared: neither recent nor its readers change it
	}
	m := make(map[string]any, len(ev.Metadata))
	for k, v := range ev.Metadata {
		if !utf8.ValidString(k) {
			return event.Event{}, false
		}
		if m[k], ok = decodedValue(v, 0); !ok {
			return event.Event{}, false
		}
	}
	ev.Metadata = m
	return ev, true
}

// decodedScalars reports whether m is its own decoded form: valid UTF-8 keys, values
// that JSON decodes to themselves (a marker's, most lifecycle events').
func decodedScalars(m map[string]any) bool {
	for k, v := range m {
		if !utf8.ValidString(k) {
			return false
		}
		switch v := v.(type) {
		case nil, bool:
		case string:
			if !utf8.ValidString(v) {
				return false
			}
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// decodedTime is t as RFC 3339 written and read back: only UTC times are known.
func decodedTime(t time.Time) (time.Time, bool) {
	if y := t.Year(); t.Location() != time.UTC || y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t.Round(0), true
}

// decodedValue is v as JSON written and read back into an interface value.
func decodedValue(v any, depth int) (any, bool) {
	if depth > maxDecodedNesting {
		return nil, false
	}
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return v, utf8.ValidString(v)
	case bool:
		return v, true
	case float64:
		return v, !math.IsInf(v, 0) && !math.IsNaN(v)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case uint32:
		return float64(v), true
	case map[string]any:
		if v == nil {
			return nil, true
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			d, ok := decodedValue(x, depth+1)
			if !ok || !utf8.ValidString(k) {
				return nil, false
			}
			m[k] = d
		}
		return m, true
	case []any:
		if v == nil {
			return nil, true
		}
		s := make([]any, len(v))
		for i, x := range v {
			d, ok := decodedValue(x, depth+1)
			if !ok {
				return nil, false
			}
			s[i] = d
		}
		return s, true
	}
	return nil, false
}

// maxDecodedNesting: deeper metadata is left to the file (the encoder's own bound is
// deeper; this only has to be no deeper than it).
const maxDecodedNesting = 16
