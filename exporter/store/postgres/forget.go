package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// ForgetStates deletes the states of ids (readiness.requested_expiry), fenced: as
// retention's, each leaves a tombstone, so that every replica's tracker forgets it too.
// It fails with tracker.ErrStale, forgetting none, when another replica wrote one of
// them since this replica read it (the environment moved on: the next run decides
// again from its stored state).
func (f *Fenced) ForgetStates(ids []string) error { return f.Store.forgetStates(f.l, ids) }

// ForgetStates is Fenced.ForgetStates, unfenced.
func (s *Store) ForgetStates(ids []string) error { return s.forgetStates(nil, ids) }

func (s *Store) forgetStates(l *Lease, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return err
	}
	defer cancel()
	versions := map[string]int64{}
	err = s.fencedTx(ctx, l, func(tx pgx.Tx) error {
		// The head lock: the tombstones join the change feed in commit order.
		var rev int64
		if err := tx.QueryRow(ctx, "UPDATE envtrack_meta SET state_rev = state_rev + 1 WHERE id = 1 RETURNING state_rev").Scan(&rev); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, version FROM envtrack_environments
			WHERE id = ANY($1) AND state IS NOT NULL ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		var (
			id string
			v  int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { versions[id] = v; return nil }); err != nil {
			return err
		}
		s.knownMu.Lock()
		for id, v := range versions {
			if v != s.known[id] {
				s.knownMu.Unlock()
				return fmt.Errorf("%w: environment %s was written by another replica", tracker.ErrStale, id)
			}
		}
		s.knownMu.Unlock()
		_, err = tx.Exec(ctx, `UPDATE envtrack_environments
			SET state = NULL, version = version + 1, rev = $2, terminated_at = NULL, deleted_at = $3
			WHERE id = ANY($1) AND state IS NOT NULL`, ids, rev, s.now().UTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("forget states: %w", err)
	}
	s.knownMu.Lock()
	for id, v := range versions {
		s.known[id] = v + 1
	}
	s.knownMu.Unlock()
	return nil
}
