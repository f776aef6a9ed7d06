// Package sink delivers the journal to the systems users run (InfluxDB, Grafana, ...).
// Each sink reads from the journal at its own durable cursor, in order, at least once;
// deliveries are idempotent, so a replay after a crash changes nothing downstream.
package sink

import (
	"context"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Sink is one delivery target. Deliver sends the events, in order, as one batch.
//
// It returns retry=true with an error when the failure is transient (connection refused,
// timeout, 429, 5xx): the same batch is tried again later, with backoff, and the cursor
// does not move. A refused token or a wrong URL (401, 403, 404) is a configuration
// problem of the whole sink, not of the events: it is retried too, while the lag grows.
// retry=false with an error is a permanent rejection of the events themselves (400, 422,
// a point InfluxDB will never take): the runner isolates the offending events and
// sets them aside (counted, logged with the event, recorded in the store), never retrying
// them forever and never dropping them silently.
type Sink interface {
	Name() string
	Deliver(ctx context.Context, events []event.Event) (retry bool, err error)
}

// Resumer is a Sink that remembers what it delivered, to skip repeats without asking
// its system (Grafana's annotations). Each Run calls Resume first: since the sink's last
// run another process may have delivered from the same cursor (another replica led
// meanwhile), so what the sink remembers is no longer all there is.
type Resumer interface {
	Resume()
}

// Journal is what a Runner needs of the journal (*store.Store): the events after a
// sequence number, a wake-up on each commit, the sink's cursor and the set-aside list.
// Declared by its consumer, as tsdb/wlog's consumers declare theirs.
//
// SetCursor is durable at once; SaveCursorLazily only in memory, until the journal's next
// commit or FlushCursors writes it (deliveries are idempotent, so a crash costs a
// redelivery of the last moments, not a lost event).
type Journal interface {
	LastSeq() uint64
	Events(afterSeq uint64, limit int) ([]event.Event, error)
	Subscribe() (notify <-chan struct{}, unsubscribe func())
	Cursor(sink string) (uint64, error)
	SetCursor(sink string, seq uint64) error
	SaveCursorLazily(sink string, seq uint64)
	FlushCursors() error
	SetAside(sink string, e event.Event, reason string) error
	SetAsideCount(sink string) (int, error)
}
