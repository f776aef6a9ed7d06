package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// What `envtrack store copy` writes into a journal: another journal's identity, its
// events and states as they are (their Seq, ID and RecordedAt kept, so that the sinks'
// idempotency, which goes by event id, holds across the move). The daemons must be
// stopped meanwhile.

// Adopt makes id and createdAt this journal's identity. Only a journal that never held
// an event takes another identity; one that holds id already is left as it is.
func (s *Store) Adopt(id string, createdAt time.Time) error {
	if id == s.journalID {
		return nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	createdAt = createdAt.UTC().Truncate(time.Second)
	tag, err := s.pool.Exec(ctx, "UPDATE envtrack_meta SET journal_id = $1, created_at = $2 WHERE id = 1 AND last_seq = 0", id, createdAt)
	if err != nil {
		return fmt.Errorf("adopt journal identity: %w", s.mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("the destination holds another journal (%s, %d events): copy into an empty one", s.journalID, s.last.Load())
	}
	s.journalID, s.createdAt = id, createdAt
	return nil
}

// Append stores events as they are. The first follows the journal's last, or starts an
// empty journal at any sequence number (a source whose start was pruned); the others
// follow each other.
func (s *Store) Append(events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	var (
		seqs   = make([]int64, len(events))
		envs   = make([]string, len(events))
		names  = make([]string, len(events))
		times  = make([]time.Time, len(events))
		recs   = make([]time.Time, len(events))
		ikeys  = make([]*string, len(events))
		bodies = make([]string, len(events))
	)
	for i, ev := range events {
		if i > 0 && ev.Seq != events[i-1].Seq+1 || ev.Seq == 0 || store.CheckID(ev.EnvironmentID) != nil && !ev.IsGap() {
			return fmt.Errorf("append: event %d: not the next event of a journal", ev.Seq)
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		seqs[i], envs[i], names[i], times[i], recs[i], bodies[i] = int64(ev.Seq), ev.EnvironmentID, string(ev.Name), ev.Time, ev.RecordedAt, string(body)
		if k, _ := ev.Meta(tracker.MetaIdempotencyKey).(string); k != "" {
			ikeys[i] = &k
		}
	}
	first, last := int64(events[0].Seq), int64(events[len(events)-1].Seq)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var cur int64
		if err := tx.QueryRow(ctx, "SELECT last_seq FROM envtrack_meta WHERE id = 1 FOR UPDATE").Scan(&cur); err != nil {
			return err
		}
		if cur != 0 && first != cur+1 {
			return fmt.Errorf("event %d does not follow %d", first, cur)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO envtrack_events (seq, environment_id, name, time, recorded_at, idempotency_key, body)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::json[])`,
			seqs, envs, names, times, recs, ikeys, bodies); err != nil {
			return err
		}
		if idents, iords := identityRows(events); len(idents) > 0 {
			iseqs := make([]int64, len(iords))
			for i, o := range iords {
				iseqs[i] = int64(events[o-1].Seq)
			}
			if _, err := tx.Exec(ctx, upsertIdentities, idents, iseqs); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE envtrack_meta SET last_seq = $1 WHERE id = 1", last); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(last, 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("append: %w", s.mapErr(err))
	}
	s.recent.Reset() // what follows is not a commit's
	s.first.CompareAndSwap(0, uint64(first))
	s.advance(uint64(last))
	s.broadcast()
	return nil
}

// ReplaceStates makes states the journal's tracker states, and only them (the others
// become tombstones, which the replicas' trackers follow).
func (s *Store) ReplaceStates(states map[string]tracker.State) error {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	ids := make([]string, 0, len(states))
	bodies := make([]string, 0, len(states))
	terms := make([]*time.Time, 0, len(states))
	for id, st := range states {
		if id != st.ID || store.CheckID(id) != nil {
			return fmt.Errorf("replace states: %q: not a journal's state", id)
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		ids, bodies = append(ids, id), append(bodies, string(b))
		var term *time.Time
		if !st.TerminatedAt.IsZero() {
			t := st.TerminatedAt
			term = &t
		}
		terms = append(terms, term)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var rev int64
		if err := tx.QueryRow(ctx, "UPDATE envtrack_meta SET state_rev = state_rev + 1 WHERE id = 1 RETURNING state_rev").Scan(&rev); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE envtrack_environments SET state = NULL, version = version + 1, rev = $2,
			terminated_at = NULL, deleted_at = now() WHERE state IS NOT NULL AND NOT id = ANY($1)`, ids, rev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO envtrack_environments (id, version, rev, state, terminated_at)
			SELECT id, 1, $4, st, term FROM unnest($1::text[], $2::json[], $3::timestamptz[]) AS u(id, st, term)
			ON CONFLICT (id) DO UPDATE SET version = envtrack_environments.version + 1, rev = EXCLUDED.rev,
				state = EXCLUDED.state, terminated_at = EXCLUDED.terminated_at, deleted_at = NULL`, ids, bodies, terms, rev)
		return err
	})
	if err != nil {
		return fmt.Errorf("replace states: %w", s.mapErr(err))
	}
	return nil
}

// PutUndelivered stores an entry set aside for a sink that could not deliver it as it
// is (store copy).
func (s *Store) PutUndelivered(sink string, e store.SetAsideEntry) error {
	return s.putEntry("envtrack_undelivered", sink, e)
}

// putEntry stores an entry of a sink's table of set-aside or undelivered events as it
// is, replacing one of the same seq (store copy is resumable).
func (s *Store) putEntry(table, sink string, e store.SetAsideEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `INSERT INTO `+table+` (sink, seq, entry) VALUES ($1, $2, $3)
		ON CONFLICT (sink, seq) DO UPDATE SET entry = EXCLUDED.entry`, sink, int64(e.Event.Seq), string(b))
	return s.mapErr(err)
}

// KeyRecords returns every recorded Idempotency-Key (store copy).
func (s *Store) KeyRecords() ([]store.KeyRecord, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT key, fingerprint, recorded_at FROM envtrack_idempotency ORDER BY key")
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", s.mapErr(err))
	}
	var (
		out []store.KeyRecord
		k   string
		fp  []byte
		at  time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&k, &fp, &at}, func() error {
		r := store.KeyRecord{Key: k, RecordedAt: at.UTC()}
		copy(r.Fingerprint[:], fp)
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", s.mapErr(err))
	}
	return out, nil
}

// PutKeys records keys as they are, replacing earlier records of the same keys (store
// copy).
func (s *Store) PutKeys(keys []store.KeyRecord) error {
	if len(keys) == 0 {
		return nil
	}
	names := make([]string, len(keys))
	fps := make([][]byte, len(keys))
	ats := make([]time.Time, len(keys))
	for i, k := range keys {
		names[i], fps[i], ats[i] = k.Key, bytes.Clone(k.Fingerprint[:]), k.RecordedAt
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.pool.Exec(ctx, `INSERT INTO envtrack_idempotency (key, fingerprint, recorded_at)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[])
		ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, recorded_at = EXCLUDED.recorded_at`, names, fps, ats)
	return s.mapErr(err)
}

// PutGaps records blind windows as they are (store copy), without their journal
// entries (those are copied as events), with bbolt's PutGaps semantics: a window already
// there is replaced; an open window of the same source is replaced by the one given,
// open or closed since.
func (s *Store) PutGaps(gaps []event.Gap) error {
	if len(gaps) == 0 {
		return nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, g := range gaps {
			v, err := json.Marshal(g)
			if err != nil {
				return err
			}
			var to *time.Time
			if !g.To.IsZero() {
				t := g.To.UTC()
				to = &t
			}
			if _, err := tx.Exec(ctx, `DELETE FROM envtrack_gaps WHERE source = $1
				AND ((to_at IS NULL AND ($3::timestamptz IS NULL OR from_at = $2)) OR (from_at = $2 AND to_at = $3))`,
				g.Source, g.From.UTC(), to); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO envtrack_gaps (source, from_at, to_at, gap) VALUES ($1, $2, $3, $4)",
				g.Source, g.From.UTC(), to, string(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gaps: %w", s.mapErr(err))
	}
	return nil
}
