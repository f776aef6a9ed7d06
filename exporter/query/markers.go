package query

import (
	"context"
	"sort"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Markers returns the window's deployment markers from the backend, nil when it keeps
// none.
func (s *Service) Markers(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	if m, ok := s.backend.(MarkerBackend); ok {
		return m.Markers(ctx, from, to)
	}
	return nil, nil
}

// EnvironmentMarkers returns environment id's deployment markers from the backend, nil
// when it keeps none.
func (s *Service) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	if m, ok := s.backend.(MarkerBackend); ok {
		return m.EnvironmentMarkers(ctx, id)
	}
	return nil, nil
}

// Markers returns the deployment markers (001, pushed by CI) whose time is in
// [from, to), in time order. The journal keeps journal.retention of them.
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

var (
	_ MarkerBackend = (*JournalBackend)(nil)
	_ MarkerBackend = (*CachedJournal)(nil)
)
