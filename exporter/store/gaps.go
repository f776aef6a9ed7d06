package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-kit/log/level"
	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/model/event"
)

// bucketGaps holds the windows in which envtrack could not see a source (event.Gap).
// Keys are source 0x00 to from (8 bytes each, big-endian Unix seconds; to is all ones
// while the window is open), so that one source's windows are a prefix, in the order of
// their ends, and the open one is last. A source's windows do not overlap: the one open
// is closed before another opens.
var bucketGaps = []byte("gaps")

const openGap = math.MaxUint64

func gapKey(source string, to, from uint64) []byte {
	k := make([]byte, 0, len(source)+17)
	k = append(append(k, source...), 0)
	k = binary.BigEndian.AppendUint64(k, to)
	return binary.BigEndian.AppendUint64(k, from)
}

func unixOf(t time.Time) uint64 { return uint64(max(t.Unix(), 0)) }

// Gap records a window of g.Source's: open while g.To is zero, closed when it is set.
// A window already open keeps its start and reason (one that a previous process left
// open continues into this one's: envtrack was blind across the restart), and opening
// it again changes nothing. Closing it appends its journal entry (event.KindGap, for the
// sinks that draw windows) in the same transaction and returns the window as recorded;
// closing when none is open records g as given. Windows shorter than a second are not
// recorded (nothing is timed finer), and closing returns nil then.
func (s *Store) Gap(g event.Gap) (*event.Gap, error) {
	if g.Source == "" || bytes.IndexByte([]byte(g.Source), 0) >= 0 || len(g.Source) > 64 {
		return nil, fmt.Errorf("gap: bad source %q", g.Source)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("gap: %w", ErrClosed)
	}
	g.From, g.To = g.From.UTC().Truncate(time.Second), g.To.UTC().Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent.reset() // a gap's entry may follow: not a commit's
	var (
		closed *event.Gap
		stored event.Event
		last   uint64
	)
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGaps)
		prefix := append([]byte(g.Source), 0)
		c := b.Cursor()
		var open *event.Gap
		var openKey []byte
		if k, v := c.Seek(gapKey(g.Source, openGap, 0)); k != nil && bytes.HasPrefix(k, prefix) {
			var og event.Gap
			if err := json.Unmarshal(v, &og); err != nil {
				return fmt.Errorf("gap %q: %w", k, err)
			}
			open, openKey = &og, bytes.Clone(k)
		}
		if g.To.IsZero() {
			if open != nil {
				return nil
			}
			v, err := json.Marshal(g)
			if err != nil {
				return err
			}
			return b.Put(gapKey(g.Source, openGap, unixOf(g.From)), v)
		}
		if open != nil {
			if err := b.Delete(openKey); err != nil {
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
		if err := b.Put(gapKey(g.Source, unixOf(g.To), unixOf(g.From)), v); err != nil {
			return err
		}
		closed = &g
		// Its journal entry, appended as Commit appends events.
		meta := tx.Bucket(bucketMeta)
		last = decodeSeq(meta.Get(keyLastSeq))
		if last == math.MaxUint64 {
			return errors.New("sequence numbers exhausted")
		}
		last++
		stored = g.Event()
		stored.Seq, stored.ID, stored.RecordedAt = last, event.MakeID(s.journalID, last), s.now().UTC()
		eb, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		journal := tx.Bucket(bucketJournal)
		journal.FillPercent = journalFill
		if err := journal.Put(encodeSeq(last), eb); err != nil {
			return err
		}
		return meta.Put(keyLastSeq, encodeSeq(last))
	})
	if err != nil {
		return nil, fmt.Errorf("gap: %w", mapErr(err))
	}
	if closed != nil {
		s.first.CompareAndSwap(0, last)
		s.last.Store(last)
		s.broadcast()
		level.Warn(s.logger).Log("msg", "not observed", "source", closed.Source, "reason", closed.Reason,
			"from", closed.From.Format(time.RFC3339), "to", closed.To.Format(time.RFC3339), "seconds", closed.To.Sub(closed.From).Seconds())
	}
	return closed, nil
}

// Gaps returns the windows that overlap [from, to], open ones included, by source and
// then in time order. It reads each source's windows from the first that ends at or after
// from, so its cost is that of the windows returned (and the sources).
func (s *Store) Gaps(from, to time.Time) ([]event.Gap, error) {
	var out []event.Gap
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketGaps).Cursor()
		for k, _ := c.First(); k != nil; {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("gap key %q", k)
			}
			source := string(k[:i])
			prefix := gapKey(source, 0, 0)[:i+1]
			for k, v := c.Seek(gapKey(source, unixOf(from), 0)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var g event.Gap
				if err := json.Unmarshal(v, &g); err != nil {
					return fmt.Errorf("gap %q: %w", k, err)
				}
				if g.From.After(to) {
					break // a source's windows do not overlap: those that end later begin later
				}
				if g.Overlaps(from, to) {
					out = append(out, g)
				}
			}
			k, _ = c.Seek(append([]byte(source), 1)) // the next source's
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gaps: %w", err)
	}
	return out, nil
}

// pruneGaps deletes the closed windows that ended before before.
func (s *Store) pruneGaps(before time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGaps)
		var victims [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) != i+17 {
				return nil
			}
			if to := binary.BigEndian.Uint64(k[i+1:]); to != openGap && to < unixOf(before) {
				victims = append(victims, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range victims {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(victims)
		return nil
	})
	return n, mapErr(err)
}
