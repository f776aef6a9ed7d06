package query

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// SeqJournal is a Journal that can also be read incrementally by sequence number.
type SeqJournal interface {
	Journal
	Events(afterSeq uint64, limit int) ([]event.Event, error)
	FirstSeq() uint64
}

// cachedNames are the events the statistics and charts read (Performance and Chart).
var cachedNames = []event.Name{event.Ready, event.ProvisioningFailed, event.Terminated, event.ProvisioningStarted, event.Deployed}

// CachedJournal is a Backend over the journal that keeps what the statistics need in
// memory, compact (facts: no metadata map, no descriptive strings), plus CI's deployment
// markers, and reads only what the journal appended since the last call. Decoding the
// whole journal for every window (JournalBackend) costs about a second per 100,000
// events; the pages ask several windows per view. Pruned events leave the cache as the
// journal's first sequence advances. Timelines still read the journal's
// per-environment index.
//
// Both slices are in time order (ties in seq order, as JournalBackend's stable sort
// leaves them) and copy-on-write: a window is a subslice found by binary search and
// handed out without a copy; a refresh only appends past every handed-out length, and
// builds a new array when it must sort or prune.
type CachedJournal struct {
	st SeqJournal

	mu    sync.Mutex
	all   []fact        // lifecycle events of cachedNames, time order
	marks []event.Event // deployment markers, metadata kept, time order
	last  uint64        // the last seq read
	first uint64        // the journal's first seq at the last refresh
}

// NewCachedJournal returns a CachedJournal over st.
func NewCachedJournal(st SeqJournal) *CachedJournal { return &CachedJournal{st: st} }

// refresh reads what the journal appended and forgets what it pruned. Callers hold mu.
func (c *CachedJournal) refresh() error {
	if first := c.st.FirstSeq(); first > c.first {
		c.first = first
		// New arrays: the pruned can be collected, handed-out windows stay as they were.
		c.all = slices.DeleteFunc(slices.Clone(c.all), func(f fact) bool { return f.seq < first })
		c.marks = slices.DeleteFunc(slices.Clone(c.marks), func(e event.Event) bool { return e.Seq < first })
	}
	nf, nm := len(c.all), len(c.marks)
	defer func() {
		c.all = sortedFrom(c.all, nf, func(a, b fact) int { return a.Time.Compare(b.Time) })
		c.marks = sortedFrom(c.marks, nm, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	}()
	for {
		batch, err := c.st.Events(c.last, 10000)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			e := &batch[i]
			c.last = e.Seq
			if !slices.Contains(cachedNames, e.Name) {
				continue
			}
			if e.IsMarker() {
				c.marks = append(c.marks, event.Event{Seq: e.Seq, EnvironmentID: e.EnvironmentID, Name: e.Name, Time: e.Time,
					Type: e.Type, Metadata: trimMeta(e.Metadata, markerMeta)})
				continue
			}
			c.all = append(c.all, factOf(e))
		}
	}
}

// markerMeta are the metadata keys the marker bars read.
var markerMeta = []string{"kind", "activity", "failed", "revision"}

func trimMeta(m map[string]any, keys []string) map[string]any {
	var out map[string]any
	for _, k := range keys {
		if v, ok := m[k]; ok {
			if out == nil {
				out = make(map[string]any, 2)
			}
			out[k] = v
		}
	}
	return out
}

// sortedFrom returns xs in time order (stable), where xs[:n] already is. When the
// appended tail is out of order, the result is a new array, so that windows handed out
// before keep their contents.
func sortedFrom[T any](xs []T, n int, byTime func(a, b T) int) []T {
	lo := max(n-1, 0)
	if slices.IsSortedFunc(xs[lo:], byTime) {
		return xs
	}
	xs = slices.Clone(xs)
	slices.SortStableFunc(xs, byTime)
	return xs
}

// window is the subslice of xs (time order) whose time is in [from, to), capped so
// that appending to the cache never writes into it.
func window[T any](xs []T, from, to time.Time, at func(T) time.Time) []T {
	i, _ := slices.BinarySearchFunc(xs, from, func(x T, t time.Time) int { return at(x).Compare(t) })
	j, _ := slices.BinarySearchFunc(xs, to, func(x T, t time.Time) int { return at(x).Compare(t) })
	// BinarySearchFunc finds the first element >= the target: [i, j) is [from, to).
	return xs[i:j:j]
}

// facts implements factSource.
func (c *CachedJournal) facts(_ context.Context, from, to time.Time) ([]fact, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, err
	}
	return window(c.all, from, to, func(f fact) time.Time { return f.Time }), nil
}

// EnvironmentEvents implements Backend.
func (c *CachedJournal) EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error) {
	return NewJournalBackend(c.st).EnvironmentEvents(ctx, id)
}

// Range implements Backend. Names outside the cache are read from the journal.
func (c *CachedJournal) Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	if len(names) == 0 || slices.ContainsFunc(names, func(n event.Name) bool { return !slices.Contains(cachedNames, n) }) {
		return NewJournalBackend(c.st).Range(ctx, from, to, typ, names...)
	}
	fs, err := c.facts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var out []event.Event
	for i := range fs {
		if (typ == "" || fs[i].Type == typ) && slices.Contains(names, fs[i].Name) {
			out = append(out, fs[i].event())
		}
	}
	return out, nil
}

// Markers returns the deployment markers whose time is in [from, to), in time order.
// The slice is shared with the cache: callers only read it.
func (c *CachedJournal) Markers(_ context.Context, from, to time.Time) ([]event.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, err
	}
	return window(c.marks, from, to, func(e event.Event) time.Time { return e.Time }), nil
}

// EnvironmentMarkers returns the deployment markers pushed for environment id.
func (c *CachedJournal) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	return NewJournalBackend(c.st).EnvironmentMarkers(ctx, id)
}
