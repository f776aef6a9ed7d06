package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Lazy cursors. Every delivery is idempotent (DESIGN §1), so a sink's cursor need not be
// fsync'd on each delivery: SaveCursorLazily keeps it in memory, and the next journal
// Commit writes it in its own transaction (no extra fsync), or FlushCursors does (the
// runner calls it when a second passed without one, and on shutdown; Close does too).
// After a crash a sink redelivers what it delivered since the last save.

// SaveCursorLazily records in memory that the sink delivered every event up to seq. The
// cursor becomes durable with the next Commit, FlushCursors or Close. Cursor and Cursors
// see it at once.
func (s *Store) SaveCursorLazily(sink string, seq uint64) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	if s.pendingCursors == nil {
		s.pendingCursors = make(map[string]uint64)
	}
	s.pendingCursors[sink] = seq
}

// FlushCursors writes the cursors saved lazily and not yet written, in one fsync'd
// transaction. With none pending it does nothing (no transaction).
func (s *Store) FlushCursors() error {
	s.cursorMu.Lock()
	empty := len(s.pendingCursors) == 0
	s.cursorMu.Unlock()
	if empty {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("flush cursors: %w", ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushCursorsLocked()
}

// flushCursorsLocked writes the pending cursors; s.mu is held.
func (s *Store) flushCursorsLocked() error {
	// Nothing pending writes nothing: closing a store that was only read (a start that
	// failed after opening it) must leave the file as it was.
	s.cursorMu.Lock()
	n := len(s.pendingCursors)
	s.cursorMu.Unlock()
	if n == 0 {
		return nil
	}
	if err := s.barrier(); err != nil {
		return fmt.Errorf("flush cursors: %w", err)
	}
	if err := s.updateWithCursors(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("flush cursors: %w", err)
	}
	return nil
}

// takeCursors removes and returns the pending cursors, to be written by the caller's
// transaction (restoreCursors puts them back if it fails).
func (s *Store) takeCursors() map[string]uint64 {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	p := s.pendingCursors
	s.pendingCursors = nil
	return p
}

// restoreCursors puts back cursors whose write failed, unless a newer value was saved
// meanwhile.
func (s *Store) restoreCursors(p map[string]uint64) {
	if len(p) == 0 {
		return
	}
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	if s.pendingCursors == nil {
		s.pendingCursors = make(map[string]uint64, len(p))
	}
	for k, v := range p {
		if _, newer := s.pendingCursors[k]; !newer {
			s.pendingCursors[k] = v
		}
	}
}

// pendingCursor returns the sink's cursor saved lazily and not yet written.
func (s *Store) pendingCursor(sink string) (uint64, bool) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	v, ok := s.pendingCursors[sink]
	return v, ok
}

// dropPendingCursor forgets a lazily saved cursor that a durable SetCursor replaces.
func (s *Store) dropPendingCursor(sink string) {
	s.cursorMu.Lock()
	defer s.cursorMu.Unlock()
	delete(s.pendingCursors, sink)
}

func putCursors(tx *bolt.Tx, cursors map[string]uint64) error {
	if len(cursors) == 0 {
		return nil
	}
	b := tx.Bucket(bucketCursors)
	for name, seq := range cursors {
		if name == "" {
			return errors.New("cursor with an empty sink name")
		}
		if err := b.Put([]byte(name), encodeSeq(seq)); err != nil {
			return fmt.Errorf("cursor %s: %w", name, err)
		}
	}
	return nil
}

// savedCursor returns the sink's cursor as written to disk, ignoring one saved lazily and
// not yet written: what a crash now would leave.
func (s *Store) savedCursor(sink string) (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		seq = decodeSeq(tx.Bucket(bucketCursors).Get([]byte(sink)))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cursor %s: %w", sink, err)
	}
	return seq, nil
}

// HasCursor reports whether the sink has a cursor, written or saved lazily: false for a
// sink that never had one (a webhook endpoint just added), true for one at 0.
func (s *Store) HasCursor(sink string) (bool, error) {
	if _, ok := s.pendingCursor(sink); ok {
		return true, nil
	}
	var has bool
	err := s.view(func(tx *bolt.Tx) error {
		has = tx.Bucket(bucketCursors).Get([]byte(sink)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cursor %s: %w", sink, err)
	}
	return has, nil
}
