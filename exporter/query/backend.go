// Package query answers timeline and performance questions (DESIGN §3) from lifecycle
// events. The shaping (timeline documents, exact percentiles, success rates, targets,
// recommendations) lives here once; a Backend only fetches events, from InfluxDB with
// Flux (package exporter/influxdb) or from the embedded journal (JournalBackend), so that an
// InfluxQL backend for InfluxDB 3 can sit beside them.
package query

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// ErrUnavailable wraps a backend failure to reach its TSDB (the API answers 503).
var ErrUnavailable = errors.New("time series database unavailable")

// ErrRefused wraps a read the TSDB answered but refused or could not serve: a bad
// token, Flux turned off, an unknown database, an answer that is no answer (the API
// answers 502 with the reason).
var ErrRefused = errors.New("time series database refused the read")

// Backend fetches lifecycle events (never deployment markers).
type Backend interface {
	// EnvironmentEvents returns one environment's events in time order (nil when none).
	EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error)
	// Range returns the events named in names (all names when empty) whose time is in
	// [from, to), of environment type typ ("" for every type), in time order.
	Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error)
}

// RawMetadataBackend is a Backend that can leave a timeline's metadata as the JSON it
// found stored (event.Event.RawMetadata) where that is exactly what json.Marshal writes
// for it: the API writes the text as it is rather than decode and encode it again.
type RawMetadataBackend interface {
	// EnvironmentEventsRaw calls f with EnvironmentEvents' events, RawMetadata kept;
	// the slice may be reused once f returns (f keeps nothing of it but its strings).
	EnvironmentEventsRaw(ctx context.Context, id string, f func([]event.Event) error) error
}

// HTTPStatus is the status an answer carries for a query that failed with err: 404 for
// ErrNotFound, 503 for ErrUnavailable (the TSDB is unreachable), 502 for ErrRefused
// (it answered with a refusal), 499 when the client went away, else 500.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRefused):
		return http.StatusBadGateway
	case errors.Is(err, context.Canceled):
		return 499 // nginx's "client closed request": nobody reads it
	}
	return http.StatusInternalServerError
}

// MarkerBackend is a Backend that also reads CI's deployment markers (001): the
// journal, or InfluxDB's deployments measurement.
type MarkerBackend interface {
	Backend
	// Markers returns the markers whose time is in [from, to), in time order.
	Markers(ctx context.Context, from, to time.Time) ([]event.Event, error)
	// EnvironmentMarkers returns the markers pushed for environment id, in time order.
	EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error)
}
