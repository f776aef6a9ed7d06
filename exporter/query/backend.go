// Package query answers timeline and performance questions (DESIGN §3) from lifecycle
// events. The shaping (timeline documents, exact percentiles, success rates, targets,
// recommendations) lives here once; a Backend only fetches events, from InfluxDB with
// Flux (package exporter/influxdb) or from the embedded journal (JournalBackend), so that an
// InfluxQL backend for InfluxDB 3 can sit beside them.
package query

import (
	"context"
	"errors"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// ErrUnavailable wraps a backend failure to reach its TSDB (the API answers 503).
var ErrUnavailable = errors.New("time series database unavailable")

// Backend fetches lifecycle events (never deployment markers).
type Backend interface {
	// EnvironmentEvents returns one environment's events in time order (nil when none).
	EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error)
	// Range returns the events named in names (all names when empty) whose time is in
	// [from, to), of environment type typ ("" for every type), in time order.
	Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error)
}
