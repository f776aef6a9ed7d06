package retention

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestRequestedExpiry: environments still requested readiness.requested_expiry after
// their created event are forgotten, in the store as in the tracker (a restart does not
// bring them back), with no event; their created events stay in the journal. Those that
// started provisioning, and recent requests, stay; a store error forgets nothing. Before,
// environments stuck in requested were kept forever.
func TestRequestedExpiry(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	expiry := 7 * 24 * time.Hour
	path := filepath.Join(t.TempDir(), "envtrack.db")
	st, err := store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	tr := tracker.New(tracker.Config{ProvisioningTimeout: time.Hour}, nil)
	push := func(id string, name event.Name, at time.Time) {
		t.Helper()
		obs := []tracker.Observation{{EnvironmentID: id, At: now, Push: &tracker.Push{Event: name, Time: at}}}
		_, err := tr.Process(obs, st.Commit)
		require.NoError(t, err)
	}
	old, recent := now.Add(-expiry-time.Second), now.Add(-expiry+time.Second)
	push("abandoned", event.Created, old)
	push("abandoned-2", event.Created, old.Add(-time.Hour))
	push("started", event.Created, old)
	push("started", event.ProvisioningStarted, old.Add(time.Minute))
	push("recent", event.Created, recent)
	events := func() int {
		evs, err := st.Events(0, 0)
		require.NoError(t, err)
		return len(evs)
	}
	before := events()

	r := Requested{Journal: failingForget{}, Tracker: tr, Expiry: expiry, Now: func() time.Time { return now }, Logger: log.NewNopLogger()}
	r.Expire()
	_, known := tr.Get("abandoned")
	require.True(t, known, "nothing forgotten when the store could not delete")

	r.Journal = st
	r.Expire()
	for id, want := range map[string]bool{"abandoned": false, "abandoned-2": false, "started": true, "recent": true} {
		_, known := tr.Get(id)
		require.Equal(t, want, known, id)
	}
	require.Equal(t, before, events(), "no event: the created events stay")
	require.NoError(t, st.Close())

	st, err = store.Open(path, store.Options{NoSync: true})
	require.NoError(t, err)
	defer st.Close()
	states, err := st.Environments()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"started", "recent"}, keys(states), "a restart does not bring them back")
}

type failingForget struct{}

func (failingForget) ForgetStates([]string) error { return errors.New("disk full") }

func keys(m map[string]tracker.State) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
