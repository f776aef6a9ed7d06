package postgres

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// requireRecentMatchesDatabase reads every range of the journal through s.Events (from
// memory where s holds it) and through db, a replica that committed nothing (its reads
// all decoded from the database), and requires the same events, also where s's memory
// ends before the journal does (another replica committed since).
func requireRecentMatchesDatabase(t *testing.T, s, db *Store, last uint64) {
	t.Helper()
	for after := uint64(0); after <= last; after++ {
		for _, limit := range []int{0, 1, 3} {
			got, err := s.Events(after, limit)
			require.NoError(t, err)
			want, err := db.Events(after, limit)
			require.NoError(t, err)
			require.Equal(t, want, got, "Events(%d, %d)", after, limit)
		}
	}
}

// testRecentMatchesDatabase: what a replica's Events answers from memory (its own
// commits, store.Recent) is what the database answers, for events whose decoded form
// memory knows and for those it leaves to the database (holes), across other
// replicas' commits in between, a gap's entry and retention.
func testRecentMatchesDatabase(t *testing.T, dsn string) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clk := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	open := func(holder string) *Store {
		s, err := Open(context.Background(), dsn, Options{Holder: holder, Now: clk, NoListen: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, db := open("a"), open("b"), open("db")
	withMeta := func(e event.Event, meta map[string]any) event.Event {
		e.Metadata = meta
		return e
	}
	ev := func(env string, name event.Name, at time.Time) event.Event {
		return event.Event{EnvironmentID: env, Name: name, Time: at, Source: "push"}
	}
	marker := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	commits := [][]event.Event{
		{withMeta(ev("test", event.Deployed, t0), marker.Metadata())},
		{
			withMeta(ev("env-a", event.Ready, t0), map[string]any{"seconds": 42, "big": int64(1<<62 + 1), "ratio": 0.1, "n": uint32(7)}),
			withMeta(ev("env-a", event.ProvisioningFailed, t0), map[string]any{"nested": map[string]any{"a": []any{1, "x", nil, true}}, "none": nil}),
			withMeta(ev("env-b", event.Created, t0), map[string]any{}),
		},
		// Holes: what JSON changes, or what memory does not know, is read from the database.
		{withMeta(ev("env-c", event.Created, t0), map[string]any{"bad": "\xff\xfe"})},
		{ev("env-c", event.Created, t0.In(time.FixedZone("CEST", 2*3600)))},
		{withMeta(ev("env-c", event.Ready, t0), map[string]any{"at": t0})},
		{withMeta(ev("env-c", event.Ready, t0), map[string]any{"f": float32(0.1)})},
		{withMeta(ev("env-e", event.Deployed, t0), map[string]any{"html": "<a href=\"x\">&</a>", "é": "ü\u2028"})},
	}
	var last uint64
	commit := func(s *Store, evs ...event.Event) {
		t.Helper()
		out, err := s.Commit(nil, evs)
		require.NoError(t, err)
		last = out[len(out)-1].Seq
	}
	for _, c := range commits {
		commit(a, c...)
	}
	requireRecentMatchesDatabase(t, a, db, last)

	// Another replica's commits follow a's, and fall between them: a holds its own from
	// the next on, and reads the others' from the database.
	commit(b, ev("env-f", event.Created, t0))
	requireRecentMatchesDatabase(t, a, db, last)
	all, err := a.Events(0, 0)
	require.NoError(t, err)
	require.Equal(t, last, all[len(all)-1].Seq, "b's commit after a's memory")
	commit(a, withMeta(ev("test", event.Deployed, t0), marker.Metadata()))
	commit(b, ev("env-f", event.Ready, t0))
	commit(a, ev("env-g", event.Created, t0), ev("env-g", event.Ready, t0))
	requireRecentMatchesDatabase(t, a, db, last)

	// A gap's entry follows a's commits.
	_, err = a.Gap(event.Gap{Source: "argocd", From: t0, Reason: "stream stalled"})
	require.NoError(t, err)
	commit(a, withMeta(ev("test", event.Deployed, t0), marker.Metadata()))
	requireRecentMatchesDatabase(t, a, db, last)

	// Retention prunes from the start: memory forgets what it pruned.
	now.Store(t0.Add(time.Hour).UnixNano())
	commit(a, ev("env-h", event.Created, t0.Add(time.Hour)))
	n, err := a.Prune(t0.Add(time.Minute), nil)
	require.NoError(t, err)
	require.Positive(t, n)
	requireRecentMatchesDatabase(t, a, db, last)
	evs, err := a.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "only the event recorded after the cutoff")
	require.Equal(t, last, evs[0].Seq)
}

// testRecentAnswersTheSinks: a sink reading right behind its replica's commits reads
// from memory (none of its events is decoded from the database), also when another
// replica's commits fall between them; a closed store answers nothing from memory.
func testRecentAnswersTheSinks(t *testing.T, dsn string) {
	a := openReplica(t, dsn, "a", time.Minute)
	b := openReplica(t, dsn, "b", time.Minute)
	var cursor uint64
	for i := range 10 {
		m := event.Marker{Application: "app", Activity: "deploy-" + strings.Repeat("x", i), Status: "success"}
		e := mark("test")
		e.Metadata = m.Metadata()
		out, err := a.Commit(nil, []event.Event{e, {EnvironmentID: "env-a", Name: event.Created, Time: t0}})
		require.NoError(t, err)
		evs, err := a.Events(cursor, 500)
		require.NoError(t, err)
		require.Equal(t, out, evs)
		cursor = evs[1].Seq
	}
	require.Zero(t, a.Stats().Decoded)

	// Another replica's commit: read from the database once, then a's own from memory.
	_, err := b.Commit(nil, []event.Event{mark("env-b")})
	require.NoError(t, err)
	out, err := a.Commit(nil, []event.Event{mark("env-c")})
	require.NoError(t, err)
	evs, err := a.Events(cursor, 500)
	require.NoError(t, err)
	require.Len(t, evs, 2, "b's event and a's")
	require.Equal(t, uint64(2), a.Stats().Decoded)
	evs, err = a.Events(evs[0].Seq, 500)
	require.NoError(t, err)
	require.Equal(t, out, evs)
	require.Equal(t, uint64(2), a.Stats().Decoded)

	require.NoError(t, a.Close())
	_, err = a.Events(cursor, 0)
	require.Error(t, err, "a closed store answers no read, even from memory")
}
