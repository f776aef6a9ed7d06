package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/model/event"
)

// The push path's indexes (schema 2). A push is recognised as a repeat by a lookup,
// never by reading an environment's history: a busy CI environment holds thousands of
// markers, and reading them all for each push made its cost grow with the history.
//
//	identities          event.Identity (16 bytes)     -> seq (uint64) of the last event with it
//	idempotency         Idempotency-Key               -> request fingerprint (16 bytes), recorded at (unix ns, uint64)
//	idempotency_expiry  recorded at (unix ns) key     -> empty (the keys in the order they expire)
var (
	bucketIdentities = []byte("identities")
	bucketKeys       = []byte("idempotency")
	bucketKeyExpiry  = []byte("idempotency_expiry")
)

// putIdentity indexes a stored event by its identity, if it has one.
func putIdentity(b *bolt.Bucket, ev *event.Event) error {
	id, ok := ev.Identity()
	if !ok {
		return nil
	}
	if err := b.Put(id[:], encodeSeq(ev.Seq)); err != nil {
		return fmt.Errorf("event %d: identity: %w", ev.Seq, err)
	}
	return nil
}

// identityPuts gathers the identities of one commit's events, to index them in the
// order of their keys. bbolt inserts a key by shifting the ones after it in its node, so
// a batch whose identities come in descending order (markers dated backwards, or
// reported late in reverse) shifted every identity of the batch put before it; sorted,
// each lands after the previous one.
type identityPuts struct{ all []identityPut }

type identityPut struct {
	id  event.Fingerprint
	seq uint64
}

func (p *identityPuts) add(ev *event.Event) {
	if id, ok := ev.Identity(); ok {
		p.all = append(p.all, identityPut{id, ev.Seq})
	}
}

// sort puts the identities gathered in key order. Two events of the commit with the
// same identity keep their journal order, so the later one holds it, as one Put per
// event in journal order left it. A commit sorts them before its record is queued:
// lookups (known) read them while the applier puts them.
func (p *identityPuts) sort() {
	slices.SortFunc(p.all, func(x, y identityPut) int {
		if c := bytes.Compare(x.id[:], y.id[:]); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
}

// has reports whether id is among the identities (sorted).
func (p *identityPuts) has(id event.Fingerprint) bool {
	_, found := slices.BinarySearchFunc(p.all, id, func(e identityPut, id event.Fingerprint) int {
		return bytes.Compare(e.id[:], id[:])
	})
	return found
}

// put indexes the identities gathered, sorted.
func (p *identityPuts) put(b *bolt.Bucket) error {
	// bbolt keeps the values until the transaction ends: one array for all of them.
	vals := make([]byte, 8*len(p.all))
	for i, e := range p.all {
		v := vals[8*i : 8*i+8 : 8*i+8]
		binary.BigEndian.PutUint64(v, e.seq)
		if err := b.Put(e.id[:], v); err != nil {
			return fmt.Errorf("event %d: identity: %w", e.seq, err)
		}
	}
	return nil
}

// deleteIdentity removes a pruned event's identity, unless a later event with the same
// identity holds it now.
func deleteIdentity(b *bolt.Bucket, ev *event.Event) error {
	id, ok := ev.Identity()
	if !ok {
		return nil
	}
	if decodeSeq(b.Get(id[:])) != ev.Seq {
		return nil
	}
	return b.Delete(id[:])
}

// Known reports, for each identity (event.Identity), whether an event the journal holds
// has it. Identities are indexed by Commit and CommitKeyed and leave with their events
// (Prune), so the answer is the same before and after a restart.
//
// It does not wait for the applier (barrier): the commits not yet applied are looked up
// in memory, so that the push path, which asks before each commit, never waits for the
// store file.
func (s *Store) Known(ids []event.Fingerprint) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// The records not yet applied, taken before the file is read: one applied meanwhile
	// is in both.
	pending := s.pending()
	err := s.viewApplied(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentities)
		for i, id := range ids {
			out[i] = b.Get(id[:]) != nil
			for _, r := range pending {
				if out[i] {
					break
				}
				out[i] = r.idents.has(id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("known identities: %w", err)
	}
	return out, nil
}

// IdempotencyKeys returns, for each of keys that is recorded, the fingerprint of the
// request it was recorded with (CommitKeyed). The zero fingerprint is a key recorded
// before fingerprints were kept (a store of schema 1): any request is its retry. A key
// stays recorded until Prune's recordedBefore passes the time it was recorded at.
//
// Like Known, it looks the commits not yet applied up in memory.
func (s *Store) IdempotencyKeys(keys []string) (map[string]event.Fingerprint, error) {
	out := map[string]event.Fingerprint{}
	if len(keys) == 0 {
		return out, nil
	}
	pending := s.pending()
	err := s.viewApplied(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		for _, k := range keys {
			if v := b.Get([]byte(k)); len(v) == keyValueLen {
				out[k] = event.Fingerprint(v[:16])
			}
		}
		return nil
	})
	// A later record replaces a key's earlier one (putKey).
	for _, r := range pending {
		for _, kr := range r.keys {
			if slices.Contains(keys, kr.key) {
				out[kr.key] = kr.fp
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", err)
	}
	return out, nil
}

const keyValueLen = 16 + 8

// putKey records key with the request's fingerprint at recordedAt, replacing an earlier
// record of the same key (with its expiry entry).
func putKey(keys, expiry *bolt.Bucket, key string, fp event.Fingerprint, recordedAt time.Time) error {
	if key == "" || len(key) > MaxIDLength {
		return fmt.Errorf("idempotency key of %d bytes", len(key))
	}
	if old := keys.Get([]byte(key)); len(old) == keyValueLen {
		if err := expiry.Delete(expiryKey(int64(binary.BigEndian.Uint64(old[16:])), key)); err != nil {
			return err
		}
	}
	at := recordedAt.UnixNano()
	v := make([]byte, 0, keyValueLen)
	v = append(v, fp[:]...)
	v = binary.BigEndian.AppendUint64(v, uint64(at))
	if err := keys.Put([]byte(key), v); err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return expiry.Put(expiryKey(at, key), []byte{})
}

func expiryKey(at int64, key string) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), uint64(at)), key...)
}

// pruneKeys deletes up to limit keys recorded before before; more reports whether
// another call may find more.
func pruneKeys(tx *bolt.Tx, before time.Time, limit int) (n int, more bool, err error) {
	keys, expiry := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyExpiry)
	cutoff := before.UnixNano()
	var victims [][]byte
	c := expiry.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) >= cutoff {
			break
		}
		if len(victims) == limit {
			more = true
			break
		}
		victims = append(victims, bytes.Clone(k))
	}
	for _, k := range victims {
		if err := expiry.Delete(k); err != nil {
			return n, false, err
		}
		key := k[8:]
		// Only the record this entry is the expiry of (putKey replaced older ones).
		if v := keys.Get(key); len(v) == keyValueLen && bytes.Equal(v[16:], k[:8]) {
			if err := keys.Delete(key); err != nil {
				return n, false, err
			}
		}
		n++
	}
	return n, more, nil
}

// migrateIdentities builds the schema 2 indexes of a schema 1 store from its journal:
// the identities of the events it holds, and the Idempotency-Keys their metadata kept
// (with the zero fingerprint: their requests are unknown) at their recorded times.
func migrateIdentities(tx *bolt.Tx) (events, keys int, err error) {
	ids, kb, exp := tx.Bucket(bucketIdentities), tx.Bucket(bucketKeys), tx.Bucket(bucketKeyExpiry)
	if ids == nil || kb == nil || exp == nil {
		return 0, 0, errors.New("migration: index buckets missing")
	}
	err = tx.Bucket(bucketJournal).ForEach(func(k, v []byte) error {
		ev, err := decodeEvent(k, v)
		if err != nil {
			return err
		}
		events++
		if err := putIdentity(ids, &ev); err != nil {
			return err
		}
		if key, _ := ev.Meta(event.MetaIdempotencyKey).(string); key != "" && kb.Get([]byte(key)) == nil {
			keys++
			return putKey(kb, exp, key, event.Fingerprint{}, ev.RecordedAt)
		}
		return nil
	})
	return events, keys, err
}
