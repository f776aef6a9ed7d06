package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ForgetStates deletes the tracker states of ids (their events stay in the journal) in
// one fsync'd transaction; unknown ids are ignored. The tracker calls it under its lock
// (tracker.ExpireRequested), so no commit interleaves.
func (s *Store) ForgetStates(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("forget states: %w", ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		envs := tx.Bucket(bucketEnvs)
		for _, id := range ids {
			if err := envs.Delete([]byte(id)); err != nil {
				return fmt.Errorf("state %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget states: %w", mapErr(err))
	}
	s.releaseWritten(len(ids))
	return nil
}
