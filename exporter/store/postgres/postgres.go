// Package postgres is envtrack's journal in PostgreSQL (store.driver: postgres), shared
// by every replica: what exporter/store keeps in one bbolt file (environments, events,
// sink cursors, set-aside events), plus the leader's lease.
//
// Every replica serves reads and takes pushes. A commit is one transaction that locks
// the journal's head row first, so commits are serialised across replicas and sequence
// numbers are handed out in commit order without a gap: a sink that read up to N never
// meets an N-1 committed later. The environments a commit writes are locked in the same
// transaction (SELECT ... FOR UPDATE), and their versions must be those the committing
// replica's tracker planned from; else the commit fails with tracker.ErrStale and the
// tracker plans again from the stored states (Fresh). Each replica follows the others'
// commits (Changes, woken by LISTEN/NOTIFY and a poll), so its tracker's view, which the
// reads, the URL checks and the timeouts use, is at most a poll behind.
//
// One replica leads, by a lease (lease.go): the Argo CD watch, the URL checks, the
// timeout evaluation, sink delivery and retention run there only, through Fenced, whose
// every write checks the lease's epoch in its own transaction.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Defaults of Options.
const (
	DefaultPollInterval = time.Second
	// opTimeout bounds one journal operation (a hang guard: the interfaces the consumers
	// declare take no context).
	opTimeout = 30 * time.Second
	// pruneBatch is how many events one Prune transaction deletes at most (as bbolt).
	pruneBatch = 2000
	// tombstoneKeep is how long a pruned environment's tombstone tells the replicas to
	// forget it; a replica away for longer reloads every state when it starts.
	tombstoneKeep = 24 * time.Hour
	// notifyChannel is the LISTEN/NOTIFY channel of commits; the payload is last_seq.
	notifyChannel = "envtrack_journal"
)

// Options configure a Store.
type Options struct {
	Logger log.Logger
	// Now stamps RecordedAt on appended events and is retention's clock; nil: time.Now.
	Now func() time.Time
	// MaxConns bounds the pool (config store.postgres.max_connections); one more
	// connection listens for the other replicas' commits.
	MaxConns int
	// LeaseDuration and RenewInterval are the lease's (config store.postgres).
	LeaseDuration time.Duration
	RenewInterval time.Duration
	// Holder names this replica in the lease; empty: host name, process id and a random
	// suffix.
	Holder string
	// PollInterval is how often the journal's head is read when no notification came
	// (a lost LISTEN connection); zero: DefaultPollInterval.
	PollInterval time.Duration
	// NoListen skips LISTEN (store copy, check tools): no subscriber is woken by other
	// processes' commits but by the poll.
	NoListen bool
	// Tracer, if set, observes every statement and pipeline the pool's connections send
	// (pgx's tracing; the tests count round trips with it).
	Tracer pgx.QueryTracer
}

// Store is the journal in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	connCfg   *pgx.ConnConfig // for the listening connection
	logger    log.Logger
	now       func() time.Time
	opts      Options
	journalID string
	createdAt time.Time
	holder    string

	first, last atomic.Uint64
	sizeBytes   atomic.Int64
	closed      atomic.Bool
	lastContact atomic.Int64 // unix nanos of the last successful round trip

	// knownMu guards known and lastRev: the version of each environment's state this
	// replica's tracker holds, and the change feed's position. The tracker calls every
	// method that reads or writes them under its own lock (Commit, Fresh, Changes), so
	// they move in step with its states.
	knownMu sync.Mutex
	known   map[string]int64
	lastRev int64

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
	// others: SubscribeOthers'
	others map[chan struct{}]struct{}
	// ownPIDs: the process ids of the server's backends serving the pool's
	// connections; a notification one of them sent is of this replica's own commit.
	ownPIDs *sync.Map

	cursors *lazyCursors // the unfenced SaveCursorLazily (tools); Fenced has its own

	// recent: the last events this replica committed, which its sinks read right behind
	// the commits (store.Recent); decoded counts the events read from the database.
	recent  store.Recent
	decoded atomic.Uint64

	stop context.CancelFunc
	wg   sync.WaitGroup

	metrics store.Metrics
}

// Open connects to the database, applies the schema's migrations (under an advisory
// lock, so that replicas starting together apply each once) and loads the journal's
// identity and head. A database whose schema is newer than this binary is refused with
// a *SchemaError, changing nothing.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConns < 2 {
		opts.MaxConns = 4
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewInterval <= 0 {
		opts.RenewInterval = opts.LeaseDuration / 3
	}
	if opts.Holder == "" {
		opts.Holder = defaultHolder()
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("store.postgres.dsn: not a PostgreSQL connection string")
	}
	pcfg.MaxConns = int32(opts.MaxConns)
	pcfg.MinConns = 1
	if opts.Tracer != nil {
		pcfg.ConnConfig.Tracer = opts.Tracer
	}
	var own sync.Map // the server processes of the pool's connections: listen
	pcfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		own.Store(c.PgConn().PID(), struct{}{})
		return nil
	}
	pcfg.BeforeClose = func(c *pgx.Conn) { own.Delete(c.PgConn().PID()) }
	rp := pcfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "envtrack"
	}
	// A replica stopped in the middle of a transaction (SIGSTOP, a frozen VM) holds the
	// journal's head lock, and with it every replica's commits: the server ends such a
	// session after half a lease, and its transaction with it (the stopped replica's
	// commit then fails; nothing of it is stored).
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(max(opts.LeaseDuration/2, time.Second).Milliseconds(), 10)
	s := &Store{
		connCfg: pcfg.ConnConfig.Copy(),
		logger:  opts.Logger,
		now:     opts.Now,
		opts:    opts,
		holder:  opts.Holder,
		known:   map[string]int64{},
		subs:    map[chan struct{}]struct{}{},
		others:  map[chan struct{}]struct{}{},
		cursors: newLazyCursors(),
		ownPIDs: &own,

		metrics: store.NewMetrics(),
	}
	// Migrations first, on a connection of their own: the pool's connections prepare
	// statements against the final schema.
	conn, err := pgx.ConnectConfig(ctx, pcfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("open journal in PostgreSQL: %w", scrub(err, dsn))
	}
	applied, err := migrate(ctx, conn)
	if err == nil {
		err = s.initMeta(ctx, conn)
	}
	_ = conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("open journal in PostgreSQL: %w", scrub(err, dsn))
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("open journal in PostgreSQL: %w", scrub(err, dsn))
	}
	if err := s.pollHead(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open journal in PostgreSQL: %w", scrub(err, dsn))
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.follow(bg) }()
	level.Info(s.logger).Log("msg", "journal opened", "driver", "postgres", "journal_id", s.journalID,
		"schema_version", SchemaVersion(), "migrations_applied", fmt.Sprint(applied), "holder", s.holder,
		"first_seq", s.first.Load(), "last_seq", s.last.Load())
	return s, nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// initMeta creates the journal's identity on first use and reads it.
func (s *Store) initMeta(ctx context.Context, conn *pgx.Conn) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	created := s.now().UTC().Truncate(time.Second)
	if _, err := conn.Exec(ctx, `INSERT INTO envtrack_meta (id, journal_id, created_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO NOTHING`, hex.EncodeToString(b[:]), created); err != nil {
		return fmt.Errorf("journal identity: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT journal_id, created_at FROM envtrack_meta WHERE id = 1").Scan(&s.journalID, &s.createdAt); err != nil {
		return fmt.Errorf("journal identity: %w", err)
	}
	s.createdAt = s.createdAt.UTC()
	return nil
}

// Close stops following the journal, writes the cursors saved lazily through the
// unfenced path (tools), and closes the pool. Further calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.flushLazy(nil, s.cursors); err != nil {
		level.Warn(s.logger).Log("msg", "cursors not saved at close: the sinks will redeliver (idempotently)", "err", err)
	}
	s.stop()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// JournalID is the journal's random identity, part of every event id.
func (s *Store) JournalID() string { return s.journalID }

// Holder is this replica's name in the lease.
func (s *Store) Holder() string { return s.holder }

// CreatedAt is when the journal was created: when envtrack began tracking.
func (s *Store) CreatedAt() time.Time { return s.createdAt }

// FirstSeq is the oldest event held (0: none), as of the last read of the head.
func (s *Store) FirstSeq() uint64 { return s.first.Load() }

// LastSeq is the last sequence number assigned, as of this replica's last commit or
// its last read of the head (a notification, or the poll): every event up to it is
// committed.
func (s *Store) LastSeq() uint64 { return s.last.Load() }

// Stats describes the journal; FileBytes is the size of envtrack's tables.
func (s *Store) Stats() store.Stats {
	st := store.Stats{FirstSeq: s.first.Load(), LastSeq: s.last.Load(), FileBytes: s.sizeBytes.Load(), Decoded: s.decoded.Load()}
	if st.FirstSeq != 0 && st.LastSeq >= st.FirstSeq {
		st.Events = st.LastSeq - st.FirstSeq + 1
	}
	return st
}

// Reachable reports whether the database answered within the last d: a replica that
// cannot reach it serves no fresh reads and takes no push (its readiness).
func (s *Store) Reachable(d time.Duration) bool {
	at := s.lastContact.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < d
}

func (s *Store) contact() { s.lastContact.Store(time.Now().UnixNano()) }

// ctx returns the context of one operation, or store.ErrClosed.
func (s *Store) ctx() (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	return ctx, cancel, nil
}

// mapErr turns the pool's "closed" into store.ErrClosed (the sink runners stop on it).
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("%w (%v)", store.ErrClosed, err)
	}
	return err
}

// Events returns up to limit events with Seq > afterSeq, in seq order (limit <= 0: all).
// A sink reads from its cursor with Events(cursor, batch): from memory when it follows
// this replica's commits closely (store.Recent), so that the leader's sinks neither
// transfer nor decode what it just wrote. Memory holds this replica's commits only, so
// an answer from it that is short of limit also asks the database for what follows (a
// commit of another replica since): a query that finds nothing in the common case, and
// the answer is the database's, as if read whole. The events' metadata maps may be
// shared with other readers: they are not to be changed.
func (s *Store) Events(afterSeq uint64, limit int) ([]event.Event, error) {
	var held []event.Event
	if !s.closed.Load() { // a closed store answers its error, even what memory holds
		var ok bool
		if held, ok = s.recent.Events(afterSeq, limit); ok {
			if limit > 0 && len(held) == limit {
				return held, nil
			}
			afterSeq = held[len(held)-1].Seq
			if limit > 0 {
				limit -= len(held)
			}
		}
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	if limit <= 0 {
		limit = -1
	}
	var lim any = limit
	if limit < 0 {
		lim = nil // LIMIT NULL: no limit
	}
	evs, err := s.queryEvents(ctx, "SELECT seq, body FROM envtrack_events WHERE seq > $1 ORDER BY seq LIMIT $2", int64(min(afterSeq, 1<<63-1)), lim)
	if err != nil {
		return nil, fmt.Errorf("events after %d: %w", afterSeq, s.mapErr(err))
	}
	if len(held) > 0 {
		return append(held, evs...), nil
	}
	return evs, nil
}

// EnvironmentEvents returns one environment's events still held, in seq order.
func (s *Store) EnvironmentEvents(id string) ([]event.Event, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	evs, err := s.queryEvents(ctx, "SELECT seq, body FROM envtrack_events WHERE environment_id = $1 ORDER BY seq", id)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, s.mapErr(err))
	}
	return evs, nil
}

// EventsBetween returns the events whose evidence time is in [from, to), in seq order.
func (s *Store) EventsBetween(from, to time.Time) ([]event.Event, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	evs, err := s.queryEvents(ctx, "SELECT seq, body FROM envtrack_events WHERE time >= $1 AND time < $2 ORDER BY seq", from, to)
	if err != nil {
		return nil, fmt.Errorf("events between %s and %s: %w", from, to, s.mapErr(err))
	}
	return evs, nil
}

func (s *Store) queryEvents(ctx context.Context, sql string, args ...any) ([]event.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []event.Event
	var (
		seq  int64
		body []byte
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, err
		}
		ev, err := store.UnmarshalEvent(body)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", seq, err)
		}
		s.decoded.Add(1)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.contact()
	return evs, nil
}

// Environments returns every stored tracker state, and makes them the versions this
// replica's tracker holds (the start of the change feed).
func (s *Store) Environments() (map[string]tracker.State, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	// One statement, one snapshot: the states and the feed's position agree.
	rows, err := s.pool.Query(ctx, `SELECT m.state_rev, e.id, e.version, e.state
		FROM envtrack_meta m LEFT JOIN envtrack_environments e ON e.state IS NOT NULL WHERE m.id = 1`)
	if err != nil {
		return nil, fmt.Errorf("environments: %w", s.mapErr(err))
	}
	defer rows.Close()
	states := map[string]tracker.State{}
	known := map[string]int64{}
	var rev int64
	pool := tracker.Strings{}
	for rows.Next() {
		var (
			id      *string
			version *int64
			body    []byte
		)
		if err := rows.Scan(&rev, &id, &version, &body); err != nil {
			return nil, fmt.Errorf("environments: %w", err)
		}
		if id == nil {
			continue
		}
		st, err := decodeState(*id, body)
		if err != nil {
			return nil, err
		}
		pool.Share(&st)
		states[*id] = st
		known[*id] = *version
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("environments: %w", s.mapErr(err))
	}
	s.contact()
	s.knownMu.Lock()
	s.known, s.lastRev = known, rev
	s.knownMu.Unlock()
	return states, nil
}

func decodeState(id string, body []byte) (tracker.State, error) {
	var st tracker.State
	if err := json.Unmarshal(body, &st); err != nil {
		return tracker.State{}, fmt.Errorf("state %q: %w", id, err)
	}
	return st, nil
}

// Cursor returns the sink's cursor: one saved lazily and not yet written, else the
// stored one (0: none).
func (s *Store) Cursor(sink string) (uint64, error) {
	if seq, ok := s.cursors.get(sink); ok {
		return seq, nil
	}
	return s.storedCursor(sink)
}

// HasCursor reports whether the sink has a cursor, stored or saved lazily: false for a
// sink the journal has never delivered to.
func (s *Store) HasCursor(sink string) (bool, error) {
	if _, ok := s.cursors.get(sink); ok {
		return true, nil
	}
	return s.hasStoredCursor(sink)
}

func (s *Store) hasStoredCursor(sink string) (bool, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return false, err
	}
	defer cancel()
	var has bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM envtrack_cursors WHERE sink = $1)", sink).Scan(&has); err != nil {
		return false, fmt.Errorf("cursor %s: %w", sink, s.mapErr(err))
	}
	return has, nil
}

func (s *Store) storedCursor(sink string) (uint64, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	var seq int64
	err = s.pool.QueryRow(ctx, "SELECT seq FROM envtrack_cursors WHERE sink = $1", sink).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cursor %s: %w", sink, s.mapErr(err))
	}
	s.contact()
	return uint64(seq), nil
}

// Cursors returns every sink's stored cursor (store copy).
func (s *Store) Cursors() (map[string]uint64, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT sink, seq FROM envtrack_cursors")
	if err != nil {
		return nil, s.mapErr(err)
	}
	out := map[string]uint64{}
	var (
		name string
		seq  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &seq}, func() error { out[name] = uint64(seq); return nil })
	return out, s.mapErr(err)
}

// SetAsideCount returns how many events are set aside for the sink.
func (s *Store) SetAsideCount(sink string) (int, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM envtrack_set_aside WHERE sink = $1", sink).Scan(&n); err != nil {
		return 0, fmt.Errorf("set-aside count of %s: %w", sink, s.mapErr(err))
	}
	return n, nil
}

// SetAsideEntries returns the sink's set-aside events in seq order (store copy).
func (s *Store) SetAsideEntries(sink string) ([]store.SetAsideEntry, error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT entry FROM envtrack_set_aside WHERE sink = $1 ORDER BY seq", sink)
	if err != nil {
		return nil, s.mapErr(err)
	}
	var out []store.SetAsideEntry
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&body}, func() error {
		var e store.SetAsideEntry
		if err := json.Unmarshal(body, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, s.mapErr(err)
}

// scrub keeps a DSN's password out of an error message (pgconn's errors quote the host
// and user, not the password; a DSN in key=value form might be echoed whole).
func scrub(err error, dsn string) error {
	if err == nil {
		return nil
	}
	return scrubbed{err: err, dsn: dsn}
}

type scrubbed struct {
	err error
	dsn string
}

func (e scrubbed) Error() string { return secretsOf(e.dsn).String(e.err.Error()) }
func (e scrubbed) Unwrap() error { return e.err }
