package journal

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	// No LISTEN and a long poll: nothing but the pushes talks to the database.
	st, err := postgres.Open(context.Background(), pg.NewDatabase(t), postgres.Options{NoListen: true, PollInterval: time.Hour, Tracer: rt})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	states, err := st.Environments()
	require.NoError(t, err)
	tr := tracker.New(tracker.Config{}, states)
	tr.Share(st)
	p := ingest.New(ingest.Options{Tracker: tr, Journal: st, Now: func() time.Time { return t0.Add(24 * time.Hour) }})

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
	require.Len(t, evs, 6, "each marker once")
}
