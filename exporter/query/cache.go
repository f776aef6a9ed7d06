package query

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/event"
)

// SeqJournal is a Journal that can also be read incrementally by sequence number.
type SeqJournal interface {
	Journal
	Events(afterSeq uint64, limit int) ([]event.Event, error)
	FirstSeq() uint64
}

// cachedNames are the events the statistics and charts read (Performance and Chart).
var cachedNames = []event.Name{event.Ready, event.ProvisioningFailed, event.Terminated, event.ProvisioningStarted, event.Deployed}

// cachedMeta are the metadata keys the statistics, charts and marker bars read.
var cachedMeta = []string{"late", "baseline", "reason", "revision", "kind", "activity", "failed",
	event.MetaProvisioningDuration, event.MetaQueueDuration, event.MetaTerminationDuration}

// CachedJournal is a Backend over the journal that keeps the events the statistics need
// decoded in memory (names in cachedNames, metadata trimmed to cachedMeta, no
// descriptive strings) and reads only what the journal appended since the last call.
// Decoding the whole journal for every window (JournalBackend) costs about a second per
// 100,000 events; the pages ask several windows per view. Pruned events leave the cache
// as the journal's first sequence advances. Timelines still read the journal's
// per-environment index.
type CachedJournal struct {
	st SeqJournal

	mu    sync.Mutex
	evs   []event.Event // time order
	last  uint64        // the last seq read
	first uint64        // the journal's first seq at the last refresh
}

// NewCachedJournal returns a CachedJournal over st.
func NewCachedJournal(st SeqJournal) *CachedJournal { return &CachedJournal{st: st} }

// refresh reads what the journal appended and forgets what it pruned. Callers hold mu.
func (c *CachedJournal) refresh() error {
	if first := c.st.FirstSeq(); first > c.first {
		c.first = first
		kept := make([]event.Event, 0, len(c.evs)) // a new array: the pruned can be collected
		for _, e := range c.evs {
			if e.Seq >= first {
				kept = append(kept, e)
			}
		}
		c.evs = kept
	}
	// The cache is kept in time order (ties in seq order, as JournalBackend's stable
	// sort leaves them), so that a Range is one filtering pass and no sort.
	defer func() { sortByTime(c.evs) }()
	for {
		batch, err := c.st.Events(c.last, 10000)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, e := range batch {
			c.last = e.Seq
			if !slices.Contains(cachedNames, e.Name) {
				continue
			}
			var meta map[string]any
			for _, k := range cachedMeta {
				if v, ok := e.Metadata[k]; ok {
					if meta == nil {
						meta = make(map[string]any, 2)
					}
					meta[k] = v
				}
			}
			c.evs = append(c.evs, event.Event{Seq: e.Seq, EnvironmentID: e.EnvironmentID, Name: e.Name, Time: e.Time,
				Type: e.Type, Metadata: meta})
		}
	}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, err
	}
	keep := func(e *event.Event) bool {
		return !e.Time.Before(from) && e.Time.Before(to) && (typ == "" || e.Type == typ) && slices.Contains(names, e.Name) && !e.IsMarker()
	}
	n := 0 // counted first: growing a slice of 100,000 events costs more than the filter
	for i := range c.evs {
		if keep(&c.evs[i]) {
			n++
		}
	}
	out := make([]event.Event, 0, n)
	for i := range c.evs {
		if keep(&c.evs[i]) {
			out = append(out, c.evs[i])
		}
	}
	return out, nil
}

// Markers returns the deployment markers whose time is in [from, to), in time order.
func (c *CachedJournal) Markers(_ context.Context, from, to time.Time) ([]event.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, err
	}
	var out []event.Event
	for _, e := range c.evs {
		if e.IsMarker() && !e.Time.Before(from) && e.Time.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

// sortByTime sorts stably by time; the journal is nearly in time order already.
func sortByTime(evs []event.Event) {
	byTime := func(a, b event.Event) int { return a.Time.Compare(b.Time) }
	if !slices.IsSortedFunc(evs, byTime) {
		slices.SortStableFunc(evs, byTime)
	}
}

// EnvironmentMarkers returns the deployment markers pushed for environment id.
func (c *CachedJournal) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	return NewJournalBackend(c.st).EnvironmentMarkers(ctx, id)
}
