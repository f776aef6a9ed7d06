package query

import (
	"context"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Markers returns the deployment markers (001, pushed by CI) whose time is in
// [from, to), in time order. They live in the journal only as far as the pages are
// concerned: the journal is the source of truth and keeps journal.retention of them.
func (j *JournalBackend) Markers(_ context.Context, from, to time.Time) ([]event.Event, error) {
	evs, err := j.st.EventsBetween(from, to)
	if err != nil {
		return nil, err
	}
	return markersOnly(evs), nil
}

// EnvironmentMarkers returns the deployment markers pushed for environment id.
func (j *JournalBackend) EnvironmentMarkers(_ context.Context, id string) ([]event.Event, error) {
	evs, err := j.st.EnvironmentEvents(id)
	if err != nil {
		return nil, err
	}
	return markersOnly(evs), nil
}

func markersOnly(evs []event.Event) []event.Event {
	out := evs[:0:0]
	for _, e := range evs {
		if e.IsMarker() {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out
}
