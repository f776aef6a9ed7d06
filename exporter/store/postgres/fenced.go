package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Fenced is the journal as the leader writes it: the tracker's commits of what the
// sources observed, the sinks' cursors and set-aside events, retention. Each write
// checks, in its own transaction, that the lease is still this replica's at the term's
// epoch (and first, on this machine's clock, that the term has not run out), else fails
// with ErrNotLeader and stores nothing. Reads are the Store's.
type Fenced struct {
	*Store
	l       *Lease
	cursors *lazyCursors
}

// Fenced returns the journal fenced by the term l.
func (s *Store) Fenced(l *Lease) *Fenced {
	return &Fenced{Store: s, l: l, cursors: newLazyCursors()}
}

// Lease is the term the writes are fenced by.
func (f *Fenced) Lease() *Lease { return f.l }

// Commit is Store.Commit, fenced.
func (f *Fenced) Commit(states []tracker.State, events []event.Event) ([]event.Event, error) {
	return f.Store.commit(f.l, states, events, nil, nil)
}

// CommitKeyed is Store.CommitKeyed, fenced.
func (f *Fenced) CommitKeyed(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	return f.Store.commit(f.l, states, events, keys, nil)
}

// Cursor returns the sink's cursor, one saved lazily in this term first.
func (f *Fenced) Cursor(sink string) (uint64, error) {
	if seq, ok := f.cursors.get(sink); ok {
		return seq, nil
	}
	return f.Store.storedCursor(sink)
}

// HasCursor reports whether the sink has a cursor, one saved lazily in this term first.
func (f *Fenced) HasCursor(sink string) (bool, error) {
	if _, ok := f.cursors.get(sink); ok {
		return true, nil
	}
	return f.Store.hasStoredCursor(sink)
}

// SetCursor is Store.SetCursor, fenced.
func (f *Fenced) SetCursor(sink string, seq uint64) error {
	if err := f.Store.setCursor(f.l, sink, seq); err != nil {
		return err
	}
	f.cursors.drop(sink)
	return nil
}

// SaveCursorLazily records the cursor in memory; FlushCursors writes it, fenced.
func (f *Fenced) SaveCursorLazily(sink string, seq uint64) { f.cursors.set(sink, seq) }

// FlushCursors writes the cursors saved lazily, fenced: a replica that lost the lease
// writes none (the new leader redelivers from the stored cursors, idempotently).
func (f *Fenced) FlushCursors() error { return f.Store.flushLazy(f.l, f.cursors) }

// SetAside is Store.SetAside, fenced.
func (f *Fenced) SetAside(sink string, e event.Event, reason string) error {
	return f.Store.setAside(f.l, sink, e, reason)
}

// Prune is Store.Prune, fenced; the cursors this term saved lazily are written first.
func (f *Fenced) Prune(recordedBefore time.Time, sinks []string) (int, error) {
	if err := f.FlushCursors(); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return f.Store.prune(f.l, recordedBefore, sinks)
}

// SetAsideUndelivered is Store.SetAsideUndelivered, fenced.
func (f *Fenced) SetAsideUndelivered(sink string, evs []event.Event, reason string) error {
	if err := f.Store.setAsideUndelivered(f.l, sink, evs, reason); err != nil {
		return err
	}
	f.cursors.drop(sink)
	return nil
}

// SetCursor durably records that the sink delivered every event up to seq (unfenced:
// the tools' path). It may move the cursor back, never beyond LastSeq.
func (s *Store) SetCursor(sink string, seq uint64) error {
	if err := s.setCursor(nil, sink, seq); err != nil {
		return err
	}
	s.cursors.drop(sink)
	return nil
}

// SaveCursorLazily records the cursor in memory, written by FlushCursors or Close.
func (s *Store) SaveCursorLazily(sink string, seq uint64) { s.cursors.set(sink, seq) }

// FlushCursors writes the cursors saved lazily.
func (s *Store) FlushCursors() error { return s.flushLazy(nil, s.cursors) }

// SetAside durably records that the sink rejected e for good (unfenced).
func (s *Store) SetAside(sink string, e event.Event, reason string) error {
	return s.setAside(nil, sink, e, reason)
}

// Prune applies retention by age (unfenced), as store.Store.Prune: never past what a
// sink named in sinks has not delivered; the cursors saved lazily are written first.
func (s *Store) Prune(recordedBefore time.Time, sinks []string) (int, error) {
	if err := s.FlushCursors(); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return s.prune(nil, recordedBefore, sinks)
}

// SetAsideUndelivered durably records evs (journal events in seq order, the first just
// after the sink's cursor) as set aside for the sink because it could not deliver them
// within retention.max_undelivered, and moves the sink's cursor to the last of them, in
// one transaction (unfenced), as store.Store.SetAsideUndelivered.
func (s *Store) SetAsideUndelivered(sink string, evs []event.Event, reason string) error {
	if err := s.setAsideUndelivered(nil, sink, evs, reason); err != nil {
		return err
	}
	s.cursors.drop(sink)
	return nil
}

func (s *Store) setAsideUndelivered(l *Lease, sink string, evs []event.Event, reason string) error {
	if err := store.CheckSink(sink); err != nil {
		return fmt.Errorf("set aside undelivered: %w", err)
	}
	if len(evs) == 0 {
		return nil
	}
	at := s.now().UTC()
	seqs := make([]int64, len(evs))
	vals := make([]string, len(evs))
	for i, e := range evs {
		if e.Seq == 0 || (i > 0 && e.Seq <= evs[i-1].Seq) {
			return fmt.Errorf("set aside undelivered %s: events not in journal order", sink)
		}
		b, err := json.Marshal(store.SetAsideEntry{Event: e, Reason: reason, At: at})
		if err != nil {
			return fmt.Errorf("set aside undelivered %s: event %d: %w", sink, e.Seq, err)
		}
		seqs[i], vals[i] = int64(e.Seq), string(b)
	}
	last := evs[len(evs)-1].Seq
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		var head int64
		if err := tx.QueryRow(ctx, "SELECT last_seq FROM envtrack_meta WHERE id = 1").Scan(&head); err != nil {
			return err
		}
		if last > uint64(head) {
			return fmt.Errorf("seq %d is beyond the last event %d", last, head)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO envtrack_undelivered (sink, seq, entry)
			SELECT $1, seq, entry FROM unnest($2::bigint[], $3::json[]) AS u(seq, entry)
			ON CONFLICT (sink, seq) DO UPDATE SET entry = EXCLUDED.entry`, sink, seqs, vals); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO envtrack_cursors (sink, seq) VALUES ($1, $2)
			ON CONFLICT (sink) DO UPDATE SET seq = EXCLUDED.seq`, sink, int64(last))
		return err
	})
	if err != nil {
		return fmt.Errorf("set aside undelivered %s: events %d-%d: %w", sink, evs[0].Seq, last, err)
	}
	return nil
}

// UndeliveredCount returns how many events SetAsideUndelivered recorded for the sink.
func (s *Store) UndeliveredCount(sink string) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM envtrack_undelivered WHERE sink = $1", sink).Scan(&n); err != nil {
		return 0, fmt.Errorf("undelivered count of %s: %w", sink, s.mapErr(err))
	}
	return n, nil
}

// Undelivered returns the events set aside for the sink by SetAsideUndelivered, in seq
// order.
func (s *Store) Undelivered(sink string) ([]store.SetAsideEntry, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT entry FROM envtrack_undelivered WHERE sink = $1 ORDER BY seq", sink)
	if err != nil {
		return nil, fmt.Errorf("undelivered events of %s: %w", sink, s.mapErr(err))
	}
	var (
		out []store.SetAsideEntry
		b   []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&b}, func() error {
		var e store.SetAsideEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("undelivered events of %s: %w", sink, s.mapErr(err))
	}
	return out, nil
}

const upsertCursors = `INSERT INTO envtrack_cursors (sink, seq)
	SELECT u.sink, u.seq FROM unnest($1::text[], $2::bigint[]) AS u(sink, seq), envtrack_meta m
	WHERE m.id = 1 AND u.seq <= m.last_seq
	ON CONFLICT (sink) DO UPDATE SET seq = EXCLUDED.seq`

func (s *Store) setCursor(l *Lease, sink string, seq uint64) error {
	if err := store.CheckSink(sink); err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, upsertCursors, []string{sink}, []int64{int64(seq)})
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("seq %d is beyond the last event", seq)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set cursor %s: %w", sink, err)
	}
	return nil
}

func (s *Store) flushLazy(l *Lease, lc *lazyCursors) error {
	pending := lc.take()
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		lc.restore(pending)
		return fmt.Errorf("flush cursors: %w", err)
	}
	defer cancel()
	names := make([]string, 0, len(pending))
	seqs := make([]int64, 0, len(pending))
	for n, v := range pending {
		names, seqs = append(names, n), append(seqs, int64(v))
	}
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, upsertCursors, names, seqs)
		return err
	})
	if err != nil {
		if !errors.Is(err, ErrNotLeader) {
			lc.restore(pending)
		}
		return fmt.Errorf("flush cursors: %w", err)
	}
	return nil
}

func (s *Store) setAside(l *Lease, sink string, e event.Event, reason string) error {
	if err := store.CheckSink(sink); err != nil {
		return fmt.Errorf("set aside: %w", err)
	}
	if e.Seq == 0 {
		return fmt.Errorf("set aside %s: event %q of %q has no sequence number (not from the journal)", sink, e.Name, e.EnvironmentID)
	}
	b, err := json.Marshal(store.SetAsideEntry{Event: e, Reason: reason, At: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("set aside %s: event %d: %w", sink, e.Seq, err)
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO envtrack_set_aside (sink, seq, entry) VALUES ($1, $2, $3)
			ON CONFLICT (sink, seq) DO UPDATE SET entry = EXCLUDED.entry`, sink, int64(e.Seq), string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("set aside %s: event %d: %w", sink, e.Seq, err)
	}
	return nil
}

// PutSetAside stores an entry as it is (store copy).
func (s *Store) PutSetAside(sink string, e store.SetAsideEntry) error {
	return s.putEntry("envtrack_set_aside", sink, e)
}

// prune deletes the events recorded before recordedBefore that every sink named in
// sinks has delivered, from the start of the journal only (as store.Store.Prune), with
// their identities, in transactions of at most pruneBatch events; expires the
// Idempotency-Keys recorded before it; and tombstones the states of environments
// terminated before it.
func (s *Store) prune(l *Lease, before time.Time, sinks []string) (int, error) {
	total := 0
	for {
		n, err := s.pruneEvents(l, before, sinks)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if n < pruneBatch {
			break
		}
	}
	keys, err := s.pruneKeys(l, before)
	if err != nil {
		return total, fmt.Errorf("prune idempotency keys: %w", err)
	}
	states, err := s.pruneStates(l, before)
	if err != nil {
		return total, fmt.Errorf("prune: %w", err)
	}
	if _, err := s.pruneGaps(l, before); err != nil {
		return total, fmt.Errorf("prune gaps: %w", err)
	}
	if total > 0 || states > 0 || keys > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_ = s.pollHead(ctx)
		cancel()
		level.Info(s.logger).Log("msg", "pruned journal", "recorded_before", before.UTC().Format(time.RFC3339),
			"events", total, "idempotency_keys", keys, "environments", states, "first_seq", s.first.Load())
	}
	return total, nil
}

func (s *Store) pruneEvents(l *Lease, before time.Time, sinks []string) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	if sinks == nil {
		sinks = []string{}
	}
	var (
		n    int
		upTo int64 // the last seq deleted
	)
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		// The first event to keep: the first recorded at or after before, or the first a
		// named sink has not delivered (a sink without a cursor has delivered nothing).
		// An identity leaves with its event unless a later event holds it (its seq).
		return tx.QueryRow(ctx, `WITH gone AS (
			DELETE FROM envtrack_events WHERE seq IN (
				SELECT seq FROM envtrack_events
				WHERE seq < coalesce((SELECT min(seq) FROM envtrack_events WHERE recorded_at >= $1), 9223372036854775807)
				  AND seq < coalesce((SELECT min(coalesce(c.seq, 0) + 1) FROM unnest($3::text[]) AS u(sink)
				                      LEFT JOIN envtrack_cursors c ON c.sink = u.sink), 9223372036854775807)
				ORDER BY seq LIMIT $2)
			RETURNING seq),
		ids AS (DELETE FROM envtrack_identities WHERE seq IN (SELECT seq FROM gone))
		SELECT count(*), coalesce(max(seq), 0) FROM gone`, before, pruneBatch, sinks).Scan(&n, &upTo)
	})
	if err != nil {
		return 0, err
	}
	s.recent.DropBefore(uint64(upTo) + 1)
	s.metrics.Pruned.Add(float64(n))
	return n, nil
}

func (s *Store) pruneKeys(l *Lease, before time.Time) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	n := 0
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM envtrack_idempotency WHERE recorded_at < $1", before)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

func (s *Store) pruneStates(l *Lease, before time.Time) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	var any bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM envtrack_environments
		WHERE terminated_at < $1 AND state IS NOT NULL)`, before).Scan(&any); err != nil {
		return 0, s.mapErr(err)
	}
	n := 0
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		// The head lock: the tombstones join the change feed in commit order.
		var rev int64
		if any {
			if err := tx.QueryRow(ctx, "UPDATE envtrack_meta SET state_rev = state_rev + 1 WHERE id = 1 RETURNING state_rev").Scan(&rev); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE envtrack_environments
				SET state = NULL, version = version + 1, rev = $2, terminated_at = NULL, deleted_at = $3
				WHERE terminated_at < $1 AND state IS NOT NULL`, before, rev, s.now().UTC())
			if err != nil {
				return err
			}
			n = int(tag.RowsAffected())
		}
		_, err := tx.Exec(ctx, "DELETE FROM envtrack_environments WHERE state IS NULL AND deleted_at < $1",
			s.now().Add(-tombstoneKeep))
		return err
	})
	return n, err
}

// lazyCursors are sink cursors saved in memory, written by the next flush (every
// delivery is idempotent: a crash costs a redelivery of the last second).
type lazyCursors struct {
	mu      sync.Mutex
	pending map[string]uint64
}

func newLazyCursors() *lazyCursors { return &lazyCursors{pending: map[string]uint64{}} }

func (c *lazyCursors) get(sink string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.pending[sink]
	return v, ok
}

func (c *lazyCursors) set(sink string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[sink] = seq
}

func (c *lazyCursors) drop(sink string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, sink)
}

func (c *lazyCursors) take() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	c.pending = map[string]uint64{}
	return p
}

func (c *lazyCursors) restore(p map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range p {
		if _, newer := c.pending[k]; !newer {
			c.pending[k] = v
		}
	}
}
