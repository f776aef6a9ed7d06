package query

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Journal is what JournalBackend reads of the embedded journal (*store.Store). Declared
// here so that the query documents and their clients do not link the store.
type Journal interface {
	EnvironmentEvents(id string) ([]event.Event, error)
	EventsBetween(from, to time.Time) ([]event.Event, error)
}

// JournalBackend answers from the embedded journal, when no InfluxDB is configured. It
// holds what retention keeps (journal.retention).
type JournalBackend struct{ st Journal }

// NewJournalBackend returns a Backend over the journal.
func NewJournalBackend(st Journal) *JournalBackend { return &JournalBackend{st: st} }

// EnvironmentEvents implements Backend.
func (j *JournalBackend) EnvironmentEvents(_ context.Context, id string) ([]event.Event, error) {
	evs, err := j.st.EnvironmentEvents(id)
	if err != nil {
		return nil, err
	}
	evs = lifecycleOnly(evs)
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time.Before(evs[b].Time) })
	return evs, nil
}

// Range implements Backend.
func (j *JournalBackend) Range(_ context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	evs, err := j.st.EventsBetween(from, to)
	if err != nil {
		return nil, err
	}
	out := evs[:0]
	for _, e := range evs {
		if !e.IsLifecycle() || (typ != "" && e.Type != typ) || (len(names) > 0 && !slices.Contains(names, e.Name)) {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out, nil
}
