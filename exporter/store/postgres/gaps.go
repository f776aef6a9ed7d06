package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Gap is Store.Gap, fenced: the sources that record windows run on the leader.
func (f *Fenced) Gap(g event.Gap) (*event.Gap, error) { return f.Store.gap(f.l, g) }

// Gap records a window of g.Source's with bbolt's semantics (exporter/store.Store.Gap):
// open while g.To is zero (a window already open keeps its start and reason, and opening
// it again changes nothing); closing it appends its journal entry (event.KindGap) in the
// same transaction, under the journal's head lock, and returns the window as recorded;
// closing when none is open records g as given; windows shorter than a second are not
// recorded, and closing returns nil then.
func (s *Store) Gap(g event.Gap) (*event.Gap, error) { return s.gap(nil, g) }

func (s *Store) gap(l *Lease, g event.Gap) (*event.Gap, error) {
	if g.Source == "" || strings.IndexByte(g.Source, 0) >= 0 || len(g.Source) > 64 {
		return nil, fmt.Errorf("gap: bad source %q", g.Source)
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, fmt.Errorf("gap: %w", err)
	}
	defer cancel()
	g.From, g.To = g.From.UTC().Truncate(time.Second), g.To.UTC().Truncate(time.Second)
	var (
		closed *event.Gap
		stored event.Event
	)
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		closed = nil
		var open *event.Gap
		var body []byte
		switch err := tx.QueryRow(ctx, "SELECT gap FROM envtrack_gaps WHERE source = $1 AND to_at IS NULL FOR UPDATE", g.Source).Scan(&body); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			var og event.Gap
			if err := json.Unmarshal(body, &og); err != nil {
				return fmt.Errorf("open gap of %s: %w", g.Source, err)
			}
			open = &og
		}
		if g.To.IsZero() {
			if open != nil {
				return nil
			}
			v, err := json.Marshal(g)
			if err != nil {
				return err
			}
			// Another replica may open it at the same moment: the first one's stands.
			_, err = tx.Exec(ctx, `INSERT INTO envtrack_gaps (source, from_at, to_at, gap) VALUES ($1, $2, NULL, $3)
				ON CONFLICT (source) WHERE to_at IS NULL DO NOTHING`, g.Source, g.From, string(v))
			return err
		}
		if open != nil {
			if _, err := tx.Exec(ctx, "DELETE FROM envtrack_gaps WHERE source = $1 AND to_at IS NULL", g.Source); err != nil {
				return err
			}
		}
		var ok bool
		if g, ok = g.Closing(open); !ok {
			return nil
		}
		v, err := json.Marshal(g)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO envtrack_gaps (source, from_at, to_at, gap) VALUES ($1, $2, $3, $4)",
			g.Source, g.From, g.To, string(v)); err != nil {
			return err
		}
		// Its journal entry, appended as a commit appends events (the head lock first).
		var last int64
		if err := tx.QueryRow(ctx, "UPDATE envtrack_meta SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq").Scan(&last); err != nil {
			return err
		}
		if last <= 0 {
			return errors.New("sequence numbers exhausted")
		}
		stored = g.Event()
		stored.Seq, stored.ID, stored.RecordedAt = uint64(last), event.MakeID(s.journalID, uint64(last)), s.now().UTC()
		eb, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO envtrack_events (seq, environment_id, name, time, recorded_at, idempotency_key, body)
			VALUES ($1, $2, $3, $4, $5, NULL, $6)`, last, stored.EnvironmentID, string(stored.Name), stored.Time, stored.RecordedAt, string(eb)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(last, 10)); err != nil {
			return err
		}
		c := g
		closed = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gap: %w", err)
	}
	if closed != nil {
		s.first.CompareAndSwap(0, stored.Seq)
		s.advance(stored.Seq)
		s.broadcast()
		level.Warn(s.logger).Log("msg", "not observed", "source", closed.Source, "reason", closed.Reason,
			"from", closed.From.Format(time.RFC3339), "to", closed.To.Format(time.RFC3339), "seconds", closed.To.Sub(closed.From).Seconds())
	}
	return closed, nil
}

// Gaps returns the windows that overlap [from, to], open ones included, by source and
// then in time order (the order of bbolt's keys: source bytes, then end, open last).
func (s *Store) Gaps(from, to time.Time) ([]event.Gap, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", err)
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT gap FROM envtrack_gaps
		WHERE from_at <= $2 AND (to_at IS NULL OR to_at >= $1)
		ORDER BY source COLLATE "C", to_at NULLS LAST, from_at`, from.UTC().Truncate(time.Second), to)
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", s.mapErr(err))
	}
	var out []event.Gap
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&body}, func() error {
		var g event.Gap
		if err := json.Unmarshal(body, &g); err != nil {
			return err
		}
		if g.Overlaps(from, to) {
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", s.mapErr(err))
	}
	s.contact()
	return out, nil
}

// pruneGaps deletes the closed windows that ended before before (whole seconds, as
// bbolt compares them).
func (s *Store) pruneGaps(l *Lease, before time.Time) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	n := 0
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM envtrack_gaps WHERE to_at IS NOT NULL AND to_at < $1", before.UTC().Truncate(time.Second))
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}
