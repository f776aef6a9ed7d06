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
