package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/model/event"
)

// bucketUndelivered holds, per sink, the events set aside because the sink could not
// take them within retention.max_undelivered (its target was down or refusing them that
// long). Retention never deletes an event a sink has not delivered; past that ceiling
// the sink's runner sets the events aside here, so that the journal can let them go
// while they stay recorded. Keys are those of set_aside: len(sink) (uint16) sink seq.
var bucketUndelivered = []byte("undelivered")

// SetAsideUndelivered durably records evs (journal events, in seq order, the first just
// after the sink's cursor) as set aside for the sink because it could not deliver them
// within retention.max_undelivered, each with the reason, and moves the sink's cursor to
// the last of them: one transaction, so that a crash leaves either both or neither.
// Setting an event aside again (a retry after a crash) replaces its entry.
func (s *Store) SetAsideUndelivered(sink string, evs []event.Event, reason string) error {
	if err := CheckSink(sink); err != nil {
		return fmt.Errorf("set aside undelivered: %w", err)
	}
	if len(evs) == 0 {
		return nil
	}
	at := s.now().UTC()
	vals := make([][]byte, len(evs))
	for i, e := range evs {
		if e.Seq == 0 || (i > 0 && e.Seq <= evs[i-1].Seq) {
			return fmt.Errorf("set aside undelivered %s: events not in journal order", sink)
		}
		b, err := json.Marshal(SetAsideEntry{Event: e, Reason: reason, At: at})
		if err != nil {
			return fmt.Errorf("set aside undelivered %s: event %d: %w", sink, e.Seq, err)
		}
		vals[i] = b
	}
	last := evs[len(evs)-1].Seq
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		if l := decodeSeq(tx.Bucket(bucketMeta).Get(keyLastSeq)); last > l {
			return fmt.Errorf("seq %d is beyond the last event %d", last, l)
		}
		b := tx.Bucket(bucketUndelivered)
		for i, e := range evs {
			if err := b.Put(indexKey(sink, e.Seq), vals[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketCursors).Put([]byte(sink), encodeSeq(last))
	})
	if err != nil {
		return fmt.Errorf("set aside undelivered %s: events %d-%d: %w", sink, evs[0].Seq, last, mapErr(err))
	}
	s.dropPendingCursor(sink)
	return nil
}

// UndeliveredCount returns how many events are set aside for the sink because it could
// not deliver them within retention.max_undelivered (SetAsideUndelivered).
func (s *Store) UndeliveredCount(sink string) (int, error) {
	n := 0
	err := s.forEachPrefixed(bucketUndelivered, sink, func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("undelivered count of %s: %w", sink, err)
	}
	return n, nil
}

// Undelivered returns the events set aside for the sink by SetAsideUndelivered, in seq
// order (for an operator who replays them).
func (s *Store) Undelivered(sink string) ([]SetAsideEntry, error) {
	var out []SetAsideEntry
	err := s.forEachPrefixed(bucketUndelivered, sink, func(_, v []byte) error {
		var e SetAsideEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("undelivered events of %s: %w", sink, err)
	}
	return out, nil
}
