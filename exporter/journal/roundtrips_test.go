package journal

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/ingest"
	"github.com/blueberry-idp/envtrack/exporter/store/postgres"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// roundTrips counts the statements and pipelines sent to PostgreSQL (pgx's tracer): each
// is one round trip once its connection has prepared its statements.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func pushedMarker(t *testing.T, env string, n int) api.Item {
	t.Helper()
	body := fmt.Sprintf(`{"kind":"deployment","environment":%q,"application":"app","activity":"deploy-%d","status":"success","timestamp":%q}`,
		env, n, t0.Add(time.Duration(n)*time.Second).Format(time.RFC3339))
	_, m, err := apitypes.DecodeEvent([]byte(body), t0.Add(24*time.Hour))
	require.NoError(t, err)
	return api.Item{EnvironmentID: env, Marker: m}
}

// TestPushRoundTrips: with the journal in PostgreSQL, a group of pushes costs one round
// trip to the database, its commit, when nothing repeats (issue 20: the lookups of the
// Idempotency-Keys and of the events' identities were one round trip each before it,
// and bound the pushes per second); a repeat costs more, and is answered as before.
// Counted by pgx's tracer, not timed.
func TestPushRoundTrips(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	rt := &roundTrips{}
	p, tr, st := pushReplica(t, pg.NewDatabase(t), rt)

	record := func(items []api.Item, key api.Key) (per [][]event.Event, trips int64, err error) {
		t.Helper()
		before := rt.n.Load()
		per, err = p.Record(items, key)
		return per, rt.n.Load() - before, err
	}
	stored := func(per [][]event.Event) (n int) {
		for _, evs := range per {
			n += len(evs)
		}
		return n
	}
	keyA := api.Key{Name: "run-1", Fingerprint: event.Fingerprint{1}}
	batch := []api.Item{pushedMarker(t, "test", 2), pushedMarker(t, "staging", 3), pushedMarker(t, "test", 4)}

	for _, tc := range []struct {
		name       string
		items      []api.Item
		key        api.Key
		wantStored int
		maxTrips   int64 // 0: not bounded (a repeat: rare, answered from the lookups)
		wantErr    bool
	}{
		{name: "a marker", items: []api.Item{pushedMarker(t, "test", 1)}, wantStored: 1, maxTrips: 1},
		{name: "a batch with an Idempotency-Key", items: batch, key: keyA, wantStored: 3, maxTrips: 1},
		{name: "a marker again", items: []api.Item{pushedMarker(t, "test", 1)}, wantStored: 0},
		{name: "the batch retried", items: batch, key: keyA, wantStored: 0},
		{name: "the key with another request", items: []api.Item{pushedMarker(t, "test", 5)},
			key: api.Key{Name: "run-1", Fingerprint: event.Fingerprint{2}}, wantErr: true},
		{name: "a new marker and a repeated one", items: []api.Item{pushedMarker(t, "test", 6), pushedMarker(t, "test", 4)}, wantStored: 1},
		{name: "a marker after the repeats", items: []api.Item{pushedMarker(t, "prod", 7)}, wantStored: 1, maxTrips: 1},
		// Lifecycle pushes: planned from the states this replica holds, which the commit
		// checks, not read from the journal first.
		{name: "a new environment", items: []api.Item{pushed("pr-1", event.Created, "", 8)}, wantStored: 1, maxTrips: 1},
		{name: "a deploy", items: []api.Item{pushed("pr-1", event.Deployed, "sha-1", 9)}, wantStored: 1, maxTrips: 1},
		{name: "a deploy and a marker, keyed", items: []api.Item{pushed("pr-1", event.Deployed, "sha-2", 10), pushedMarker(t, "pr-1", 10)},
			key: api.Key{Name: "run-2", Fingerprint: event.Fingerprint{3}}, wantStored: 2, maxTrips: 1},
		{name: "the deploy again", items: []api.Item{pushed("pr-1", event.Deployed, "sha-2", 10)}, wantStored: 0},
		{name: "created again (the state absorbs it)", items: []api.Item{pushed("pr-1", event.Created, "", 8)}, wantStored: 0},
		// A retried request applies nothing, although its push, absorbed by the state,
		// would set the state's commit back to its own.
		{name: "a new environment at a commit, keyed", items: []api.Item{pushed("pr-2", event.Created, "sha-a", 11)},
			key: api.Key{Name: "run-3", Fingerprint: event.Fingerprint{4}}, wantStored: 1, maxTrips: 1},
		{name: "a deploy of another commit", items: []api.Item{pushed("pr-2", event.Deployed, "sha-b", 12)}, wantStored: 1, maxTrips: 1},
		{name: "the first request retried", items: []api.Item{pushed("pr-2", event.Created, "sha-a", 11)},
			key: api.Key{Name: "run-3", Fingerprint: event.Fingerprint{4}}, wantStored: 0},
		// A key reused with a request the tracker refuses (an unknown environment) is
		// refused as a reuse, as when the key is looked up first.
		{name: "the key with another, refused request", items: []api.Item{pushed("nowhere", event.Deployed, "sha-c", 13)},
			key: api.Key{Name: "run-1", Fingerprint: event.Fingerprint{9}}, wantErr: true},
	} {
		per, trips, err := record(tc.items, tc.key)
		if tc.wantErr {
			var reused *api.KeyReusedError
			require.ErrorAs(t, err, &reused, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.wantStored, stored(per), tc.name)
		if tc.maxTrips > 0 {
			require.LessOrEqual(t, trips, tc.maxTrips, "%s: round trips to PostgreSQL", tc.name)
		}
	}
	evs, err := st.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 12, "each event once")
	st2, ok := tr.Get("pr-2")
	require.True(t, ok)
	require.Equal(t, "sha-b", st2.CommitSHA, "the retry changed nothing")
}

func pushed(env string, name event.Name, sha string, n int) api.Item {
	return api.Item{EnvironmentID: env, Push: &tracker.Push{Event: name, Time: t0.Add(time.Duration(n) * time.Second), CommitSHA: sha}}
}

// TestPushPlannedFromAnotherReplicasState: a replica plans a push from the state it
// holds; when another replica changed that environment meanwhile, the commit finds the
// stored state newer (tracker.ErrStale, nothing stored) or the plan depends on a state
// the commit does not check (a refusal), and the push is planned again from the stored
// state: answered as if the replica had read it first.
func TestPushPlannedFromAnotherReplicasState(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	replica := func() (*ingest.Recorder, *tracker.Tracker, *postgres.Store) { return pushReplica(t, dsn, nil) }
	a, _, _ := replica()
	b, tb, sb := replica() // b follows nothing of a's (no Follow): its states are stale
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(postgres.NewCollector(sb))
	stale := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "envtrack_store_stale_commits_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	names := func(per [][]event.Event) (out []event.Name) {
		for _, evs := range per {
			for _, e := range evs {
				out = append(out, e.Name)
			}
		}
		return out
	}
	record := func(p *ingest.Recorder, items ...api.Item) ([]event.Name, error) {
		t.Helper()
		per, err := p.Record(items, api.Key{})
		return names(per), err
	}

	got, err := record(a, pushed("pr-1", event.Created, "", 1))
	require.NoError(t, err)
	require.Equal(t, []event.Name{event.Created}, got)
	// b does not hold pr-1: from its state the deploy would be refused (an unknown
	// environment), a decision its commit would not check; from the stored one it is
	// accepted.
	got, err = record(b, pushed("pr-1", event.Deployed, "sha-1", 2))
	require.NoError(t, err)
	require.Equal(t, []event.Name{event.Deployed}, got)
	require.Zero(t, stale(), "planned again before any commit")

	// b holds pr-2 as created; a records it ready. From b's state provisioning_started
	// after that would be accepted and written; the commit finds pr-2 changed, and from
	// the stored state the push is refused (time cannot go backwards).
	_, err = record(b, pushed("pr-2", event.Created, "", 3))
	require.NoError(t, err)
	_, err = record(a, pushed("pr-2", event.Ready, "", 5))
	require.NoError(t, err)
	_, err = record(b, pushed("pr-2", event.ProvisioningStarted, "", 6))
	var refused *api.ItemError
	require.ErrorAs(t, err, &refused, "planned again from the stored state")
	require.Equal(t, 1.0, stale(), "the commit planned from b's state was refused")
	st, ok := tb.Get("pr-2")
	require.True(t, ok)
	require.Equal(t, tracker.PhaseReady, st.Phase, "b holds the stored state now")

	// And a push b plans right from its stale state goes through after one retry: a
	// deploy to pr-2, whose stored state b now holds, then one that a changed again.
	_, err = record(a, pushed("pr-2", event.Deployed, "sha-2", 7))
	require.NoError(t, err)
	got, err = record(b, pushed("pr-2", event.Deployed, "sha-3", 8))
	require.NoError(t, err)
	require.Equal(t, []event.Name{event.Deployed}, got)
	require.Equal(t, 2.0, stale())
	st, _ = tb.Get("pr-2")
	require.Equal(t, "sha-3", st.CommitSHA)
}

// pushReplica opens a replica's push path on the database dsn names: its store (no
// LISTEN and a long poll, so that nothing but the pushes talks to the database; tracer,
// if not nil, counts what they send), a tracker sharing its states, and the recorder.
func pushReplica(t *testing.T, dsn string, tracer pgx.QueryTracer) (*ingest.Recorder, *tracker.Tracker, *postgres.Store) {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{NoListen: true, PollInterval: time.Hour, Tracer: tracer})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	states, err := st.Environments()
	require.NoError(t, err)
	tr := tracker.New(tracker.Config{}, states)
	tr.Share(st)
	return ingest.New(ingest.Options{Tracker: tr, Journal: st, Now: func() time.Time { return t0.Add(24 * time.Hour) }}), tr, st
}
