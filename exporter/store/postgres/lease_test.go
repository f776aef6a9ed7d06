package postgres

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// TestPostgres runs the package's tests on one PostgreSQL, each in a database of its own.
func TestPostgres(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	for _, tc := range []struct {
		name string
		test func(t *testing.T, dsn string)
	}{
		{"LeaseFencing", testLeaseFencing},
		{"FenceInTheDatabase", testFenceInTheDatabase},
		{"StaleCommit", testStaleCommit},
		{"KeyRecordedMeanwhile", testKeyRecordedMeanwhile},
		{"IdentityRecordedMeanwhile", testIdentityRecordedMeanwhile},
		{"SchemaNewerThanBinary", testSchemaNewerThanBinary},
		{"CommitBodies", testCommitBodies},
		{"OwnCommitsWakeNoFollower", testOwnCommitsWakeNoFollower},
		{"RecentMatchesDatabase", testRecentMatchesDatabase},
		{"RecentAnswersTheSinks", testRecentAnswersTheSinks},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, pg.NewDatabase(t)) })
	}
}

func openReplica(t *testing.T, dsn, holder string, lease time.Duration) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{Holder: holder, LeaseDuration: lease, RenewInterval: lease / 4, NoListen: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mark(env string) event.Event {
	return event.Event{EnvironmentID: env, Name: event.Deployed, Time: t0, Source: "push"}
}

// waitAcquire retries Acquire until the lease is free (a hang guard bounds it, not a
// speed check).
func waitAcquire(t *testing.T, s *Store) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		l, _, err := s.Acquire(ctx)
		require.NoError(t, err)
		if l != nil {
			return l
		}
		select {
		case <-ctx.Done():
			t.Fatal("the lease was never free")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testLeaseFencing: one replica leads at a time, each new term with the next epoch; a
// leader that stopped renewing (paused past its lease) writes nothing once another
// replica took over, through any of the leader's writes, and steps down.
func testLeaseFencing(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", 2*time.Second)
	b := openReplica(t, dsn, "b", 2*time.Second)
	ctx := context.Background()

	la, _, err := a.Acquire(ctx)
	require.NoError(t, err)
	require.NotNil(t, la)
	lb, info, err := b.Acquire(ctx)
	require.NoError(t, err)
	require.Nil(t, lb, "a second replica took a held lease")
	require.Equal(t, "a", info.Holder)
	require.Equal(t, la.Epoch(), info.Epoch)

	fa := a.Fenced(la)
	out, err := fa.Commit(nil, []event.Event{mark("x")})
	require.NoError(t, err)
	require.NoError(t, fa.SetCursor("influxdb", out[0].Seq))
	require.NoError(t, la.Renew(ctx))

	// a is paused: it renews no more. b takes over once the lease ran out by the
	// database's clock.
	lb = waitAcquire(t, b)
	require.Equal(t, la.Epoch()+1, lb.Epoch())
	fb := b.Fenced(lb)
	_, err = fb.Commit(nil, []event.Event{mark("y")})
	require.NoError(t, err)

	// a runs again: every leader-only write fails and stores nothing.
	_, err = fa.Commit([]tracker.State{{ID: "x", Phase: tracker.PhaseReady}}, []event.Event{mark("x")})
	require.ErrorIs(t, err, ErrNotLeader)
	require.ErrorIs(t, fa.SetCursor("influxdb", 2), ErrNotLeader)
	fa.SaveCursorLazily("grafana", 2)
	require.ErrorIs(t, fa.FlushCursors(), ErrNotLeader)
	require.ErrorIs(t, fa.SetAside("grafana", out[0], "400"), ErrNotLeader)
	_, err = fa.Prune(t0.Add(time.Hour), nil)
	require.ErrorIs(t, err, ErrNotLeader)
	require.ErrorIs(t, la.Renew(ctx), ErrNotLeader)
	select {
	case <-la.Lost():
	default:
		t.Fatal("the deposed leader did not step down")
	}
	evs, err := b.Events(0, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, []string{evs[0].EnvironmentID, evs[1].EnvironmentID})
	require.Len(t, evs, 2)
	c, err := b.Cursor("influxdb")
	require.NoError(t, err)
	require.Equal(t, uint64(1), c)
	c, err = b.Cursor("grafana")
	require.NoError(t, err)
	require.Zero(t, c)

	// A clean stop releases the lease: the next replica takes it at once.
	require.NoError(t, lb.Release(ctx))
	la2, _, err := a.Acquire(ctx)
	require.NoError(t, err)
	require.NotNil(t, la2)
	require.Equal(t, lb.Epoch()+1, la2.Epoch())
}

// testFenceInTheDatabase: a leader whose own clock still says it leads (another replica
// took over while this one's clock ran slow, or its renewal was lost in flight) is
// refused by the check in the write's own transaction.
func testFenceInTheDatabase(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", time.Minute)
	l, _, err := a.Acquire(context.Background())
	require.NoError(t, err)
	require.NotNil(t, l)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), "UPDATE envtrack_leader SET holder = 'b', epoch = epoch + 1")
	require.NoError(t, err)

	require.True(t, l.Valid(), "by its own clock, a still leads")
	_, err = a.Fenced(l).Commit(nil, []event.Event{mark("x")})
	require.ErrorIs(t, err, ErrNotLeader)
	require.Zero(t, a.LastSeq())
	evs, err := a.Events(0, 0)
	require.NoError(t, err)
	require.Empty(t, evs)
	require.False(t, l.Valid())
}

// testStaleCommit: two replicas plan from the states they hold; a commit planned from a
// state another replica changed meanwhile fails with tracker.ErrStale and stores
// nothing, and a tracker sharing the journal plans it again from the stored state.
func testStaleCommit(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", time.Minute)
	b := openReplica(t, dsn, "b", time.Minute)
	sa, err := a.Environments()
	require.NoError(t, err)
	sb, err := b.Environments()
	require.NoError(t, err)
	ta, tb := tracker.New(tracker.Config{}, sa), tracker.New(tracker.Config{}, sb)
	ta.Share(a)
	tb.Share(b)

	push := func(tr *tracker.Tracker, s *Store, name event.Name, at time.Time) []event.Event {
		t.Helper()
		evs, err := tr.Process([]tracker.Observation{{EnvironmentID: "env", At: at,
			Push: &tracker.Push{Event: name, Time: at}}}, s.Commit)
		require.NoError(t, err)
		return evs
	}
	require.NotEmpty(t, push(ta, a, event.ProvisioningStarted, t0))
	// b never saw env: planning from nothing would create it again; the commit finds
	// the stored state newer and b plans from it.
	evs := push(tb, b, event.Ready, t0.Add(time.Minute))
	names := make([]event.Name, 0, len(evs))
	for _, e := range evs {
		names = append(names, e.Name)
	}
	require.NotContains(t, names, event.ProvisioningStarted, "b repeated what a recorded")
	require.Contains(t, names, event.Ready)

	// a follows b's commit through the change feed.
	changed, gone, err := ta.Follow()
	require.NoError(t, err)
	require.Equal(t, 1, changed)
	require.Zero(t, gone)
	st, ok := ta.Get("env")
	require.True(t, ok)
	require.Equal(t, tracker.PhaseReady, st.Phase)
}

// testKeyRecordedMeanwhile: two replicas take the same Idempotency-Key at once (a CI
// retry while the first attempt commits): both looked it up before either recorded it,
// so the second commit finds it recorded, fails with tracker.ErrRepeated and stores
// nothing (the push path plans it again and answers the retry from the index).
func testKeyRecordedMeanwhile(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", time.Minute)
	b := openReplica(t, dsn, "b", time.Minute)
	fp := event.Fingerprint{7}
	for _, s := range []*Store{a, b} {
		keys, err := s.IdempotencyKeys([]string{"run-1"})
		require.NoError(t, err)
		require.Empty(t, keys)
	}
	_, err := a.CommitKeyed(nil, []event.Event{mark("x")}, map[string]event.Fingerprint{"run-1": fp})
	require.NoError(t, err)
	_, err = b.CommitKeyed(nil, []event.Event{mark("x")}, map[string]event.Fingerprint{"run-1": fp})
	require.ErrorIs(t, err, tracker.ErrRepeated)
	_, err = b.CommitKeyed(nil, nil, map[string]event.Fingerprint{"run-1": fp})
	require.ErrorIs(t, err, tracker.ErrRepeated, "keys alone too")
	evs, err := b.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "b stored nothing")
	keys, err := b.IdempotencyKeys([]string{"run-1"})
	require.NoError(t, err)
	require.Equal(t, map[string]event.Fingerprint{"run-1": fp}, keys)
}

// testIdentityRecordedMeanwhile: CommitChecked refuses (tracker.ErrRepeated, storing
// nothing) a commit one of whose identities planned as new another replica recorded
// meanwhile, whether the commit stores the event with that identity (its insert checks
// it) or not (its check does); an identity the commit did not plan as new is recorded
// again, pointing at the new event.
func testIdentityRecordedMeanwhile(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", time.Minute)
	b := openReplica(t, dsn, "b", time.Minute)
	recorded := mark("x")
	id, ok := recorded.Identity()
	require.True(t, ok)
	_, err := a.Commit(nil, []event.Event{recorded})
	require.NoError(t, err)
	fresh := mark("y")
	freshID, _ := fresh.Identity()
	for _, tc := range []struct {
		name   string
		events []event.Event
		newIDs []event.Fingerprint
		keys   []string
		err    error
	}{
		{"its event stored", []event.Event{fresh, recorded}, []event.Fingerprint{freshID, id}, nil, tracker.ErrRepeated},
		{"its event not stored", []event.Event{fresh}, []event.Fingerprint{freshID, id}, nil, tracker.ErrRepeated},
		{"no event", nil, []event.Fingerprint{id}, []string{"run-1"}, tracker.ErrRepeated},
		{"a key planned as new, recorded", []event.Event{fresh}, []event.Fingerprint{freshID}, []string{"run-0"}, tracker.ErrRepeated},
		{"not planned as new", []event.Event{recorded}, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "a key planned as new, recorded" {
				_, err := a.CommitKeyed(nil, nil, map[string]event.Fingerprint{"run-0": {1}})
				require.NoError(t, err)
			}
			before, err := b.Events(0, 0)
			require.NoError(t, err)
			out, err := b.CommitChecked(nil, tc.events, map[string]event.Fingerprint{"run-1": {2}}, tc.keys, tc.newIDs)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				after, err := b.Events(0, 0)
				require.NoError(t, err)
				require.Equal(t, before, after, "nothing stored")
				keys, err := b.IdempotencyKeys([]string{"run-1"})
				require.NoError(t, err)
				require.Empty(t, keys, "nothing stored")
				known, err := b.Known([]event.Fingerprint{freshID})
				require.NoError(t, err)
				require.Equal(t, []bool{false}, known, "nothing stored")
				return
			}
			require.NoError(t, err)
			var seq int64
			require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT seq FROM envtrack_identities WHERE identity = $1", id[:]).Scan(&seq))
			require.Equal(t, int64(out[len(out)-1].Seq), seq, "the identity points at the last event with it")
		})
	}
}

// testSchemaNewerThanBinary: a database migrated by a newer envtrack stops start-up with
// one line and is left unchanged; replicas starting together apply the migrations once.
func testSchemaNewerThanBinary(t *testing.T, dsn string) {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), dsn, Options{NoListen: true})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM envtrack_schema").Scan(&n))
	require.Equal(t, SchemaVersion(), n)

	_, err = conn.Exec(context.Background(), "INSERT INTO envtrack_schema (version, name) VALUES (99, 'future')")
	require.NoError(t, err)
	_, err = Open(context.Background(), dsn, Options{NoListen: true})
	require.ErrorIs(t, err, ErrSchemaNewer)
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, err.Error(), "schema version 99, newer than this envtrack's")
}

// testCommitBodies: the commit numbers the events in SQL (one round trip); what it
// stores is byte for byte the JSON of the events it returns, identities and keys
// included, and a later commit continues the numbering.
func testCommitBodies(t *testing.T, dsn string) {
	s := openReplica(t, dsn, "a", time.Minute)
	evs := []event.Event{mark("env-1"), {EnvironmentID: "env-2", Name: event.Created, Time: t0,
		Metadata: map[string]any{"note": `<"quoted">`, tracker.MetaIdempotencyKey: "run-1"}}}
	for round := range 2 {
		out, err := s.CommitKeyed([]tracker.State{{ID: "env-1", Phase: tracker.PhaseReady}}, evs,
			map[string]event.Fingerprint{"run-" + string(rune('a'+round)): {1}})
		require.NoError(t, err)
		require.Len(t, out, 2)
		for i, ev := range out {
			require.Equal(t, uint64(2*round+i+1), ev.Seq)
			require.Equal(t, event.MakeID(s.JournalID(), ev.Seq), ev.ID)
			want, err := json.Marshal(ev)
			require.NoError(t, err)
			var body string
			require.NoError(t, s.pool.QueryRow(context.Background(), "SELECT body::text FROM envtrack_events WHERE seq = $1", int64(ev.Seq)).Scan(&body))
			require.Equal(t, string(want), body)
		}
		got, err := s.Events(uint64(2*round), 0)
		require.NoError(t, err)
		require.Equal(t, out, got)
	}
	id, ok := evs[0].Identity()
	require.True(t, ok)
	known, err := s.Known([]event.Fingerprint{id})
	require.NoError(t, err)
	require.Equal(t, []bool{true}, known)
}

// testOwnCommitsWakeNoFollower: a replica's follower (SubscribeOthers) wakes for the
// other replicas' commits, not for the replica's own, whose notifications come back to
// it too: reading the change feed then, under the tracker's lock, held up the next
// group of pushes for nothing.
func testOwnCommitsWakeNoFollower(t *testing.T, dsn string) {
	a, err := Open(context.Background(), dsn, Options{Holder: "a", PollInterval: time.Hour}) // LISTEN; no poll
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b := openReplica(t, dsn, "b", time.Minute)
	ch, stop := a.SubscribeOthers()
	defer stop()
	var wakes atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-ch:
				wakes.Add(1)
			case <-done:
				return
			}
		}
	}()
	for range 5 {
		_, err := a.Commit(nil, []event.Event{mark("own")})
		require.NoError(t, err)
	}
	evs, err := b.Commit(nil, []event.Event{mark("other")})
	require.NoError(t, err)
	// The notifications come in commit order: once a's head is b's commit, a's own five
	// came before it (a hang guard bounds the wait, not a speed check).
	deadline := time.Now().Add(time.Minute)
	for a.LastSeq() < evs[0].Seq || wakes.Load() == 0 {
		require.True(t, time.Now().Before(deadline), "a never saw b's commit")
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, int64(1), wakes.Load(), "woken by b's commit only")
}
