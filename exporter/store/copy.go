package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// What `envtrack store copy` writes into a journal: another journal's identity, its
// events and states as they are (their Seq, ID and RecordedAt kept, so that the sinks'
// idempotency, which goes by event id, holds across the move).

// JournalID is the journal's random identity, part of every event id.
func (s *Store) JournalID() string { return s.journalID }

// Adopt makes id and createdAt this journal's identity. Only a journal that never held
// an event takes another identity; one that holds id already is left as it is.
func (s *Store) Adopt(id string, createdAt time.Time) error {
	if id == s.journalID {
		return nil
	}
	if s.last.Load() != 0 {
		return fmt.Errorf("the destination holds another journal (%s, %d events): copy into an empty one", s.journalID, s.last.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	createdAt = createdAt.UTC().Truncate(time.Second)
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyJournalID, []byte(id)); err != nil {
			return err
		}
		return meta.Put(keyCreatedAt, []byte(createdAt.Format(time.RFC3339)))
	})
	if err != nil {
		return fmt.Errorf("adopt journal identity: %w", mapErr(err))
	}
	s.journalID, s.createdAt = id, createdAt
	return nil
}

// Append stores events as they are. The first follows LastSeq, or starts an empty
// journal at any sequence number (a source whose start was pruned); the others follow
// each other.
func (s *Store) Append(events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent.reset() // what follows is not a commit's
	last := s.last.Load()
	err := s.update(func(tx *bolt.Tx) error {
		journal, index, meta := tx.Bucket(bucketJournal), tx.Bucket(bucketEnvIndex), tx.Bucket(bucketMeta)
		ids := tx.Bucket(bucketIdentities)
		journal.FillPercent, index.FillPercent, ids.FillPercent = journalFill, indexFill, indexFill
		for i, ev := range events {
			if (last != 0 || i > 0) && ev.Seq != last+1 {
				return fmt.Errorf("event %d does not follow %d", ev.Seq, last)
			}
			if ev.Seq == 0 || CheckID(ev.EnvironmentID) != nil && !ev.IsGap() {
				return fmt.Errorf("event %d: not a journal's event", ev.Seq)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := journal.Put(encodeSeq(ev.Seq), b); err != nil {
				return err
			}
			if ev.IsGap() { // a blind window's entry belongs to no environment (as Gap writes it)
				last = ev.Seq
				continue
			}
			if err := index.Put(indexKey(ev.EnvironmentID, ev.Seq), []byte{}); err != nil {
				return err
			}
			if err := putIdentity(ids, &ev); err != nil {
				return err
			}
			last = ev.Seq
		}
		return meta.Put(keyLastSeq, encodeSeq(last))
	})
	if err != nil {
		return fmt.Errorf("append: %w", mapErr(err))
	}
	s.first.CompareAndSwap(0, events[0].Seq)
	s.last.Store(last)
	s.broadcast()
	return nil
}

// ReplaceStates makes states the journal's tracker states, and only them.
func (s *Store) ReplaceStates(states map[string]tracker.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		envs := tx.Bucket(bucketEnvs)
		var gone [][]byte
		if err := envs.ForEach(func(k, _ []byte) error {
			if _, ok := states[string(k)]; !ok {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := envs.Delete(k); err != nil {
				return err
			}
		}
		for id, st := range states {
			if id != st.ID || CheckID(id) != nil {
				return errors.New("state " + id + ": not a journal's state")
			}
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := envs.Put([]byte(id), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace states: %w", mapErr(err))
	}
	return nil
}

// PutSetAside stores a set-aside entry as it is.
func (s *Store) PutSetAside(sink string, e SetAsideEntry) error {
	if err := CheckSink(sink); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return mapErr(s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSetAside).Put(indexKey(sink, e.Event.Seq), b)
	}))
}

// PutUndelivered stores an entry set aside for a sink that could not deliver it
// (SetAsideUndelivered) as it is.
func (s *Store) PutUndelivered(sink string, e SetAsideEntry) error {
	if err := CheckSink(sink); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return mapErr(s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUndelivered).Put(indexKey(sink, e.Event.Seq), b)
	}))
}

// KeyRecord is a recorded Idempotency-Key: the fingerprint of its request and when it
// was recorded (it expires with retention from then).
type KeyRecord struct {
	Key         string
	Fingerprint event.Fingerprint
	RecordedAt  time.Time
}

// KeyRecords returns every recorded Idempotency-Key.
func (s *Store) KeyRecords() ([]KeyRecord, error) {
	var out []KeyRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
			if len(v) != keyValueLen {
				return nil
			}
			out = append(out, KeyRecord{Key: string(k), Fingerprint: event.Fingerprint(v[:16]),
				RecordedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[16:]))).UTC()})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", err)
	}
	return out, nil
}

// PutKeys records keys as they are (their fingerprints and times), replacing earlier
// records of the same keys.
func (s *Store) PutKeys(keys []KeyRecord) error {
	if len(keys) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return mapErr(s.update(func(tx *bolt.Tx) error {
		kb, exp := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyExpiry)
		for _, k := range keys {
			if err := putKey(kb, exp, k.Key, k.Fingerprint, k.RecordedAt); err != nil {
				return err
			}
		}
		return nil
	}))
}

// PutGaps records blind windows as they are (store copy), without their journal
// entries (those are copied as events). A window already there is replaced; an open
// window of the same source is replaced by the one given, open or closed since (a copy
// run again after the source closed it).
func (s *Store) PutGaps(gaps []event.Gap) error {
	if len(gaps) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGaps)
		for _, g := range gaps {
			if g.Source == "" || bytes.IndexByte([]byte(g.Source), 0) >= 0 {
				return fmt.Errorf("gap: bad source %q", g.Source)
			}
			prefix := append([]byte(g.Source), 0)
			c := b.Cursor()
			if k, v := c.Seek(gapKey(g.Source, openGap, 0)); k != nil && bytes.HasPrefix(k, prefix) {
				var open event.Gap
				if err := json.Unmarshal(v, &open); err != nil {
					return fmt.Errorf("gap %q: %w", k, err)
				}
				if g.To.IsZero() || open.From.Equal(g.From) {
					if err := b.Delete(bytes.Clone(k)); err != nil {
						return err
					}
				}
			}
			v, err := json.Marshal(g)
			if err != nil {
				return err
			}
			to := uint64(openGap)
			if !g.To.IsZero() {
				to = unixOf(g.To)
			}
			if err := b.Put(gapKey(g.Source, to, unixOf(g.From)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gaps: %w", mapErr(err))
	}
	return nil
}
