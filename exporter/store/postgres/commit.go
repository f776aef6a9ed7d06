package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Commit writes states and appends events in one transaction, committed (fsync'd with
// synchronous_commit on, PostgreSQL's default) before it returns: the push path's
// commit, which any replica makes. It fails, storing nothing, with tracker.ErrStale when
// a state changed since this replica's tracker read it, and with tracker.ErrRepeated
// when one of keys (CommitKeyed) is recorded already (another replica recorded the same
// push since this one looked it up). Each event with an identity (event.Identity) is
// indexed by it in the same transaction (Known).
func (s *Store) Commit(states []tracker.State, events []event.Event) ([]event.Event, error) {
	return s.commit(nil, states, events, nil)
}

// CommitKeyed is Commit that also records Idempotency-Keys in the same transaction, each
// bound to the fingerprint of the request it came with, at the commit's RecordedAt
// (IdempotencyKeys reads them back; Prune expires them). Unlike the bbolt store, whose
// only writer looked the keys up itself, it replaces no key: one recorded meanwhile
// fails the commit with tracker.ErrRepeated, storing nothing.
func (s *Store) CommitKeyed(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	return s.commit(nil, states, events, keys)
}

// commit is CommitKeyed, fenced by the lease when l is not nil.
func (s *Store) commit(l *Lease, states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	if len(states) == 0 && len(events) == 0 && len(keys) == 0 {
		return nil, nil
	}
	for k := range keys {
		if k == "" || len(k) > MaxIDLength {
			return nil, fmt.Errorf("commit: idempotency key of %d bytes", len(k))
		}
	}
	for _, st := range states {
		if err := checkID(st.ID); err != nil {
			return nil, fmt.Errorf("commit: state: %w", err)
		}
	}
	for _, ev := range events {
		if err := checkID(ev.EnvironmentID); err != nil {
			return nil, fmt.Errorf("commit: event %s: %w", ev.Name, err)
		}
	}
	if l != nil {
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	defer cancel()
	start := time.Now()
	out, versions, err := s.commitTx(ctx, l, states, events, keys)
	if err != nil {
		if errors.Is(err, tracker.ErrStale) || errors.Is(err, tracker.ErrRepeated) {
			s.staleCommits.Inc()
		}
		if l != nil && errors.Is(err, ErrNotLeader) {
			l.lose("a commit found the lease taken")
		}
		return nil, fmt.Errorf("commit: %w", s.mapErr(err))
	}
	s.contact()
	s.commitDuration.Observe(time.Since(start).Seconds())
	s.knownMu.Lock()
	for id, v := range versions {
		s.known[id] = v
	}
	s.knownMu.Unlock()
	if len(out) > 0 {
		s.commitEvents.Observe(float64(len(out)))
		s.first.CompareAndSwap(0, out[0].Seq)
		s.advance(out[len(out)-1].Seq)
		s.broadcast()
	}
	return out, nil
}

// commitTx is the transaction: two round trips (the locks and checks, then the writes
// and COMMIT), so that the head lock, which serialises every replica's commits, is held
// for one round trip and the commit's flush.
func (s *Store) commitTx(ctx context.Context, l *Lease, states []tracker.State, events []event.Event, keyed map[string]event.Fingerprint) (out []event.Event, versions map[string]int64, err error) {
	ids := make([]string, 0, len(states))
	for _, st := range states {
		ids = append(ids, st.ID)
	}
	sort.Strings(ids) // one lock order everywhere
	keys := make([]string, 0, len(keyed))
	fps := make([][]byte, 0, len(keyed))
	for k, fp := range keyed {
		keys = append(keys, k)
		fps = append(fps, bytes.Clone(fp[:]))
	}
	bump := 0
	if len(states) > 0 {
		bump = 1
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	open := false
	defer func() {
		if open {
			// A failed transaction is rolled back; a connection that cannot even do
			// that is dropped from the pool.
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				_ = conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if l != nil {
		b.Queue(fenceSQL, s.holder, l.epoch)
	}
	b.Queue("UPDATE envtrack_meta SET last_seq = last_seq + $1, state_rev = state_rev + $2 WHERE id = 1 RETURNING last_seq, state_rev",
		int64(len(events)), bump)
	b.Queue("SELECT id, version FROM envtrack_environments WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	if len(keys) > 0 {
		// After the head lock: a key another replica recorded is visible (READ COMMITTED).
		b.Queue("SELECT key FROM envtrack_idempotency WHERE key = ANY($1) LIMIT 1", keys)
	}
	br := conn.SendBatch(ctx, b)
	open = true
	var (
		last, rev int64
		stored    = map[string]int64{}
		dupKey    string
		fenced    = true
	)
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if l != nil {
			var one int
			switch err := br.QueryRow().Scan(&one); {
			case errors.Is(err, pgx.ErrNoRows):
				fenced = false
			case err != nil:
				return err
			}
		}
		if err := br.QueryRow().Scan(&last, &rev); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var (
			id string
			v  int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { stored[id] = v; return nil }); err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := br.QueryRow().Scan(&dupKey); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	if !fenced {
		return nil, nil, ErrNotLeader
	}
	s.knownMu.Lock()
	var stale []string
	for _, id := range ids {
		if stored[id] != s.known[id] {
			stale = append(stale, id)
		}
	}
	s.knownMu.Unlock()
	if len(stale) > 0 {
		return nil, nil, fmt.Errorf("%w: environment %s was written by another replica", tracker.ErrStale, stale[0])
	}
	if dupKey != "" {
		return nil, nil, fmt.Errorf("%w: %q", tracker.ErrRepeated, dupKey)
	}
	if last < 0 || uint64(last) > math.MaxInt64 {
		return nil, nil, errors.New("sequence numbers exhausted")
	}

	// The writes.
	recordedAt := s.now().UTC()
	first := uint64(last) - uint64(len(events)) + 1
	out = make([]event.Event, len(events))
	copy(out, events)
	var (
		seqs    = make([]int64, len(out))
		envs    = make([]string, len(out))
		names   = make([]string, len(out))
		times   = make([]time.Time, len(out))
		recs    = make([]time.Time, len(out))
		ikeys   = make([]*string, len(out))
		bodies  = make([]string, len(out))
		sids    = make([]string, len(states))
		svers   = make([]int64, len(states))
		sbodies = make([]string, len(states))
		sterm   = make([]*time.Time, len(states))
	)
	for i := range out {
		ev := &out[i]
		ev.Seq = first + uint64(i)
		ev.ID = event.MakeID(s.journalID, ev.Seq)
		ev.RecordedAt = recordedAt
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("event %s of %s: %w", ev.Name, ev.EnvironmentID, err)
		}
		seqs[i], envs[i], names[i], times[i], recs[i], bodies[i] = int64(ev.Seq), ev.EnvironmentID, string(ev.Name), ev.Time, recordedAt, string(body)
		if k, _ := ev.Meta(tracker.MetaIdempotencyKey).(string); k != "" {
			ikeys[i] = &k
		}
	}
	versions = make(map[string]int64, len(states))
	for i, st := range states {
		body, err := json.Marshal(st)
		if err != nil {
			return nil, nil, fmt.Errorf("state %s: %w", st.ID, err)
		}
		v := stored[st.ID] + 1
		versions[st.ID] = v
		sids[i], svers[i], sbodies[i] = st.ID, v, string(body)
		if !st.TerminatedAt.IsZero() {
			t := st.TerminatedAt
			sterm[i] = &t
		}
	}
	b = &pgx.Batch{}
	if len(states) > 0 {
		b.Queue(`INSERT INTO envtrack_environments (id, version, rev, state, terminated_at)
			SELECT id, v, $5, st, term FROM unnest($1::text[], $2::bigint[], $3::json[], $4::timestamptz[]) AS u(id, v, st, term)
			ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, rev = EXCLUDED.rev, state = EXCLUDED.state,
				terminated_at = EXCLUDED.terminated_at, deleted_at = NULL`,
			sids, svers, sbodies, sterm, rev)
	}
	if len(out) > 0 {
		b.Queue(`INSERT INTO envtrack_events (seq, environment_id, name, time, recorded_at, idempotency_key, body)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::json[])`,
			seqs, envs, names, times, recs, ikeys, bodies)
		if idents, iseqs := identityRows(out); len(idents) > 0 {
			b.Queue(upsertIdentities, idents, iseqs)
		}
		b.Queue("SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(last, 10))
	}
	if len(keys) > 0 {
		b.Queue(`INSERT INTO envtrack_idempotency (key, fingerprint, recorded_at)
			SELECT k, fp, $3 FROM unnest($1::text[], $2::bytea[]) AS u(k, fp)
			ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, recorded_at = EXCLUDED.recorded_at`,
			keys, fps, recordedAt)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	open = false
	return out, versions, nil
}

const upsertIdentities = `INSERT INTO envtrack_identities (identity, seq)
	SELECT * FROM unnest($1::bytea[], $2::bigint[])
	ON CONFLICT (identity) DO UPDATE SET seq = EXCLUDED.seq`

// identityRows returns the identities of the stored events that have one, each with
// the seq of the last of them (one row per identity: an upsert may not touch a row
// twice).
func identityRows(events []event.Event) (ids [][]byte, seqs []int64) {
	at := map[event.Fingerprint]int{}
	for _, ev := range events {
		id, ok := ev.Identity()
		if !ok {
			continue
		}
		if i, ok := at[id]; ok {
			seqs[i] = int64(ev.Seq)
			continue
		}
		at[id] = len(ids)
		ids = append(ids, bytes.Clone(id[:]))
		seqs = append(seqs, int64(ev.Seq))
	}
	return ids, seqs
}

// Known reports, for each identity (event.Identity), whether an event the journal holds
// has it (ingest.Journal).
func (s *Store) Known(ids []event.Fingerprint) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	arg := make([][]byte, len(ids))
	for i, id := range ids {
		arg[i] = bytes.Clone(id[:])
	}
	rows, err := s.pool.Query(ctx, "SELECT identity FROM envtrack_identities WHERE identity = ANY($1)", arg)
	if err != nil {
		return nil, fmt.Errorf("known identities: %w", s.mapErr(err))
	}
	found := map[event.Fingerprint]bool{}
	var b []byte
	if _, err := pgx.ForEachRow(rows, []any{&b}, func() error {
		var fp event.Fingerprint
		copy(fp[:], b)
		found[fp] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("known identities: %w", s.mapErr(err))
	}
	for i, id := range ids {
		out[i] = found[id]
	}
	return out, nil
}

// IdempotencyKeys returns, for each of keys that is recorded (CommitKeyed) and not yet
// expired (Prune), the fingerprint of the request it was recorded with.
func (s *Store) IdempotencyKeys(keys []string) (map[string]event.Fingerprint, error) {
	out := map[string]event.Fingerprint{}
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, err
	}
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT key, fingerprint FROM envtrack_idempotency WHERE key = ANY($1)", keys)
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", s.mapErr(err))
	}
	var (
		k string
		b []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&k, &b}, func() error {
		var fp event.Fingerprint
		copy(fp[:], b)
		out[k] = fp
		return nil
	}); err != nil {
		return nil, fmt.Errorf("idempotency keys: %w", s.mapErr(err))
	}
	return out, nil
}

// Fresh returns, of ids, the environments whose stored state is not at the version this
// replica's tracker holds: changed (the stored state) or gone (deleted, or a tombstone),
// and makes the stored versions the ones held (tracker.Shared: the tracker installs
// what it returns under the same lock).
func (s *Store) Fresh(ids []string) (changed []tracker.State, gone []string, err error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	s.knownMu.Lock()
	vers := make([]int64, len(ids))
	for i, id := range ids {
		vers[i] = s.known[id]
	}
	s.knownMu.Unlock()
	rows, err := s.pool.Query(ctx, `SELECT k.id, coalesce(e.version, 0), e.state
		FROM unnest($1::text[], $2::bigint[]) AS k(id, v) LEFT JOIN envtrack_environments e ON e.id = k.id
		WHERE coalesce(e.version, 0) <> k.v`, ids, vers)
	if err != nil {
		return nil, nil, fmt.Errorf("fresh states: %w", s.mapErr(err))
	}
	changed, gone, versions, err := scanStates(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("fresh states: %w", s.mapErr(err))
	}
	s.contact()
	s.knownMu.Lock()
	for id, v := range versions {
		s.known[id] = v
	}
	s.knownMu.Unlock()
	return changed, gone, nil
}

// Changes returns the states other replicas wrote (or retention deleted) since the last
// call, or since Environments: the change feed that keeps this replica's tracker
// current (tracker.Shared). A state this replica's tracker holds at its stored version
// is not returned.
func (s *Store) Changes() (changed []tracker.State, gone []string, err error) {
	ctx, cancel, err := s.ctx()
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	s.knownMu.Lock()
	since := s.lastRev
	s.knownMu.Unlock()
	// One statement, one snapshot: the rows and the feed's new position agree.
	rows, err := s.pool.Query(ctx, `SELECT m.state_rev, e.id, e.version, e.state
		FROM envtrack_meta m LEFT JOIN envtrack_environments e ON e.rev > $1 WHERE m.id = 1 ORDER BY e.rev`, since)
	if err != nil {
		return nil, nil, fmt.Errorf("state changes: %w", s.mapErr(err))
	}
	defer rows.Close()
	var rev int64
	type row struct {
		id      string
		version int64
		body    []byte
	}
	var got []row
	for rows.Next() {
		var (
			id      *string
			version *int64
			body    []byte
		)
		if err := rows.Scan(&rev, &id, &version, &body); err != nil {
			return nil, nil, fmt.Errorf("state changes: %w", err)
		}
		if id != nil {
			got = append(got, row{*id, *version, body})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("state changes: %w", s.mapErr(err))
	}
	s.contact()
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	for _, r := range got {
		if r.version <= s.known[r.id] {
			continue // this replica wrote it, or already read it
		}
		s.known[r.id] = r.version
		if r.body == nil {
			gone = append(gone, r.id)
			continue
		}
		st, err := decodeState(r.id, r.body)
		if err != nil {
			return nil, nil, err
		}
		changed = append(changed, st)
	}
	if rev > s.lastRev {
		s.lastRev = rev
	}
	return changed, gone, nil
}

// scanStates reads rows of (id, version, state): a NULL state is gone.
func scanStates(rows pgx.Rows) (changed []tracker.State, gone []string, versions map[string]int64, err error) {
	defer rows.Close()
	versions = map[string]int64{}
	for rows.Next() {
		var (
			id      string
			version int64
			body    []byte
		)
		if err := rows.Scan(&id, &version, &body); err != nil {
			return nil, nil, nil, err
		}
		versions[id] = version
		if body == nil {
			gone = append(gone, id)
			continue
		}
		st, err := decodeState(id, body)
		if err != nil {
			return nil, nil, nil, err
		}
		changed = append(changed, st)
	}
	return changed, gone, versions, rows.Err()
}

// advance raises the cached last sequence number.
func (s *Store) advance(seq uint64) {
	for {
		cur := s.last.Load()
		if seq <= cur || s.last.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// pollHead reads the journal's head (first and last seq) and the tables' size.
func (s *Store) pollHead(ctx context.Context) error {
	var (
		last  int64
		first *int64
		size  int64
	)
	err := s.pool.QueryRow(ctx, `SELECT m.last_seq, (SELECT min(seq) FROM envtrack_events),
		pg_total_relation_size('envtrack_events') + pg_total_relation_size('envtrack_environments')
		FROM envtrack_meta m WHERE m.id = 1`).Scan(&last, &first, &size)
	if err != nil {
		return err
	}
	s.contact()
	grew := uint64(last) > s.last.Load()
	s.advance(uint64(last))
	if first != nil {
		s.first.Store(uint64(*first))
	} else if last > 0 {
		s.first.Store(0) // every event pruned
	}
	s.sizeBytes.Store(size)
	if grew {
		s.broadcast()
	}
	return nil
}

// follow keeps the cached head current: woken by the other replicas' commits (LISTEN),
// and every PollInterval in case a notification was lost with its connection.
func (s *Store) follow(ctx context.Context) {
	woke := make(chan struct{}, 1)
	if !s.opts.NoListen {
		go s.listen(ctx, woke)
	}
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-woke:
		}
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		_ = s.pollHead(pctx) // a failure: the next tick tries again
		cancel()
	}
}

// listen holds a connection that LISTENs for commits, and reconnects when it breaks.
func (s *Store) listen(ctx context.Context, woke chan<- struct{}) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, woke)
		if ctx.Err() != nil {
			return
		}
		s.logger.Log("level", "debug", "msg", "commit notifications interrupted; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.PollInterval):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, woke chan<- struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if seq, err := strconv.ParseUint(n.Payload, 10, 64); err == nil && seq > s.last.Load() {
			// Sent at commit: every event up to seq is visible now.
			s.advance(seq)
			s.broadcast()
		}
		select {
		case woke <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel that receives after commits that appended events, this
// replica's or another's (see store.Store.Subscribe: capacity one, coalescing, never
// closed), and a function that ends the subscription.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
	}
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

// MaxIDLength is the longest environment id (in bytes) the journal accepts (as bbolt's).
const MaxIDLength = 1024

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty environment id")
	case len(id) > MaxIDLength:
		return fmt.Errorf("environment id longer than %d bytes", MaxIDLength)
	}
	return nil
}
