package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/model/event"
)

func deploy(env, sha string, at time.Time, key string) event.Event {
	e := ev(env, event.Deployed, at)
	e.CommitSHA = sha
	if key != "" {
		e.Metadata = map[string]any{event.MetaIdempotencyKey: key}
	}
	return e
}

func identity(t *testing.T, e event.Event) event.Fingerprint {
	t.Helper()
	id, ok := e.Identity()
	require.True(t, ok)
	return id
}

// TestKeysExpireWithTheirEvents: an Idempotency-Key and the identities of the events
// stored with it are known until retention prunes those events, then forgotten, and a
// reopened store gives the same answer at every step (issue 18: keys lived in memory,
// a key whose event was pruned was a repeat before a restart and new after one).
func TestKeysExpireWithTheirEvents(t *testing.T) {
	path := tempPath(t)
	clk := newClock(t0)
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	defer func() { _ = s.Close() }()

	old := deploy("env-a", "aaa", t0, "pipeline-1")
	fpOld, fpNew := event.FingerprintOf("request 1"), event.FingerprintOf("request 2")
	_, err = s.CommitKeyed(nil, []event.Event{old}, map[string]event.Fingerprint{"pipeline-1": fpOld})
	require.NoError(t, err)
	clk.Set(t0.Add(2 * time.Hour))
	recent := deploy("env-a", "bbb", t0.Add(2*time.Hour), "pipeline-2")
	_, err = s.CommitKeyed(nil, []event.Event{recent}, map[string]event.Fingerprint{"pipeline-2": fpNew})
	require.NoError(t, err)

	check := func(step string, want map[string]event.Fingerprint, oldKnown bool) {
		t.Helper()
		for _, reopen := range []bool{false, true} {
			if reopen {
				require.NoError(t, s.Close())
				s, err = Open(path, Options{Now: clk.Now})
				require.NoError(t, err)
			}
			keys, err := s.IdempotencyKeys([]string{"pipeline-1", "pipeline-2", "pipeline-3"})
			require.NoError(t, err)
			require.Equal(t, want, keys, "%s (reopened: %v)", step, reopen)
			known, err := s.Known([]event.Fingerprint{identity(t, old), identity(t, recent), identity(t, deploy("env-a", "ccc", t0, ""))})
			require.NoError(t, err)
			require.Equal(t, []bool{oldKnown, true, false}, known, "%s (reopened: %v)", step, reopen)
		}
	}
	check("before retention", map[string]event.Fingerprint{"pipeline-1": fpOld, "pipeline-2": fpNew}, true)

	n, err := s.Prune(t0.Add(time.Hour), nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	check("after retention pruned the first event", map[string]event.Fingerprint{"pipeline-2": fpNew}, false)
	require.Equal(t, 1, countKeys(t, s, bucketKeyExpiry), "the expiry index leaves with the key")
	require.Equal(t, 1, countKeys(t, s, bucketIdentities))
}

// TestPruneKeepsWhatSinksHaveNotDelivered: retention deletes only what every configured
// sink has delivered, by durable or lazily saved cursors (issue 18: an InfluxDB outage
// longer than the retention deleted events it never got).
func TestPruneKeepsWhatSinksHaveNotDelivered(t *testing.T) {
	clk := newClock(t0)
	s := openTest(t, tempPath(t), clk.Now)
	var evs []event.Event
	for i := range 6 {
		evs = append(evs, deploy("env-a", string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second), ""))
	}
	_, err := s.Commit(nil, evs)
	require.NoError(t, err)
	cutoff := t0.Add(time.Hour) // every event is old enough
	sinks := []string{"influxdb", "grafana"}

	require.NoError(t, s.SetCursor("influxdb", 4))
	n, err := s.Prune(cutoff, sinks)
	require.NoError(t, err)
	require.Zero(t, n, "grafana has delivered nothing: everything stays")

	s.SaveCursorLazily("grafana", 2) // not written yet: Prune writes it first
	n, err = s.Prune(cutoff, sinks)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, uint64(3), s.FirstSeq())
	c, err := s.Cursor("grafana")
	require.NoError(t, err)
	require.Equal(t, uint64(2), c)

	require.NoError(t, s.SetCursor("grafana", 6))
	n, err = s.Prune(cutoff, sinks)
	require.NoError(t, err)
	require.Equal(t, 2, n, "influxdb holds events 5 and 6")
	require.Equal(t, uint64(5), s.FirstSeq())

	n, err = s.Prune(cutoff, nil)
	require.NoError(t, err)
	require.Equal(t, 2, n, "a sink no longer configured holds nothing back")
}

// TestMigrateSchema1: a store written before the push path's indexes gets them built
// from its journal when it is opened, once: its events are known, and the
// Idempotency-Keys their metadata kept are recorded (with the zero fingerprint: their
// requests are unknown, so any request with one is its retry).
func TestMigrateSchema1(t *testing.T) {
	path := tempPath(t)
	clk := newClock(t0)
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	keyed := deploy("env-a", "aaa", t0, "pipeline-1")
	_, err = s.Commit(nil, []event.Event{keyed, deploy("env-a", "bbb", t0, "")})
	require.NoError(t, err)
	// Back to the layout of schema 1: no indexes.
	require.NoError(t, s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIdentities, bucketKeys, bucketKeyExpiry, bucketUndelivered} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaV1))
	}))
	require.NoError(t, s.Close())

	s = openTest(t, path, clk.Now)
	known, err := s.Known([]event.Fingerprint{identity(t, keyed), identity(t, deploy("env-a", "bbb", t0, "")), identity(t, deploy("env-a", "ccc", t0, ""))})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, known)
	keys, err := s.IdempotencyKeys([]string{"pipeline-1"})
	require.NoError(t, err)
	require.Equal(t, map[string]event.Fingerprint{"pipeline-1": {}}, keys)
	require.NoError(t, s.view(func(tx *bolt.Tx) error {
		require.Equal(t, SchemaVersion, string(tx.Bucket(bucketMeta).Get(keySchema)))
		return nil
	}))
}

// TestCommitIndexesIdentitiesOfItsEvents: a commit indexes each identity by the last of
// its events in the journal, whatever order their times come in (the identities are put
// sorted by key).
func TestCommitIndexesIdentitiesOfItsEvents(t *testing.T) {
	s := openTest(t, tempPath(t), newClock(t0).Now)
	evs := []event.Event{
		deploy("env-a", "ccc", t0.Add(2*time.Second), ""),
		deploy("env-a", "bbb", t0.Add(time.Second), ""),
		deploy("env-b", "aaa", t0, ""),
		deploy("env-a", "bbb", t0.Add(time.Second), ""), // the second event again
		ev("env-c", event.Created, t0),                  // no identity
	}
	out, err := s.Commit(nil, evs)
	require.NoError(t, err)
	want := map[event.Fingerprint]uint64{
		identity(t, evs[0]): out[0].Seq, identity(t, evs[1]): out[3].Seq, identity(t, evs[2]): out[2].Seq,
	}
	got := map[event.Fingerprint]uint64{}
	require.NoError(t, s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdentities).ForEach(func(k, v []byte) error {
			got[event.Fingerprint(k)] = decodeSeq(v)
			return nil
		})
	}))
	require.Equal(t, want, got)
}
