package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// holdApplies keeps the records committed from now on in the log, unapplied, until the
// returned function is called.
func holdApplies(s *Store) (release func()) {
	gate := make(chan struct{})
	s.am.Lock()
	s.applyGate = gate
	s.am.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.am.Lock()
			s.applyGate = nil
			s.am.Unlock()
			close(gate)
		})
	}
}

// copyStore copies the store file and its log to a new directory, as a crash at this
// moment would leave them (both are written with pwrite and synced; nothing is in a
// buffer of this process), and returns the new store file's path.
func copyStore(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "envtrack.db")
	for _, suffix := range []string{"", logSuffix} {
		b, err := os.ReadFile(path + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst+suffix, b, 0o600))
	}
	return dst
}

// snapshot is what a store holds, read through its API.
type snapshot struct {
	events []event.Event
	states map[string]tracker.State
	known  []bool
	keys   map[string]event.Fingerprint
	last   uint64
}

func snap(t *testing.T, s *Store, ids []event.Fingerprint, keys []string) snapshot {
	t.Helper()
	evs, err := s.Events(0, 0)
	require.NoError(t, err)
	states, err := s.Environments()
	require.NoError(t, err)
	known, err := s.Known(ids)
	require.NoError(t, err)
	k, err := s.IdempotencyKeys(keys)
	require.NoError(t, err)
	return snapshot{events: evs, states: states, known: known, keys: k, last: s.LastSeq()}
}

// TestLogKeepsWhatWasAcknowledged: commits acknowledged but not yet applied to the store
// file when the process dies are applied, once, by the next Open, with their states,
// identities and Idempotency-Keys; a torn append after them is cut off; an Open of a
// store whose log holds only applied commits applies nothing twice.
func TestLogKeepsWhatWasAcknowledged(t *testing.T) {
	path := tempPath(t)
	s := openTest(t, path, newClock(t0).Now)
	_, err := s.Commit([]tracker.State{{ID: "env-a", Phase: tracker.PhaseReady}}, []event.Event{ev("env-a", event.Ready, t0)})
	require.NoError(t, err)
	first, err := s.Events(0, 0) // applied
	require.NoError(t, err)
	require.Len(t, first, 1)

	release := holdApplies(s)
	defer release()
	marker := deploy("env-a", "aaa", t0.Add(time.Second), "pipeline-1")
	fp := event.Fingerprint{1, 2, 3}
	_, err = s.CommitKeyed([]tracker.State{{ID: "env-a", Name: "after", Phase: tracker.PhaseReady}},
		[]event.Event{marker, deploy("env-b", "bbb", t0, "")}, map[string]event.Fingerprint{"pipeline-1": fp})
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{ev("env-c", event.Created, t0)})
	require.NoError(t, err)
	_, err = s.CommitKeyed(nil, nil, map[string]event.Fingerprint{"keys-only": {9}})
	require.NoError(t, err)
	require.Equal(t, uint64(4), s.LastSeq())

	crashed := copyStore(t, path) // three commits in the log only
	ids := []event.Fingerprint{identity(t, marker), identity(t, deploy("env-b", "bbb", t0, "")), identity(t, deploy("env-z", "zzz", t0, ""))}
	keys := []string{"pipeline-1", "keys-only", "never"}
	// The push path's lookups see the commits not yet applied.
	known, err := s.Known(ids)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, known)
	recorded, err := s.IdempotencyKeys(keys)
	require.NoError(t, err)
	require.Equal(t, map[string]event.Fingerprint{"pipeline-1": fp, "keys-only": {9}}, recorded)
	release()
	want := snap(t, s, ids, keys)
	require.Len(t, want.events, 4)
	require.Equal(t, "after", want.states["env-a"].Name)
	require.Equal(t, []bool{true, true, false}, want.known)
	require.Equal(t, map[string]event.Fingerprint{"pipeline-1": fp, "keys-only": {9}}, want.keys)

	// A torn append after the acknowledged ones: the crash came in its middle.
	lf, err := os.OpenFile(crashed+logSuffix, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	var r record
	r.lsn, r.recordedAt = 99, t0
	frame := appendFrame(nil, s.journalID, &r)
	_, err = lf.Write(frame[:len(frame)-3])
	require.NoError(t, err)
	require.NoError(t, lf.Close())

	applied := copyStore(t, path) // every commit applied, the log still holding them
	for name, p := range map[string]string{"unapplied, torn tail": crashed, "applied": applied} {
		t.Run(name, func(t *testing.T) {
			c := openTest(t, p, newClock(t0).Now)
			got := snap(t, c, ids, keys)
			require.Equal(t, want, got)
			fi, err := os.Stat(p + logSuffix)
			require.NoError(t, err)
			require.Zero(t, fi.Size(), "the log is emptied once applied")
			// The journal goes on where it was: the next commit takes seq 5.
			out, err := c.Commit(nil, []event.Event{ev("env-d", event.Created, t0)})
			require.NoError(t, err)
			require.Equal(t, uint64(5), out[0].Seq)
			require.NoError(t, c.Close())
			_, err = os.Stat(p + logSuffix)
			require.True(t, os.IsNotExist(err), "a closed store is one file")
			c = openTest(t, p, newClock(t0).Now)
			evs, err := c.Events(0, 0)
			require.NoError(t, err)
			require.Equal(t, []uint64{1, 2, 3, 4, 5}, seqs(evs))
		})
	}
}

// TestLogOfAnotherStore: a log that does not continue the store file (another store's,
// or one with commits missing) is damage Open reports, applying nothing.
func TestLogOfAnotherStore(t *testing.T) {
	a, b := tempPath(t), tempPath(t)
	sa := openTest(t, a, nil)
	sb := openTest(t, b, nil)
	held := map[*Store]string{} // a copy of each with two commits in the log only
	for _, s := range []*Store{sa, sb} {
		release := holdApplies(s)
		_, err := s.Commit(nil, []event.Event{ev("env-a", event.Created, t0)})
		require.NoError(t, err)
		_, err = s.Commit(nil, []event.Event{ev("env-b", event.Created, t0)})
		require.NoError(t, err)
		held[s] = copyStore(t, s.path)
		release()
	}
	foreign := held[sa]
	other, err := os.ReadFile(held[sb] + logSuffix)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(foreign+logSuffix, other, 0o600))

	// A log whose first record was lost: it begins after the file's last commit.
	gap := copyStore(t, held[sb])
	log, err := os.ReadFile(gap + logSuffix)
	require.NoError(t, err)
	recs, _, err := readLogBytes(log, sb.journalID)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	second := 0 // where the second record's frame begins
	for i := 1; i < len(log); i++ {
		if r, _, err := readLogBytes(log[i:], sb.journalID); err == nil && len(r) == 1 {
			second = i
			break
		}
	}
	require.NotZero(t, second)
	require.NoError(t, os.WriteFile(gap+logSuffix, log[second:], 0o600))

	for name, tc := range map[string]struct{ path, want string }{
		"another store's log": {foreign, "not of this store's"},
		"a commit missing":    {gap, "begins at commit 2, the store file ends at 0"},
	} {
		t.Run(name, func(t *testing.T) {
			before, err := os.ReadFile(tc.path)
			require.NoError(t, err)
			s, err := Open(tc.path, Options{})
			if s != nil {
				s.Close()
			}
			require.ErrorIs(t, err, ErrDamaged)
			require.ErrorContains(t, err, tc.want)
			after, err := os.ReadFile(tc.path)
			require.NoError(t, err)
			require.True(t, bytes.Equal(before, after), "nothing applied")
		})
	}
}

// FuzzReadLog: whatever the log holds, reading it returns records that decode, or an
// error, never a panic, and never more than the bytes hold.
func FuzzReadLog(f *testing.F) {
	const journal = "0011223344556677"
	var r record
	r.lsn, r.recordedAt = 1, t0
	r.states = []stateRecord{{id: "env-a", json: []byte(`{"id":"env-a"}`)}}
	r.keys = []keyRecord{{key: "k", fp: event.Fingerprint{1}}}
	f.Add(appendFrame(nil, journal, &r))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, n, err := readLogBytes(b, journal)
		if err != nil {
			return
		}
		require.LessOrEqual(t, n, int64(len(b)))
		for _, r := range recs {
			require.Equal(t, len(r.encoded), len(r.indexKeys))
		}
	})
}

// TestStoreFileRefusingCommits: while the store file refuses the applier's transactions
// (a full disk), reads and further commits fail with that reason instead of answering
// without what was acknowledged; the acknowledged commit stays in the log, is applied
// once the file takes it again, and only once.
func TestStoreFileRefusingCommits(t *testing.T) {
	path := tempPath(t)
	s := openTest(t, path, newClock(t0).Now)
	full := errors.New("no space left on device")
	s.am.Lock()
	s.applyFault = func() error { return full }
	s.am.Unlock()
	marker := deploy("env-a", "aaa", t0, "")
	_, err := s.Commit(nil, []event.Event{marker})
	require.NoError(t, err, "acknowledged from the log")

	require.ErrorIs(t, s.barrier(), full, "the applier tried and failed")
	_, err = s.Events(0, 0) // even the events recent holds
	require.ErrorIs(t, err, full)
	require.ErrorContains(t, err, "behind its commit log")
	_, err = s.Commit(nil, []event.Event{ev("env-b", event.Created, t0)})
	require.ErrorIs(t, err, full, "no commit is acknowledged that the file cannot take")
	known, err := s.Known([]event.Fingerprint{identity(t, marker), identity(t, deploy("env-a", "bbb", t0, ""))})
	require.NoError(t, err, "the push path's lookups read the log's records")
	require.Equal(t, []bool{true, false}, known)

	crashed := copyStore(t, path)
	s.am.Lock()
	s.applyFault = nil
	s.am.Unlock()
	for {
		// The applier tries again on its own (applyRetry); no read kicks it.
		if err := s.barrier(); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs, err := s.Events(0, 0)
	require.NoError(t, err)
	require.Equal(t, []uint64{1}, seqs(evs))
	require.NoError(t, s.Close())

	c := openTest(t, crashed, nil)
	evs, err = c.Events(0, 0)
	require.NoError(t, err)
	require.Equal(t, []uint64{1}, seqs(evs), "a restart applies what the file refused")
}

// TestLargeCommitAfterTheLog: a commit too large for the log (a first sight's) is
// written to the store file directly, after the log's records before it, and a
// restart finds every commit once.
func TestLargeCommitAfterTheLog(t *testing.T) {
	path := tempPath(t)
	s := openTest(t, path, newClock(t0).Now)
	release := holdApplies(s)
	_, err := s.Commit(nil, []event.Event{ev("env-a", event.Created, t0)})
	require.NoError(t, err)
	large := make([]event.Event, 4000)
	for i := range large {
		large[i] = ev("env-"+strings.Repeat("b", 1+i%100), event.Created, t0)
		large[i].Metadata = map[string]any{"message": strings.Repeat("x", 300)}
	}
	go release() // the large commit waits for the record before it
	_, err = s.Commit(nil, large)
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{ev("env-c", event.Created, t0)})
	require.NoError(t, err)
	crashed := copyStore(t, path)
	recs, _, err := readLog(crashed+logSuffix, s.journalID)
	require.NoError(t, err)
	require.Len(t, recs, 2, "the small commits only")

	for _, p := range []string{path, crashed} {
		if p == path {
			require.NoError(t, s.Close())
		}
		c := openTest(t, p, nil)
		evs, err := c.Events(0, 0)
		require.NoError(t, err)
		require.Len(t, evs, 4002)
		for i, e := range evs {
			require.Equal(t, uint64(i+1), e.Seq)
		}
		require.Equal(t, "env-c", evs[4001].EnvironmentID)
	}
}
