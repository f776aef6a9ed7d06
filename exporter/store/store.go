// Package store is envtrack's embedded durable store, kept in a bbolt file and, while
// it is open, the commit log beside it (the file's name with "-wal": wal.go).
//
// It is the source of truth on the node (DESIGN §1): a lifecycle event is appended to the
// journal, and synced, before any sink sees it, and the tracker states that a transition
// produced are written in the same commit as the events it emitted. A commit is one
// record of the log, acknowledged once the log is synced, and one bbolt transaction
// behind it (apply.go); a crash at any point therefore leaves either the whole
// transition (states and events) or none of it: a restart neither repeats nor loses a
// transition.
//
// Layout (one bbolt bucket each; keys big-endian, values JSON):
//
//	meta          schema_version, journal_id, last_seq, log_lsn (the last commit of the log applied)
//	environments  environment id            -> tracker.State
//	journal       seq (uint64)              -> event.Event
//	env_index     len(id) (uint16) id seq   -> empty (one environment's events, in seq order)
//	cursors       sink name                 -> seq (uint64) of the last event it delivered
//	set_aside     len(sink) (uint16) sink seq -> SetAsideEntry (events a sink rejected for good)
//	gaps          source 0 to from          -> event.Gap (windows a source could not be seen; gaps.go)
//	undelivered   len(sink) (uint16) sink seq -> SetAsideEntry (events set aside for a sink that could
//	              not take them within retention.max_undelivered: expire.go)
//	identities, idempotency, idempotency_expiry: the push path's indexes (identity.go)
//
// Sequence numbers start at 1, increase by one per event and are never reused, even after
// every event was pruned: last_seq is kept in meta, not derived from the journal. The
// journal is always contiguous, from FirstSeq to LastSeq: Commit appends at the end and
// Prune removes only from the start.
package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// SchemaVersion is the version of the on-disk layout this package reads and writes.
// Version 2 added the push path's indexes (identity.go); a store of version 1 is
// migrated when it is opened (the indexes are built from its journal, once), and an
// envtrack that reads version 1 only refuses it afterwards, instead of writing events
// its indexes would not know.
const SchemaVersion = "2"

// schemaV1 is the layout before the push path's indexes.
const schemaV1 = "1"

// DefaultLockTimeout is how long Open waits for the file lock held by another process.
const DefaultLockTimeout = time.Second

// MaxIDLength is the longest environment id (in bytes) the store accepts. Ids that reach
// the store are validated long before (DESIGN §5 allows 128 characters); this is a guard
// for the index key, whose id part is length-prefixed with a uint16.
const MaxIDLength = 1024

// pruneBatch is how many events one Prune transaction deletes at most, so that a large
// prune does not hold the writer lock (and Commit) for long.
const pruneBatch = 2000

var (
	// ErrLocked is returned by Open when another process (or another Open in this
	// process) holds the store's file lock.
	ErrLocked = errors.New("store is locked by another process")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("store is closed")
)

var (
	bucketMeta     = []byte("meta")
	bucketEnvs     = []byte("environments")
	bucketJournal  = []byte("journal")
	bucketEnvIndex = []byte("env_index")
	bucketCursors  = []byte("cursors")

	keySchema    = []byte("schema_version")
	keyJournalID = []byte("journal_id")
	keyCreatedAt = []byte("created_at")
	keyLastSeq   = []byte("last_seq")
)

// Options configure a Store.
type Options struct {
	// Logger receives informational messages (open, prune). Nil means no logging.
	Logger log.Logger
	// Now stamps RecordedAt on appended events and is the clock of retention. Nil means
	// time.Now.
	Now func() time.Time
	// NoSync skips fsync on commit. A crash of the machine (not of the process) may then
	// lose or corrupt data: for benchmarks and tests only.
	NoSync bool
	// LockTimeout is how long Open waits for another holder of the file lock before
	// failing with ErrLocked. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Stats describes the journal.
type Stats struct {
	Events    uint64 // events currently held (LastSeq-FirstSeq+1, or 0)
	FirstSeq  uint64 // oldest event held, 0 when the journal is empty
	LastSeq   uint64 // last sequence number ever assigned, 0 when none
	FileBytes int64  // size of the store file
	// Decoded counts the journal events the reads (Events, EnvironmentEvents,
	// EventsBetween) decoded since Open: what reading the history costs. The push path
	// reads none (its repeats are index lookups: identity.go).
	Decoded uint64
}

// Store is the embedded durable store. It is safe for concurrent use.
type Store struct {
	db        *bolt.DB
	path      string
	logger    log.Logger
	now       func() time.Time
	journalID string
	createdAt time.Time

	// mu serialises the commits (the log's appends) and the other writers, so that
	// sequence numbers and lsns are handed out in the order the log holds them.
	mu    sync.Mutex
	log   commitLog // wal.go (s.mu)
	lsn   uint64    // the last commit appended to the log (s.mu)
	frame []byte    // the record being appended, kept for the next (s.mu)

	// The applier (apply.go): am guards what follows, acond signals its changes.
	am           sync.Mutex
	acond        *sync.Cond
	queue        []*record // acknowledged, not yet applied, in lsn order
	queuedBytes  int       // their sizes (record.size)
	appended     uint64    // the last lsn acknowledged
	applied      uint64    // the last lsn applied to the bbolt file
	applyErr     error     // the last transaction of the applier failed with it
	waiters      int       // reads (and commits) waiting for the applier
	applyStopped bool
	applyKick    chan struct{} // wakes the applier: records due, or a read waits
	applyStop    chan struct{} // closed by Close: apply what is queued, then end
	applyDone    chan struct{}
	// applyGate, when set (tests), is received from before each transaction of the
	// applier: a test holds the records in the log, as a crash before them would.
	applyGate chan struct{}
	// applyFault, when set (tests), fails the applier's transactions with its error.
	applyFault func() error

	relMu   sync.Mutex
	commits int // since the written pages were last released (relMu)
	written int // records the commits since then wrote (relMu)
	first   atomic.Uint64
	last    atomic.Uint64
	closed  atomic.Bool
	decoded atomic.Uint64 // Stats.Decoded
	// readSince counts the records reads went through since their pages were last
	// released (scanPager).
	readSince atomic.Int64

	subMu      sync.Mutex
	subs       map[chan struct{}]struct{}
	notifyOnce sync.Once
	notifyCh   <-chan struct{}

	// cursorMu guards pendingCursors: sink cursors saved lazily (cursors.go), written by
	// the next Commit or FlushCursors.
	cursorMu       sync.Mutex
	pendingCursors map[string]uint64

	recent recent // the last events committed, decoded (recent.go)

	metrics Metrics // StaleCommits is always 0: the file has one writer (exposed as with PostgreSQL)
}

// Open opens the store at path, creating the file (mode 0600, its directory 0700) and
// its buckets when absent. When another process holds the store, Open fails after
// Options.LockTimeout with an error wrapping ErrLocked. A store written with another
// schema version is refused. The journal id is random, created with the file and kept
// for its life.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := verifyExisting(path, timeout); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w (gave up after %s)", path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		path:    path,
		logger:  logger,
		now:     now,
		subs:    make(map[chan struct{}]struct{}),
		metrics: NewMetrics(),
		log:     commitLog{path: path + logSuffix, noSync: opts.NoSync},
	}
	s.acond = sync.NewCond(&s.am)
	// Opening a complete store only reads it, so that a start that fails later (or is
	// just a check) leaves the file byte for byte as it was.
	initOrLoad := db.Update
	if err := db.View(func(tx *bolt.Tx) error {
		if layoutComplete(tx) {
			initOrLoad = db.View
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := initOrLoad(s.initTx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := s.replayLog(); err != nil {
		s.log.close()
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.appended, s.applied = s.lsn, s.lsn
	s.startApplier()
	level.Info(logger).Log("msg", "store opened", "path", path, "journal_id", s.journalID,
		"first_seq", s.first.Load(), "last_seq", s.last.Load())
	return s, nil
}

var allBuckets = [][]byte{bucketMeta, bucketEnvs, bucketJournal, bucketEnvIndex, bucketCursors, bucketSetAside,
	bucketUndelivered, bucketIdentities, bucketKeys, bucketKeyExpiry, bucketGaps}

// layoutComplete reports whether initTx has nothing to write: every bucket and meta key
// exists.
func layoutComplete(tx *bolt.Tx) bool {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return false
		}
	}
	meta := tx.Bucket(bucketMeta)
	return string(meta.Get(keySchema)) == SchemaVersion && meta.Get(keyJournalID) != nil && meta.Get(keyCreatedAt) != nil
}

// initTx creates the buckets, checks the schema version, creates or reads the journal id
// and loads the sequence range.
func (s *Store) initTx(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if !tx.Writable() {
			continue // layoutComplete said they all exist
		}
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(keySchema); {
	case v == nil:
		if err := meta.Put(keySchema, []byte(SchemaVersion)); err != nil {
			return err
		}
	case string(v) == schemaV1 && tx.Writable():
		start := time.Now()
		events, keys, err := migrateIdentities(tx)
		if err != nil {
			return fmt.Errorf("migrate schema %s to %s: %w", schemaV1, SchemaVersion, err)
		}
		if err := meta.Put(keySchema, []byte(SchemaVersion)); err != nil {
			return err
		}
		level.Info(s.logger).Log("msg", "store migrated: the push path's indexes were built from the journal",
			"from_schema", schemaV1, "to_schema", SchemaVersion, "events", events, "idempotency_keys", keys, "took", time.Since(start))
	case string(v) != SchemaVersion:
		return fmt.Errorf("unsupported schema version %q (this envtrack reads %q)", v, SchemaVersion)
	}
	if id := meta.Get(keyJournalID); id != nil {
		s.journalID = string(id)
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("journal id: %w", err)
		}
		s.journalID = hex.EncodeToString(b[:])
		if err := meta.Put(keyJournalID, []byte(s.journalID)); err != nil {
			return err
		}
	}
	if v := meta.Get(keyCreatedAt); v != nil {
		t, err := time.Parse(time.RFC3339, string(v))
		if err != nil {
			return fmt.Errorf("created_at: %w", err)
		}
		s.createdAt = t
	} else {
		s.createdAt = s.now().UTC().Truncate(time.Second)
		if err := meta.Put(keyCreatedAt, []byte(s.createdAt.Format(time.RFC3339))); err != nil {
			return err
		}
	}
	last := decodeSeq(meta.Get(keyLastSeq))
	c := tx.Bucket(bucketJournal).Cursor()
	if k, _ := c.First(); k != nil {
		s.first.Store(decodeSeq(k))
	}
	if k, _ := c.Last(); k != nil && decodeSeq(k) > last {
		// Cannot happen with this code (last_seq is written in the same transaction as
		// the events), but never hand out a sequence number twice.
		last = decodeSeq(k)
	}
	s.last.Store(last)
	return nil
}

// Close writes the cursors saved lazily, then closes the store. Further calls return
// ErrClosed (Close itself returns nil). Subscription channels are not closed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	s.recent.reset()
	if s.stopApplier() {
		if err := s.log.remove(); err != nil {
			level.Warn(s.logger).Log("msg", "commit log not removed at close (every commit in it is applied; the next start empties it)", "err", err)
		}
	} else {
		s.log.close()
		level.Warn(s.logger).Log("msg", "closed with commits the store file refused; they stay in the commit log, and the next start applies them", "log", s.log.path)
	}
	if err := s.flushCursorsLocked(); err != nil {
		level.Warn(s.logger).Log("msg", "cursors not saved at close: the sinks will redeliver (idempotently)", "err", err)
	}
	return s.db.Close()
}

// CreatedAt is when this store was created: when envtrack began tracking here.
func (s *Store) CreatedAt() time.Time { return s.createdAt }

// FirstSeq returns the sequence number of the oldest event held, or 0 when the journal is
// empty.
func (s *Store) FirstSeq() uint64 { return s.first.Load() }

// LastSeq returns the last sequence number ever assigned (the event may have been
// pruned), or 0 when none was.
func (s *Store) LastSeq() uint64 { return s.last.Load() }

// Stats returns the journal's statistics. It reads cached counters and stats the file; it
// works on a closed store too.
func (s *Store) Stats() Stats {
	st := Stats{FirstSeq: s.first.Load(), LastSeq: s.last.Load(), Decoded: s.decoded.Load()}
	if st.FirstSeq != 0 && st.LastSeq >= st.FirstSeq {
		st.Events = st.LastSeq - st.FirstSeq + 1
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// How full bbolt fills a page it splits (its default is half): the journal's keys are
// sequence numbers, only ever appended, so its pages are filled whole; the indexes take
// their keys mostly at their ends (an environment's events, identities in time order)
// but also anywhere (an event dated earlier), and the states are rewritten anywhere:
// they keep room for it. Half-empty pages made the file (and what a scan of it reads)
// twice the size of its data. This decides only how new pages are cut: a store written
// with other values reads the same.
const (
	journalFill = 1.0
	indexFill   = 0.9
	statesFill  = 0.8
)

// Commit writes states (replacing each environment's previous state) and appends events
// to the journal as one record of the commit log, synced before Commit returns, and one
// bbolt transaction behind it; every read waits for that transaction (Known and
// IdempotencyKeys look the record up instead). Either all of it is stored or, on error,
// none of it. Each event with an identity (event.Identity) is indexed by it in the same
// transaction (Known).
//
// Commit assigns each event its Seq (consecutive, continuing the journal), ID
// (event.MakeID of the journal's random id and Seq) and RecordedAt (Options.Now(), in UTC, the same for the
// whole batch); the caller's slice is not modified and the events are returned as stored.
// Subscribers are notified once a commit that appended at least one event is applied.
// Committing nothing is a no-op.
func (s *Store) Commit(states []tracker.State, events []event.Event) ([]event.Event, error) {
	return s.commit(states, events, nil)
}

// CommitKeyed is Commit that also records Idempotency-Keys in the same transaction, each
// bound to the fingerprint of the request it came with and recorded at the commit's
// RecordedAt (IdempotencyKeys reads them back; Prune expires them). A key recorded
// before is replaced. With keys only, it writes them in a transaction of their own.
func (s *Store) CommitKeyed(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	return s.commit(states, events, keys)
}

func (s *Store) commit(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	if len(states) == 0 && len(events) == 0 && len(keys) == 0 {
		return nil, nil
	}
	if err := CheckCommit(states, events); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("commit: %w", ErrClosed)
	}
	var out []event.Event
	if len(events) > 0 {
		out = make([]event.Event, len(events))
		copy(out, events)
	}

	for k := range keys {
		if k == "" || len(k) > MaxIDLength {
			return nil, fmt.Errorf("commit: idempotency key of %d bytes", len(k))
		}
	}
	// The applier's room is waited for before the commit lock: a writer holding that
	// lock may be waiting for the applier itself.
	if err := s.roomInQueue(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, fmt.Errorf("commit: %w", ErrClosed)
	}
	if s.log.size >= logResetBytes {
		// Every record before this one applied, the log starts again.
		if err := s.barrier(); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		if err := s.log.reset(); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
	}
	start := time.Now()
	r := &record{lsn: s.lsn + 1, recordedAt: s.now().UTC(), firstSeq: s.last.Load() + 1}
	last := s.last.Load()
	for _, st := range states {
		b, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("commit: state %s: %w", st.ID, err)
		}
		r.states = append(r.states, stateRecord{id: st.ID, json: b})
	}
	var enc eventEncoder
	r.encoded = make([][]byte, len(out))
	r.indexKeys = make([][]byte, len(out))
	r.idents.all = make([]identityPut, 0, len(out))
	for i := range out {
		if last == math.MaxUint64 {
			return nil, errors.New("commit: sequence numbers exhausted")
		}
		last++
		ev := &out[i]
		ev.Seq = last
		ev.ID = event.MakeID(s.journalID, last)
		ev.RecordedAt = r.recordedAt
		b, err := enc.encode(ev)
		if err != nil {
			return nil, fmt.Errorf("commit: event %s of %s: %w", ev.Name, ev.EnvironmentID, err)
		}
		r.encoded[i] = b
		r.indexKeys[i] = indexKey(ev.EnvironmentID, last)
		r.idents.add(ev)
	}
	r.idents.sort()
	for k, fp := range keys {
		r.keys = append(r.keys, keyRecord{key: k, fp: fp})
	}
	if r.bytes = r.size(); r.bytes > directBytes {
		if err := s.commitDirect(r); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		// Not held: a first sight's thousands of events would raise the peak memory, and
		// the sinks are then too far behind to read them from memory anyway.
		s.recent.reset()
	} else {
		s.frame = appendFrame(s.frame[:0], s.journalID, r)
		if err := s.log.append(s.frame); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		s.lsn = r.lsn
		s.enqueue(r)
		s.recent.add(out, func(i int) int { return len(r.encoded[i]) })
	}
	s.metrics.CommitDuration.Observe(time.Since(start).Seconds())
	if len(out) > 0 {
		s.metrics.CommitEvents.Observe(float64(len(out)))
		s.first.CompareAndSwap(0, out[0].Seq)
		s.last.Store(last)
	}
	return out, nil
}

// Environments returns every persisted tracker state, keyed by environment id.
func (s *Store) Environments() (map[string]tracker.State, error) {
	states := make(map[string]tracker.State)
	err := s.view(func(tx *bolt.Tx) error {
		p := s.pager(tx)
		defer p.done()
		pool := tracker.Strings{}
		return tx.Bucket(bucketEnvs).ForEach(func(k, v []byte) error {
			st, err := decodeState(k, v)
			if err != nil {
				return err
			}
			pool.Share(&st)
			id := st.ID // the key shares the id's bytes too
			if id != string(k) {
				id = string(k)
			}
			states[id] = st
			p.read()
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("environments: %w", err)
	}
	return states, nil
}

// environment returns one environment's persisted state; false when there is none.
func (s *Store) environment(id string) (tracker.State, bool, error) {
	var (
		st    tracker.State
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEnvs).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		var err error
		st, err = decodeState([]byte(id), v)
		return err
	})
	if err != nil {
		return tracker.State{}, false, fmt.Errorf("environment %s: %w", id, err)
	}
	return st, found, nil
}

// Events returns up to limit events with Seq > afterSeq, in seq order. A limit of zero or
// less means no limit. A sink reads from its cursor with Events(cursor, batch): from
// memory when it follows the commits closely (recent.go). The events' metadata maps may
// be shared with other readers: they are not to be changed.
func (s *Store) Events(afterSeq uint64, limit int) ([]event.Event, error) {
	if afterSeq == math.MaxUint64 {
		return nil, nil
	}
	// A closed store, or one whose file refuses the applier, answers with its error
	// from the file: recent is not asked, rather than asked and overruled.
	if !s.closed.Load() && !s.applierFailed() {
		if evs, ok := s.recent.events(afterSeq, limit); ok {
			return evs, nil
		}
	}
	return s.eventsFromFile(afterSeq, limit)
}

// eventsFromFile is Events read from the store file.
func (s *Store) eventsFromFile(afterSeq uint64, limit int) ([]event.Event, error) {
	var evs []event.Event
	err := s.view(func(tx *bolt.Tx) error {
		p := s.pager(tx)
		defer p.done()
		c := tx.Bucket(bucketJournal).Cursor()
		for k, v := c.Seek(encodeSeq(afterSeq + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(evs) >= limit {
				break
			}
			s.decoded.Add(1)
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
			p.read()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events after %d: %w", afterSeq, err)
	}
	return evs, nil
}

// EnvironmentEvents returns the events of one environment still held, in seq order. It
// reads the env_index bucket, so its cost is that of the environment's own events, not of
// the journal.
func (s *Store) EnvironmentEvents(id string) ([]event.Event, error) {
	var evs []event.Event
	if err := CheckID(id); err != nil {
		return nil, nil // no such id can have been stored
	}
	err := s.view(func(tx *bolt.Tx) error {
		journal := tx.Bucket(bucketJournal)
		prefix := indexPrefix(id)
		c := tx.Bucket(bucketEnvIndex).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) != len(prefix)+8 {
				continue // cannot happen: the length prefix makes ids unambiguous
			}
			seqKey := k[len(prefix):]
			v := journal.Get(seqKey)
			if v == nil {
				continue // pruned; Prune deletes index entries in the same transaction
			}
			s.decoded.Add(1)
			ev, err := decodeEvent(seqKey, v)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	return evs, nil
}

// EventsBetween returns the events whose evidence time (event.Time) is in [from, to), in
// seq order (which is not necessarily time order: evidence may arrive late). It scans the
// whole journal, which retention keeps bounded; the embedded query layer uses it only
// when no InfluxDB is configured.
func (s *Store) EventsBetween(from, to time.Time) ([]event.Event, error) {
	var evs []event.Event
	err := s.view(func(tx *bolt.Tx) error {
		p := s.pager(tx)
		defer p.done()
		return tx.Bucket(bucketJournal).ForEach(func(k, v []byte) error {
			p.read()
			s.decoded.Add(1)
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			if !ev.Time.Before(from) && ev.Time.Before(to) {
				evs = append(evs, ev)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("events between %s and %s: %w", from, to, err)
	}
	return evs, nil
}

// Cursor returns the sequence number of the last event the sink delivered, 0 if none,
// including a cursor saved lazily (SaveCursorLazily) and not yet written.
func (s *Store) Cursor(sink string) (uint64, error) {
	if seq, ok := s.pendingCursor(sink); ok {
		return seq, nil
	}
	return s.savedCursor(sink)
}

// SetCursor durably records that the sink delivered every event up to seq. It may move
// the cursor backwards (a replay) but never beyond LastSeq.
func (s *Store) SetCursor(sink string, seq uint64) error {
	if sink == "" {
		return errors.New("set cursor: empty sink name")
	}
	err := s.update(func(tx *bolt.Tx) error {
		if last := decodeSeq(tx.Bucket(bucketMeta).Get(keyLastSeq)); seq > last {
			return fmt.Errorf("seq %d is beyond the last event %d", seq, last)
		}
		return tx.Bucket(bucketCursors).Put([]byte(sink), encodeSeq(seq))
	})
	if err != nil {
		return fmt.Errorf("set cursor %s: %w", sink, mapErr(err))
	}
	s.dropPendingCursor(sink)
	return nil
}

// Cursors returns every sink's cursor (store copy).
func (s *Store) Cursors() (map[string]uint64, error) { return s.cursors() }

// cursors returns every sink's cursor.
func (s *Store) cursors() (map[string]uint64, error) {
	cursors := make(map[string]uint64)
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCursors).ForEach(func(k, v []byte) error {
			cursors[string(k)] = decodeSeq(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	s.cursorMu.Lock()
	for k, v := range s.pendingCursors {
		cursors[k] = v
	}
	s.cursorMu.Unlock()
	return cursors, nil
}

// Prune applies retention by age, never past what a sink has not delivered. It deletes
// the journal events recorded (RecordedAt) before recordedBefore that every sink named in
// sinks has delivered (its durable cursor is at or past the event: Cursor; a sink without
// a cursor has delivered nothing), with their index entries and identities; the
// Idempotency-Keys recorded before recordedBefore; and the states of environments
// terminated (TerminatedAt) before it. The sinks' lazily saved cursors are written first,
// in the same transaction, so what it reads is what a restart would. It returns the
// number of events deleted; the log line says from which event on it kept old events
// for a sink that has not delivered them.
//
// Events are deleted from the start of the journal only, stopping at the first event
// that must stay, so the journal stays contiguous (if the clock went backwards, an
// older-looking event after a newer one waits for the next Prune). Large prunes run in
// several transactions of at most 2000 events.
func (s *Store) Prune(recordedBefore time.Time, sinks []string) (int, error) {
	pruned := 0
	var heldFrom uint64
	for {
		n, more, h, err := s.pruneEvents(recordedBefore, sinks)
		pruned, heldFrom = pruned+n, h
		if err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		if !more {
			break
		}
	}
	keys := 0
	for {
		var n int
		var more bool
		s.mu.Lock()
		err := s.update(func(tx *bolt.Tx) error {
			var err error
			n, more, err = pruneKeys(tx, recordedBefore, pruneBatch)
			return err
		})
		s.mu.Unlock()
		keys += n
		if err != nil {
			return pruned, fmt.Errorf("prune idempotency keys: %w", mapErr(err))
		}
		if !more {
			break
		}
	}
	states, err := s.pruneStates(recordedBefore)
	if err != nil {
		return pruned, fmt.Errorf("prune: %w", err)
	}
	if _, err := s.pruneGaps(recordedBefore); err != nil {
		return pruned, fmt.Errorf("prune: %w", err)
	}
	if pruned > 0 || states > 0 || keys > 0 || heldFrom > 0 {
		kv := []any{"msg", "pruned store", "recorded_before", recordedBefore.UTC().Format(time.RFC3339),
			"events", pruned, "idempotency_keys", keys, "environments", states, "first_seq", s.first.Load()}
		if heldFrom > 0 {
			kv = append(kv, "kept_undelivered_from_seq", heldFrom)
		}
		level.Info(s.logger).Log(kv...)
	}
	return pruned, nil
}

// pruneEvents deletes one batch; more reports whether another batch may be due, heldFrom
// is the first event old enough that it kept for a sink (0: none).
func (s *Store) pruneEvents(before time.Time, sinks []string) (n int, more bool, heldFrom uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first, prunedTo uint64
	if err := s.barrier(); err != nil {
		return 0, false, 0, err
	}
	err = s.updateWithCursors(func(tx *bolt.Tx) error {
		// The oldest event a sink has not delivered, and every later one, stays.
		keep := uint64(math.MaxUint64)
		cb := tx.Bucket(bucketCursors)
		for _, name := range sinks {
			keep = min(keep, decodeSeq(cb.Get([]byte(name)))+1)
		}
		journal := tx.Bucket(bucketJournal)
		index := tx.Bucket(bucketEnvIndex)
		ids := tx.Bucket(bucketIdentities)
		type victim struct {
			key []byte
			ev  event.Event
		}
		var victims []victim
		c := journal.Cursor()
		k, v := c.First()
		for ; k != nil; k, v = c.Next() {
			if len(victims) == pruneBatch {
				more = true
				break
			}
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			if !ev.RecordedAt.Before(before) {
				break
			}
			if decodeSeq(k) >= keep {
				heldFrom = decodeSeq(k) // a sink has not delivered it
				break
			}
			victims = append(victims, victim{key: bytes.Clone(k), ev: ev})
		}
		if k != nil {
			first = decodeSeq(k)
		}
		for _, vi := range victims {
			seq := decodeSeq(vi.key)
			if err := journal.Delete(vi.key); err != nil {
				return err
			}
			if err := index.Delete(indexKey(vi.ev.EnvironmentID, seq)); err != nil {
				return err
			}
			if err := deleteIdentity(ids, &vi.ev); err != nil {
				return err
			}
		}
		n = len(victims)
		if n > 0 {
			prunedTo = decodeSeq(victims[n-1].key)
		}
		return nil
	})
	if err != nil {
		return 0, false, 0, err
	}
	if n > 0 {
		s.recent.dropBefore(prunedTo + 1)
		s.first.Store(first)
		s.metrics.Pruned.Add(float64(n))
	}
	return n, more, heldFrom, nil
}

// pruneStates deletes the states of environments terminated before before. The scan
// is a read (its pages released as it goes); the write re-reads only the candidates,
// which a commit may have revived meanwhile.
func (s *Store) pruneStates(before time.Time) (int, error) {
	expired := func(v []byte) (bool, error) {
		var st struct {
			TerminatedAt time.Time `json:"terminated_at"`
		}
		if err := json.Unmarshal(v, &st); err != nil {
			return false, err
		}
		return !st.TerminatedAt.IsZero() && st.TerminatedAt.Before(before), nil
	}
	var candidates [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		p := s.pager(tx)
		defer p.done()
		return tx.Bucket(bucketEnvs).ForEach(func(k, v []byte) error {
			p.read()
			old, err := expired(v)
			if err != nil {
				return fmt.Errorf("state %s: %w", k, err)
			}
			if old {
				candidates = append(candidates, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(candidates) == 0 {
		return 0, err
	}
	n := 0
	err = s.update(func(tx *bolt.Tx) error {
		envs := tx.Bucket(bucketEnvs)
		for _, k := range candidates {
			v := envs.Get(k)
			if v == nil {
				continue
			}
			if old, err := expired(v); err != nil || !old {
				continue
			}
			if err := envs.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, mapErr(err)
}

// Subscribe returns a channel that receives after each Commit that appended events, and a
// function that ends the subscription. The channel has a capacity of one and is sent to
// without blocking, so notifications coalesce: one receive means "new events may follow
// the last one you read; read from your cursor until there are none". A slow or absent
// reader never blocks Commit. Subscribe before the first read so that no commit is
// missed. The channel is never closed (not by Close either); stop with a context.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, ch)
			s.subMu.Unlock()
		})
	}
}

// notify returns one shared subscription channel (see Subscribe), the same on every call.
// With several readers only one of them receives each notification: give each sink its
// own Subscribe instead.
func (s *Store) notify() <-chan struct{} {
	s.notifyOnce.Do(func() { s.notifyCh, _ = s.Subscribe() })
	return s.notifyCh
}

func (s *Store) broadcast() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.barrier(); err != nil {
		return err
	}
	return mapErr(s.db.View(fn))
}

// viewApplied is view without the barrier: what the file holds now. Only for reads
// that look the records not yet applied up themselves (pending).
func (s *Store) viewApplied(fn func(*bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return mapErr(s.db.View(fn))
}

// update is a write of the bbolt file other than a commit's: after the commits
// acknowledged before it (barrier), in their order.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if err := s.barrier(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func encodeSeq(seq uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, seq)
	return b
}

func decodeSeq(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func indexPrefix(id string) []byte {
	b := make([]byte, 2, 2+len(id)+8)
	binary.BigEndian.PutUint16(b, uint16(len(id)))
	return append(b, id...)
}

func indexKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(indexPrefix(id), seq)
}

func decodeEvent(k, v []byte) (event.Event, error) {
	ev, err := UnmarshalEvent(v)
	if err != nil {
		return event.Event{}, fmt.Errorf("event %d: %w", decodeSeq(k), err)
	}
	return ev, nil
}

// UnmarshalEvent decodes an event's JSON as json.Unmarshal does, the journal's own
// format without reflection (eventparse.go): the other journal drivers read the same
// bytes.
func UnmarshalEvent(v []byte) (event.Event, error) {
	if ev, ok := parseEvent(v); ok {
		return ev, nil
	}
	var ev event.Event
	err := json.Unmarshal(v, &ev)
	return ev, err
}

func decodeState(k, v []byte) (tracker.State, error) {
	var st tracker.State
	if err := json.Unmarshal(v, &st); err != nil {
		return tracker.State{}, fmt.Errorf("state %q: %w", k, err)
	}
	return st, nil
}
