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
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blueberry-idp/envtrack/exporter/store"
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
	return s.commit(nil, states, events, nil, nil)
}

// CommitKeyed is Commit that also records Idempotency-Keys in the same transaction, each
// bound to the fingerprint of the request it came with, at the commit's RecordedAt
// (IdempotencyKeys reads them back; Prune expires them). Unlike the bbolt store, whose
// only writer looked the keys up itself, it replaces no key: one recorded meanwhile
// fails the commit with tracker.ErrRepeated, storing nothing.
func (s *Store) CommitKeyed(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	return s.commit(nil, states, events, keys, nil)
}

// CommitChecked is CommitKeyed that also fails with tracker.ErrRepeated, storing
// nothing, when one of newKeys is recorded or the journal holds an event with one of
// the identities in newIDs (Known), checked in the same transaction once the commits
// before it are visible: the push path's commit, which plans from "nothing repeats"
// and looks the repeats up only after such a failure (ingest.CheckingJournal), so that
// a group of pushes costs one round trip.
func (s *Store) CommitChecked(states []tracker.State, events []event.Event, keys map[string]event.Fingerprint, newKeys []string, newIDs []event.Fingerprint) ([]event.Event, error) {
	return s.commit(nil, states, events, keys, &unseen{newKeys, newIDs})
}

// unseen is what a commit checks is not in the journal (CommitChecked).
type unseen struct {
	keys []string
	ids  []event.Fingerprint
}

// plan parts the identity rows of a commit (identityRows) into those u planned as new,
// which the commit inserts without ON CONFLICT so that the primary key refuses one
// recorded meanwhile, and the others, which it upserts; and returns the identities and
// keys of u that the commit's own inserts do not check (neither among its identity rows
// nor among the keys it records): those its check must find absent. u may be nil.
func (u *unseen) plan(idents [][]byte, ords []int64, keyed map[string]event.Fingerprint) (upsert [][]byte, upsertOrds []int64, insert [][]byte, insertOrds []int64, checkIDs [][]byte, checkKeys []string) {
	if u == nil {
		return idents, ords, nil, nil, nil, nil
	}
	planned := make(map[event.Fingerprint]bool, len(u.ids))
	for _, id := range u.ids {
		planned[id] = true
	}
	inserted := make(map[event.Fingerprint]bool, len(idents))
	for i, id := range idents {
		fp := event.Fingerprint(id)
		if planned[fp] {
			insert, insertOrds = append(insert, id), append(insertOrds, ords[i])
			inserted[fp] = true
		} else {
			upsert, upsertOrds = append(upsert, id), append(upsertOrds, ords[i])
		}
	}
	for _, id := range u.ids {
		if !inserted[id] {
			checkIDs = append(checkIDs, bytes.Clone(id[:]))
		}
	}
	for _, k := range u.keys {
		if _, ok := keyed[k]; !ok {
			checkKeys = append(checkKeys, k)
		}
	}
	return upsert, upsertOrds, insert, insertOrds, checkIDs, checkKeys
}

// commit is CommitChecked, fenced by the lease when l is not nil; u may be nil.
func (s *Store) commit(l *Lease, states []tracker.State, events []event.Event, keys map[string]event.Fingerprint, u *unseen) ([]event.Event, error) {
	if len(states) == 0 && len(events) == 0 && len(keys) == 0 {
		return nil, nil
	}
	for k := range keys {
		if k == "" || len(k) > store.MaxIDLength {
			return nil, fmt.Errorf("commit: idempotency key of %d bytes", len(k))
		}
	}
	if err := store.CheckCommit(states, events); err != nil {
		return nil, err
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
	out, versions, err := s.commitTx(ctx, l, states, events, keys, u)
	if err != nil {
		if errors.Is(err, tracker.ErrStale) {
			// Not ErrRepeated: the push path meets it at every retried push, whose
			// repeats its commit checks (CommitChecked), with one replica as with three.
			s.metrics.StaleCommits.Inc()
		}
		if l != nil && errors.Is(err, ErrNotLeader) {
			l.lose("a commit found the lease taken")
		}
		return nil, fmt.Errorf("commit: %w", s.mapErr(err))
	}
	s.contact()
	s.metrics.CommitDuration.Observe(time.Since(start).Seconds())
	s.knownMu.Lock()
	for id, v := range versions {
		s.known[id] = v
	}
	s.knownMu.Unlock()
	if len(out) > 0 {
		s.metrics.CommitEvents.Observe(float64(len(out)))
		s.first.CompareAndSwap(0, out[0].Seq)
		s.advance(out[len(out)-1].Seq)
		s.broadcast()
	}
	return out, nil
}

// The SQLSTATEs envtrack_check raises (migration 0003) when a commit's check fails.
const (
	codeStale  = "EA001" // a state changed since this replica read it; the message is its id
	codeFenced = "EA002" // the lease is no longer this replica's at this epoch
	codeKnown  = "EA003" // an identity or a key the commit was planned as new is in the journal
)

// bodyPrefix is how every event's JSON begins before the journal numbers it (Seq 0, no
// ID): the commit's SQL writes "seq" and "id" in its place, from the sequence numbers
// the head update allocated, so that the body is byte for byte what json.Marshal makes
// of the numbered event.
const bodyPrefix = `{"seq":0,"id":""`

// commitTx is the transaction, in one round trip: one pipeline of BEGIN, the fence
// (leader-only writes), the journal's head (the lock that serialises every replica's
// commits, and the sequence numbers), the environments' rows locked and their versions
// checked against the ones this replica planned from, the identities and keys checked
// absent (CommitChecked) that the writes do not check themselves, the Idempotency-Keys,
// the writes, the notification and COMMIT. The writes take the sequence numbers and the
// state revision from the head row in SQL, so nothing waits for an answer in between; a
// check that fails raises (envtrack_check, or the primary key of the keys or of the
// identities planned as new) and the transaction aborts, storing nothing. The head lock
// is held for that round trip's remainder and the commit's flush.
func (s *Store) commitTx(ctx context.Context, l *Lease, states []tracker.State, events []event.Event, keyed map[string]event.Fingerprint, u *unseen) (out []event.Event, versions map[string]int64, err error) {
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

	// What this replica planned from: the versions it read or wrote last.
	expected := make([]int64, len(ids))
	s.knownMu.Lock()
	for i, id := range ids {
		expected[i] = s.known[id]
	}
	s.knownMu.Unlock()
	versions = make(map[string]int64, len(states))
	for i, id := range ids {
		versions[id] = expected[i] + 1
	}

	recordedAt := s.now().UTC()
	n := int64(len(events))
	var (
		ords    = make([]int64, len(events))
		envs    = make([]string, len(events))
		names   = make([]string, len(events))
		times   = make([]time.Time, len(events))
		ikeys   = make([]*string, len(events))
		bodies  = make([]string, len(events))
		sids    = make([]string, len(states))
		svers   = make([]int64, len(states))
		sbodies = make([]string, len(states))
		sterm   = make([]*time.Time, len(states))
	)
	out = make([]event.Event, len(events))
	copy(out, events)
	for i := range out {
		ev := &out[i]
		ev.Seq, ev.ID, ev.RecordedAt = 0, "", recordedAt
		body, err := store.MarshalEvent(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("event %s of %s: %w", ev.Name, ev.EnvironmentID, err)
		}
		if !bytes.HasPrefix(body, []byte(bodyPrefix)) {
			return nil, nil, fmt.Errorf("event %s of %s: its JSON does not begin with %s", ev.Name, ev.EnvironmentID, bodyPrefix)
		}
		ords[i], envs[i], names[i], times[i], bodies[i] = int64(i+1), ev.EnvironmentID, string(ev.Name), ev.Time, string(body[len(bodyPrefix):])
		if k, _ := ev.Meta(tracker.MetaIdempotencyKey).(string); k != "" {
			ikeys[i] = &k
		}
	}
	for i, st := range states {
		body, err := json.Marshal(st)
		if err != nil {
			return nil, nil, fmt.Errorf("state %s: %w", st.ID, err)
		}
		sids[i], svers[i], sbodies[i] = st.ID, versions[st.ID], string(body)
		if !st.TerminatedAt.IsZero() {
			t := st.TerminatedAt
			sterm[i] = &t
		}
	}
	// The event id's JSON up to its number: "<journal id>-, escaped as json.Marshal
	// escapes the whole id.
	jid, err := json.Marshal(s.journalID + "-")
	if err != nil {
		return nil, nil, err
	}
	idPrefix := string(jid[:len(jid)-1])

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
		b.Queue("SELECT envtrack_check(EXISTS ("+fenceSQL+"), '"+codeFenced+"', 'not the leader')", s.holder, l.epoch)
	}
	b.Queue("UPDATE envtrack_meta SET last_seq = last_seq + $1, state_rev = state_rev + $2 WHERE id = 1 RETURNING last_seq",
		n, bump)
	if len(ids) > 0 {
		// After the head lock, in a statement of its own: READ COMMITTED shows it every
		// commit before this one.
		b.Queue(`SELECT envtrack_check(coalesce(e.version, 0) = k.v, '`+codeStale+`', k.id)
			FROM unnest($1::text[], $2::bigint[]) AS k(id, v)
			LEFT JOIN (SELECT id, version FROM envtrack_environments WHERE id = ANY($1) ORDER BY id FOR UPDATE) e ON e.id = k.id`,
			ids, expected)
	}
	// The identities and keys planned as new are checked absent by the inserts that
	// record them (their primary keys refuse one recorded meanwhile); a statement of its
	// own checks only those the commit does not record (a request that stored nothing).
	var idents [][]byte
	var iords []int64
	if len(out) > 0 {
		idents, iords = identityRows(out)
	}
	idents, iords, newIdents, newOrds, checkIDs, checkKeys := u.plan(idents, iords, keyed)
	if len(checkIDs) > 0 || len(checkKeys) > 0 {
		// After the head lock too: every commit before this one is visible.
		b.Queue(`SELECT envtrack_check(NOT EXISTS (SELECT 1 FROM envtrack_identities WHERE identity = ANY($1))
			AND NOT EXISTS (SELECT 1 FROM envtrack_idempotency WHERE key = ANY($2)), '`+
			codeKnown+`', 'an event or an Idempotency-Key of the commit is in the journal already')`, checkIDs, checkKeys)
	}
	if len(keys) > 0 {
		// No ON CONFLICT: a key another replica recorded (visible after the head lock)
		// violates the primary key, and the commit fails with ErrRepeated.
		b.Queue(`INSERT INTO envtrack_idempotency (key, fingerprint, recorded_at)
			SELECT k, fp, $3 FROM unnest($1::text[], $2::bytea[]) AS u(k, fp)`,
			keys, fps, recordedAt)
	}
	if len(states) > 0 {
		b.Queue(`INSERT INTO envtrack_environments (id, version, rev, state, terminated_at)
			SELECT u.id, u.v, m.state_rev, u.st, u.term FROM envtrack_meta m,
				unnest($1::text[], $2::bigint[], $3::json[], $4::timestamptz[]) AS u(id, v, st, term)
			WHERE m.id = 1
			ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, rev = EXCLUDED.rev, state = EXCLUDED.state,
				terminated_at = EXCLUDED.terminated_at, deleted_at = NULL`,
			sids, svers, sbodies, sterm)
	}
	if len(out) > 0 {
		b.Queue(`INSERT INTO envtrack_events (seq, environment_id, name, time, recorded_at, idempotency_key, body)
			SELECT m.last_seq - $1 + u.ord, u.env, u.name, u.t, $7::timestamptz, u.ikey,
				('{"seq":' || (m.last_seq - $1 + u.ord) || ',"id":' || $2 || (m.last_seq - $1 + u.ord) || '"' || u.body)::json
			FROM envtrack_meta m, unnest($3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $8::text[], $9::text[])
				AS u(ord, env, name, t, ikey, body)
			WHERE m.id = 1`,
			n, idPrefix, ords, envs, names, times, recordedAt, ikeys, bodies) // one recorded_at: pgx boxes each element of a time array
		if len(newIdents) > 0 {
			// No ON CONFLICT (and no speculative insertion): planned as new, an identity
			// recorded meanwhile (visible after the head lock) violates the primary key,
			// and the commit fails with ErrRepeated.
			b.Queue(insertCommitIdentities, newIdents, newOrds, n)
		}
		if len(idents) > 0 {
			b.Queue(insertCommitIdentities+`
				ON CONFLICT (identity) DO UPDATE SET seq = EXCLUDED.seq`, idents, iords, n)
		}
		b.Queue("SELECT pg_notify($1, last_seq::text) FROM envtrack_meta WHERE id = 1", notifyChannel)
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	open = true
	var last int64
	err = func() error {
		if _, err := br.Exec(); err != nil { // BEGIN
			return err
		}
		if l != nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&last); err != nil {
			return err
		}
		for range b.Len() - 2 - btoi(l != nil) - 1 { // the checks and writes, COMMIT
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		if tag.String() != "COMMIT" {
			return fmt.Errorf("the commit answered %q", tag.String())
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch {
			case pgErr.Code == codeFenced:
				return nil, nil, ErrNotLeader
			case pgErr.Code == codeKnown:
				return nil, nil, fmt.Errorf("%w: %s", tracker.ErrRepeated, pgErr.Message)
			case pgErr.Code == codeStale:
				return nil, nil, fmt.Errorf("%w: environment %s was written by another replica", tracker.ErrStale, pgErr.Message)
			case pgErr.Code == "23505" && (pgErr.TableName == "envtrack_idempotency" || pgErr.TableName == "envtrack_identities"):
				return nil, nil, fmt.Errorf("%w: %s", tracker.ErrRepeated, pgErr.Detail)
			}
		}
		return nil, nil, err
	}
	open = false
	if last < n || uint64(last) > math.MaxInt64 {
		return nil, nil, errors.New("sequence numbers exhausted")
	}
	first := uint64(last) - uint64(n) + 1
	for i := range out {
		out[i].Seq = first + uint64(i)
		out[i].ID = event.MakeID(s.journalID, out[i].Seq)
	}
	s.recent.Add(out, func(i int) int { return len(bodyPrefix) + len(bodies[i]) })
	return out, versions, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// insertCommitIdentities inserts a commit's identities ($1), each pointing at the seq of
// its event: the head's last_seq (already advanced by the commit's $3 events) less $3
// plus the event's position ($2).
const insertCommitIdentities = `INSERT INTO envtrack_identities (identity, seq)
				SELECT u.identity, m.last_seq - $3 + u.ord FROM envtrack_meta m, unnest($1::bytea[], $2::bigint[]) AS u(identity, ord)
				WHERE m.id = 1`

const upsertIdentities = `INSERT INTO envtrack_identities (identity, seq)
	SELECT * FROM unnest($1::bytea[], $2::bigint[])
	ON CONFLICT (identity) DO UPDATE SET seq = EXCLUDED.seq`

// identityRows returns the identities of the events that have one, each with the
// position (1, 2, ...) in events of the last of them (one row per identity: an upsert
// may not touch a row twice).
func identityRows(events []event.Event) (ids [][]byte, ords []int64) {
	at := map[event.Fingerprint]int{}
	for k, ev := range events {
		id, ok := ev.Identity()
		if !ok {
			continue
		}
		if i, ok := at[id]; ok {
			ords[i] = int64(k + 1)
			continue
		}
		at[id] = len(ids)
		ids = append(ids, bytes.Clone(id[:]))
		ords = append(ords, int64(k+1))
	}
	return ids, ords
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
		s.recent.DropBefore(uint64(*first)) // pruned, maybe by another replica
	} else if last > 0 {
		s.first.Store(0) // every event pruned
		s.recent.Reset()
	}
	s.sizeBytes.Store(size)
	if grew {
		// Beyond this replica's own commits (commit advances the head): another
		// replica's, whose notification was lost or is late (or, rarely, one of this
		// replica's read before its committer advanced the head: a wake for nothing).
		s.broadcast()
		s.broadcastOthers()
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
		if _, mine := s.ownPIDs.Load(n.PID); mine {
			// This replica's own commit, sent by a backend of its pool (whose commit
			// advances the head and wakes the sinks itself, maybe a moment after the
			// notification came): the followers need only the others' commits, and the
			// poll reads the rest of the head (first seq, size) at its interval.
			continue
		}
		seq, err := strconv.ParseUint(n.Payload, 10, 64)
		if err == nil && seq > s.last.Load() {
			// Sent at commit: every event up to seq is visible now.
			s.advance(seq)
			s.broadcast()
			s.broadcastOthers()
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
func (s *Store) Subscribe() (<-chan struct{}, func()) { return s.subscribe(s.subs) }

// SubscribeOthers is Subscribe for the commits of the other replicas only (a
// notification, or the poll, showing the journal's head beyond this replica's own
// commits): what a follower of their states needs to wake for (journal.Follow), where
// waking at this replica's own commits would read the change feed, under the tracker's
// lock, once per group of pushes for nothing.
func (s *Store) SubscribeOthers() (<-chan struct{}, func()) { return s.subscribe(s.others) }

func (s *Store) broadcast()       { s.notify(s.subs) }
func (s *Store) broadcastOthers() { s.notify(s.others) }

// subscribe adds a channel to set (s.subs or s.others) and returns it with its removal.
func (s *Store) subscribe(set map[chan struct{}]struct{}) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	set[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(set, ch)
		s.subMu.Unlock()
	}
}

// notify wakes every channel of set without blocking (they coalesce).
func (s *Store) notify(set map[chan struct{}]struct{}) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range set {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
