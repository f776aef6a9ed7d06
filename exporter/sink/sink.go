// Package sink delivers the journal to the systems users run (InfluxDB, Grafana, ...).
// Each sink reads from the journal at its own durable cursor, in order, at least once;
// deliveries are idempotent, so a replay after a crash changes nothing downstream.
package sink

import (
	"context"
	"errors"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Sink is one delivery target. Deliver sends the events, in order, as one batch.
//
// It returns retry=true with an error when the failure is transient (connection refused,
// timeout, 429, 5xx): the same batch is tried again later, with backoff, and the cursor
// does not move. A refused token or a wrong URL (401, 403, 404) is a configuration
// problem of the whole sink, not of the events: it is retried too, while the lag grows
// (a webhook endpoint, which answers for each event, is the exception: exporter/webhook).
// retry=false with an error is a permanent rejection of the events themselves (400, 422,
// a point InfluxDB will never take): the runner isolates the offending events and
// sets them aside (counted, logged with the event, recorded in the store), never retrying
// them forever and never dropping them silently.
//
// A retryable error may say how long the target asked to wait (HTTP Retry-After) with a
// method RetryAfter() time.Duration: the runner then waits at least that long.
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

// Reconciler is a Sink that repairs after the fact what idempotent delivery cannot
// prevent when more than one process delivers: a request a paused leader had on the wire
// before it lost its lease, landing after the next leader delivered the same event
// (Grafana, which has no idempotent create, then holds two annotations of one event).
// NextReconcile says when it next has something to check (ok false: nothing); the runner
// calls Reconcile then, while it waits for events, on the leader only as every delivery.
// An error is logged; the sink keeps what it could not check for a later call.
type Reconciler interface {
	Sink
	NextReconcile() (at time.Time, ok bool)
	Reconcile(ctx context.Context) error
}

// Selective is a Sink that takes only some of the journal's events (a webhook endpoint's
// filters). The runner passes over the others: its cursor moves past them, and they are
// neither given to Deliver nor counted as delivered.
type Selective interface {
	Sink
	Wants(e event.Event) bool
}

// Limited is a Sink that takes at most MaxBatch events per Deliver call, however large
// delivery.batch_size is. A webhook endpoint takes one event per request, and a retry
// of a failed event must not send again the events delivered before it: with batches of
// one, the cursor moves after each event.
type Limited interface {
	Sink
	MaxBatch() int
}

// Current is a Sink that takes only what the journal receives after it was added: when
// the journal holds no cursor for it, its runner starts it at the journal's end (a
// durable cursor at once), not at the retained history. A webhook endpoint added to a
// running envtrack is not sent the weeks before it existed.
type Current interface {
	Sink
	StartAtEnd() bool
}

// RetryAfter is how long err asks to wait before the next attempt, 0 when it does not
// say (see Sink).
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

// Journal is what a Runner needs of the journal (*store.Store): the events after a
// sequence number, a wake-up on each commit, the sink's cursor (and whether it has one)
// and the set-aside list.
// Declared by its consumer, as tsdb/wlog's consumers declare theirs.
//
// SetCursor is durable at once; SaveCursorLazily only in memory, until the journal's next
// commit or FlushCursors writes it (deliveries are idempotent, so a crash costs a
// redelivery of the last moments, not a lost event). Retention keeps every event a
// sink's durable cursor has not passed (retention.Journal).
type Journal interface {
	LastSeq() uint64
	Events(afterSeq uint64, limit int) ([]event.Event, error)
	Subscribe() (notify <-chan struct{}, unsubscribe func())
	Cursor(sink string) (uint64, error)
	HasCursor(sink string) (bool, error)
	SetCursor(sink string, seq uint64) error
	SaveCursorLazily(sink string, seq uint64)
	FlushCursors() error
	SetAside(sink string, e event.Event, reason string) error
	SetAsideCount(sink string) (int, error)
	// SetAsideUndelivered durably records evs (journal events in seq order, the first
	// just after the sink's cursor) as set aside for the sink, each with the reason,
	// because the sink could not deliver them within retention.max_undelivered, and
	// moves the sink's durable cursor to the last of them: one transaction, both or
	// neither. Setting an event aside again replaces its record (a retry after a crash).
	// A cursor saved lazily for the sink and not yet written is dropped: this one wins.
	SetAsideUndelivered(sink string, evs []event.Event, reason string) error
	// UndeliveredCount returns how many events SetAsideUndelivered recorded for the
	// sink (durable: the count survives restarts).
	UndeliveredCount(sink string) (int, error)
}
