package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/model/event"
)

// bucketSetAside holds the events a sink rejected permanently (DESIGN §5: "counted,
// logged with the point, and set aside, never retried forever and never silently lost").
// Keys are len(sink) (uint16) sink seq, like env_index, so that one sink's entries are a
// prefix scan in seq order and no sink name is a prefix of another's keys.
var bucketSetAside = []byte("set_aside")

// SetAsideEntry is one event a sink rejected permanently, as recorded by SetAside.
type SetAsideEntry struct {
	Event  event.Event `json:"event"`
	Reason string      `json:"reason"` // the sink's error
	At     time.Time   `json:"at"`     // when it was set aside (Options.Now, UTC)
}

// SetAside durably records that the sink rejected e permanently, with the reason (the
// sink's error). It is keyed by sink and e.Seq: setting the same event aside again (a
// retry after a crash) replaces the entry instead of adding one. The sink's cursor is not
// moved; the caller moves it past e afterwards.
func (s *Store) SetAside(sink string, e event.Event, reason string) error {
	if err := CheckSink(sink); err != nil {
		return fmt.Errorf("set aside: %w", err)
	}
	if e.Seq == 0 {
		return fmt.Errorf("set aside %s: event %q of %q has no sequence number (not from the journal)", sink, e.Name, e.EnvironmentID)
	}
	b, err := json.Marshal(SetAsideEntry{Event: e, Reason: reason, At: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("set aside %s: event %d: %w", sink, e.Seq, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSetAside).Put(indexKey(sink, e.Seq), b)
	})
	if err != nil {
		return fmt.Errorf("set aside %s: event %d: %w", sink, e.Seq, mapErr(err))
	}
	return nil
}

// SetAsideCount returns how many events are set aside for the sink.
func (s *Store) SetAsideCount(sink string) (int, error) {
	n := 0
	err := s.forEachSetAside(sink, func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("set-aside count of %s: %w", sink, err)
	}
	return n, nil
}

func (s *Store) forEachSetAside(sink string, fn func(k, v []byte) error) error {
	return s.forEachPrefixed(bucketSetAside, sink, fn)
}

// forEachPrefixed calls fn for each of the sink's entries of a bucket keyed
// len(sink) sink seq, in seq order.
func (s *Store) forEachPrefixed(bucket []byte, sink string, fn func(k, v []byte) error) error {
	if err := CheckSink(sink); err != nil {
		return err
	}
	return s.view(func(tx *bolt.Tx) error {
		prefix := indexPrefix(sink)
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				continue // cannot happen: the length prefix makes names unambiguous
			}
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetAsideEntries returns the sink's set-aside events in seq order (store copy).
func (s *Store) SetAsideEntries(sink string) ([]SetAsideEntry, error) {
	var out []SetAsideEntry
	err := s.forEachSetAside(sink, func(_, v []byte) error {
		var e SetAsideEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set-aside events of %s: %w", sink, err)
	}
	return out, nil
}
