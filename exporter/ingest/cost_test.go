package ingest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func marker(t testing.TB, env string, n int) api.Item {
	t.Helper()
	body := fmt.Sprintf(`{"kind":"deployment","environment":%q,"application":"app","activity":"deploy-%d","status":"success","timestamp":%q}`,
		env, n, t0.Add(time.Duration(n)*time.Second).Format(time.RFC3339))
	_, m, err := apitypes.DecodeEvent([]byte(body), t0.Add(24*time.Hour))
	require.NoError(t, err)
	return api.Item{EnvironmentID: env, Marker: m}
}

func deployed(env, sha string, n int) api.Item {
	return api.Item{EnvironmentID: env, Push: &tracker.Push{Event: event.Deployed, Time: t0.Add(time.Duration(n) * time.Second), CommitSHA: sha}}
}

// TestPushCostIndependentOfHistory: a push into an environment whose journal holds
// thousands of events reads as much of the journal as a push into a new one: nothing
// (issue 18: each push decoded every stored event of its environment, so a marker into
// an environment of 5,000 markers took 40 times as long). Counted in events decoded,
// not timed.
func TestPushCostIndependentOfHistory(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "envtrack.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	p := New(Options{Tracker: tracker.New(tracker.Config{}, nil), Journal: st, Now: func() time.Time { return t0.Add(24 * time.Hour) }})
	for _, env := range []string{"long", "fresh"} {
		_, err := p.Push(env, tracker.Push{Event: event.Created, Time: t0})
		require.NoError(t, err)
	}
	const history = 3000
	for b := 0; b < history/500; b++ {
		items := make([]api.Item, 0, 500)
		for i := range 500 {
			n := b*500 + i + 1
			if n%2 == 0 {
				items = append(items, marker(t, "long", n))
			} else {
				items = append(items, deployed("long", fmt.Sprintf("sha-%d", n), n))
			}
		}
		_, err := p.Record(items, api.Key{})
		require.NoError(t, err)
	}
	evs, err := st.EnvironmentEvents("long")
	require.NoError(t, err)
	require.Len(t, evs, history+1, "every deploy and marker of the history is kept")

	cost := func(it api.Item, wantStored int) uint64 {
		t.Helper()
		before := st.Stats().Decoded
		per, err := p.Record([]api.Item{it}, api.Key{})
		require.NoError(t, err)
		require.Len(t, per[0], wantStored)
		return st.Stats().Decoded - before
	}
	n := history + 1
	for _, env := range []string{"long", "fresh"} {
		require.Zero(t, cost(marker(t, env, n), 1), "%s: a new marker", env)
		require.Zero(t, cost(marker(t, env, n), 0), "%s: its retry", env)
		require.Zero(t, cost(deployed(env, "sha-new", n), 1), "%s: a new deploy", env)
		require.Zero(t, cost(deployed(env, "sha-new", n), 0), "%s: its retry", env)
	}
	// A repeat of the oldest event of the long history is known all the same.
	require.Zero(t, cost(deployed("long", "sha-1", 1), 0))
}

// TestRepeatAcrossRequestsOfOneGroup: a request that repeats an event (or the
// Idempotency-Key) of an earlier request committed in the same group waits for the next
// group: if the earlier one was refused, the repeat is stored, not answered
// "unchanged" and lost; if it was stored, the repeat is unchanged.
func TestRepeatAcrossRequestsOfOneGroup(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "envtrack.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	p := New(Options{Tracker: tracker.New(tracker.Config{}, nil), Journal: st, Now: func() time.Time { return t0.Add(time.Hour) }})
	req := func(key string, items ...api.Item) *request {
		k := api.Key{}
		if key != "" {
			k = api.Key{Name: key, Fingerprint: event.FingerprintOf(key)}
			items = withKey(items, key)
		}
		return &request{items: items, key: k, done: make(chan struct{})}
	}
	ghost := api.Item{EnvironmentID: "ghost", Push: &tracker.Push{Event: event.Ready, Time: t0}} // unknown: refused
	for _, key := range []string{"", "pipeline-1"} {
		m := marker(t, "test", len(key))
		refused, repeat := req(key, m, ghost), req(key, m)
		require.Equal(t, []*request{repeat}, p.commitGroup([]*request{refused, repeat}), "key %q", key)
		<-refused.done
		var ie *api.ItemError
		require.ErrorAs(t, refused.err, &ie)
		require.Empty(t, p.commitGroup([]*request{repeat}))
		<-repeat.done
		require.NoError(t, repeat.err)
		require.Len(t, repeat.per[0], 1, "key %q: stored, the earlier request was refused", key)

		// Again, twice in one group: a recorded key answers both at once.
		again, retry := req(key, m), req(key, m)
		if deferred := p.commitGroup([]*request{again, retry}); key == "" {
			require.Equal(t, []*request{retry}, deferred)
			require.Empty(t, p.commitGroup([]*request{retry}))
		} else {
			require.Empty(t, deferred)
		}
		<-again.done
		<-retry.done
		require.NoError(t, again.err)
		require.NoError(t, retry.err)
		require.Empty(t, again.per[0], "the same marker a third time")
		require.Empty(t, retry.per[0])
	}
}

// meanwhile is a journal another writer shares (replicas on PostgreSQL), reduced to
// the race that matters here: between the push path's lookup and its first keyed
// commit, the other writer records the same Idempotency-Keys, and the commit fails with
// tracker.ErrRepeated, storing nothing, as exporter/store/postgres's does.
type meanwhile struct {
	*store.Store
	fp    func(key string) event.Fingerprint // the other writer's request
	raced bool
}

func (m *meanwhile) CommitKeyed(states []tracker.State, evs []event.Event, keys map[string]event.Fingerprint) ([]event.Event, error) {
	if !m.raced && len(keys) > 0 {
		m.raced = true
		other := map[string]event.Fingerprint{}
		for k := range keys {
			other[k] = m.fp(k)
		}
		if _, err := m.Store.CommitKeyed(nil, nil, other); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("commit: %w", tracker.ErrRepeated)
	}
	return m.Store.CommitKeyed(states, evs, keys)
}

// TestKeyRecordedMeanwhile: a commit that finds its Idempotency-Key recorded by another
// replica since the lookup is planned again, and the request answered from the index:
// the same request is a retry (unchanged, nothing stored), another one a reuse (422).
func TestKeyRecordedMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other func(key string) event.Fingerprint
		reuse bool
	}{
		{"retry", func(k string) event.Fingerprint { return event.FingerprintOf(k) }, false},
		{"reuse", func(string) event.Fingerprint { return event.Fingerprint{9} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "envtrack.db"), store.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			j := &meanwhile{Store: st, fp: tc.other}
			p := New(Options{Tracker: tracker.New(tracker.Config{}, nil), Journal: j, Now: func() time.Time { return t0.Add(time.Hour) }})
			per, err := p.Record([]api.Item{marker(t, "test", 1)}, api.Key{Name: "run-1", Fingerprint: event.FingerprintOf("run-1")})
			require.True(t, j.raced)
			if tc.reuse {
				var kr *api.KeyReusedError
				require.ErrorAs(t, err, &kr)
			} else {
				require.NoError(t, err)
				require.Empty(t, per[0], "unchanged")
			}
			require.Zero(t, st.LastSeq(), "nothing stored")
		})
	}
}
