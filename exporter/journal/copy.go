package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/store/postgres"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Copyable is a journal `envtrack store copy` reads from and writes into: either driver.
type Copyable interface {
	JournalID() string
	CreatedAt() time.Time
	LastSeq() uint64
	Events(afterSeq uint64, limit int) ([]event.Event, error)
	Environments() (map[string]tracker.State, error)
	Cursors() (map[string]uint64, error)
	SetAsideEntries(sink string) ([]store.SetAsideEntry, error)
	Undelivered(sink string) ([]store.SetAsideEntry, error)
	KeyRecords() ([]store.KeyRecord, error)
	Gaps(from, to time.Time) ([]event.Gap, error)

	Adopt(id string, createdAt time.Time) error
	Append(events []event.Event) error
	ReplaceStates(states map[string]tracker.State) error
	SetCursor(sink string, seq uint64) error
	PutSetAside(sink string, e store.SetAsideEntry) error
	PutUndelivered(sink string, e store.SetAsideEntry) error
	PutKeys(keys []store.KeyRecord) error
	PutGaps(gaps []event.Gap) error
	Close() error
}

// OpenSpec opens the journal a --from or --to flag names: bbolt:PATH (the store file,
// created when missing) or postgres:DSN.
func OpenSpec(spec string) (Copyable, error) {
	driver, where, ok := strings.Cut(spec, ":")
	if !ok || where == "" {
		return nil, fmt.Errorf("%q: want bbolt:PATH or postgres:DSN", redactSpec(spec))
	}
	switch driver {
	case config.StoreBbolt:
		if err := os.MkdirAll(filepath.Dir(where), 0o750); err != nil {
			return nil, err
		}
		return store.Open(where, store.Options{})
	case config.StorePostgres:
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return postgres.Open(ctx, where, postgres.Options{NoListen: true})
	}
	return nil, fmt.Errorf("%q: the driver must be bbolt or postgres", driver)
}

// redactSpec keeps a DSN out of messages.
func redactSpec(spec string) string {
	if d, _, ok := strings.Cut(spec, ":"); ok && d == config.StorePostgres {
		return "postgres:<secret>"
	}
	return spec
}

// CopyStats says what a copy moved.
type CopyStats struct {
	Events, Skipped uint64 // copied now; there already (an earlier, interrupted copy)
	FirstSeq        uint64
	LastSeq         uint64
	Environments    int
	Cursors         int
	SetAside        int
	Undelivered     int // set aside past retention.max_undelivered
	Keys            int // Idempotency-Keys
	Gaps            int // blind windows
}

// copyBatch is how many events one write of the copy holds.
const copyBatch = 5000

// Copy moves the journal from into to: its identity (so that event ids, and with them
// the sinks' idempotency, stay the same), its events with their sequence numbers, the
// tracker's states, the sinks' cursors and set-aside events, the Idempotency-Keys and
// the blind windows (gaps). It is resumable and
// idempotent: into a journal that holds a prefix of from's events (an interrupted copy)
// it appends the rest; run again, it copies nothing more. Into another journal it
// refuses, changing nothing. No daemon may write either journal meanwhile.
func Copy(from, to Copyable, progress func(copied uint64)) (CopyStats, error) {
	var st CopyStats
	if err := to.Adopt(from.JournalID(), from.CreatedAt()); err != nil {
		return st, err
	}
	after := to.LastSeq()
	if after > from.LastSeq() {
		return st, fmt.Errorf("the destination is ahead of the source (event %d, the source ends at %d): not a copy of it", after, from.LastSeq())
	}
	if after > 0 {
		src, err := from.Events(after-1, 1)
		if err != nil {
			return st, err
		}
		dst, err := to.Events(after-1, 1)
		if err != nil {
			return st, err
		}
		if len(src) == 1 && len(dst) == 1 && (src[0].ID != dst[0].ID || src[0].EnvironmentID != dst[0].EnvironmentID || src[0].Name != dst[0].Name) {
			return st, fmt.Errorf("event %d differs between source and destination: not a copy of it", after)
		}
		st.Skipped = after
	}
	for {
		evs, err := from.Events(after, copyBatch)
		if err != nil {
			return st, err
		}
		if len(evs) == 0 {
			break
		}
		if err := to.Append(evs); err != nil {
			return st, err
		}
		if st.FirstSeq == 0 {
			st.FirstSeq = evs[0].Seq
		}
		after = evs[len(evs)-1].Seq
		st.Events += uint64(len(evs))
		st.LastSeq = after
		if progress != nil {
			progress(st.Events)
		}
	}
	states, err := from.Environments()
	if err != nil {
		return st, err
	}
	if err := to.ReplaceStates(states); err != nil {
		return st, err
	}
	st.Environments = len(states)
	cursors, err := from.Cursors()
	if err != nil {
		return st, err
	}
	sinks := make([]string, 0, len(cursors))
	for s := range cursors {
		sinks = append(sinks, s)
	}
	sort.Strings(sinks)
	for _, s := range sinks {
		if err := to.SetCursor(s, cursors[s]); err != nil {
			return st, fmt.Errorf("cursor of %s: %w", s, err)
		}
		entries, err := from.SetAsideEntries(s)
		if err != nil {
			return st, err
		}
		for _, e := range entries {
			if err := to.PutSetAside(s, e); err != nil {
				return st, fmt.Errorf("set-aside event %d of %s: %w", e.Event.Seq, s, err)
			}
		}
		st.SetAside += len(entries)
		undelivered, err := from.Undelivered(s)
		if err != nil {
			return st, err
		}
		for _, e := range undelivered {
			if err := to.PutUndelivered(s, e); err != nil {
				return st, fmt.Errorf("undelivered event %d of %s: %w", e.Event.Seq, s, err)
			}
		}
		st.Undelivered += len(undelivered)
	}
	st.Cursors = len(cursors)
	// The Idempotency-Keys, so that a retry after the move is still recognised.
	keys, err := from.KeyRecords()
	if err != nil {
		return st, err
	}
	if err := to.PutKeys(keys); err != nil {
		return st, fmt.Errorf("idempotency keys: %w", err)
	}
	st.Keys = len(keys)
	// The blind windows (their journal entries are events, copied above): the pages and
	// the API read them from here, not from the journal.
	gaps, err := from.Gaps(time.Unix(0, 0), maxTime)
	if err != nil {
		return st, err
	}
	if err := to.PutGaps(gaps); err != nil {
		return st, fmt.Errorf("blind windows: %w", err)
	}
	st.Gaps = len(gaps)
	return st, nil
}

// maxTime is later than any window's end.
var maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// ErrSameJournal is returned when --from and --to name the same place.
var ErrSameJournal = errors.New("--from and --to name the same journal")
