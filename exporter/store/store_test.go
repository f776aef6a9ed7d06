package store

import (
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func openTest(t *testing.T, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "envtrack.db")
}

func ev(env string, name event.Name, at time.Time) event.Event {
	return event.Event{EnvironmentID: env, Name: name, Time: at, Source: "argocd"}
}

func seqs(evs []event.Event) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// countKeys counts the keys of a top-level bucket.
func countKeys(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	require.NoError(t, s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

func TestCommitAndReadBack(t *testing.T) {
	tests := []struct {
		name     string
		states   []tracker.State
		events   []event.Event
		wantSeqs []uint64
	}{
		{
			name:     "one state and one event",
			states:   []tracker.State{{ID: "a", Phase: tracker.PhaseProvisioning, Source: tracker.SourceArgoCD, ProvisioningStartedAt: t0}},
			events:   []event.Event{ev("a", event.ProvisioningStarted, t0)},
			wantSeqs: []uint64{1},
		},
		{
			name: "two environments, three events",
			states: []tracker.State{
				{ID: "a", Phase: tracker.PhaseReady, Source: tracker.SourceArgoCD},
				{ID: "b", Phase: tracker.PhaseRequested, Source: tracker.SourceAPI},
			},
			events: []event.Event{
				ev("a", event.ProvisioningStarted, t0),
				ev("a", event.Ready, t0.Add(3*time.Minute)),
				{EnvironmentID: "b", Name: event.Created, Time: t0, Metadata: map[string]any{"reason": "x", "late": true, "n": 1.5}},
			},
			wantSeqs: []uint64{1, 2, 3},
		},
		{
			name:   "states only",
			states: []tracker.State{{ID: "a", Phase: tracker.PhaseProvisioning, LastObservedAt: t0}},
		},
		{
			name: "nothing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			s := openTest(t, tempPath(t), func() time.Time { return now })
			in := append([]event.Event(nil), tt.events...)

			got, err := s.Commit(tt.states, tt.events)
			require.NoError(t, err)
			require.Equal(t, in, tt.events, "Commit must not modify the caller's events")
			require.Len(t, got, len(tt.events))
			if len(tt.wantSeqs) > 0 {
				require.Equal(t, tt.wantSeqs, seqs(got))
			}
			for i, e := range got {
				require.Equal(t, event.MakeID(s.journalID, e.Seq), e.ID)
				require.Equal(t, now, e.RecordedAt)
				require.Equal(t, tt.events[i].EnvironmentID, e.EnvironmentID)
			}

			read, err := s.Events(0, 0)
			require.NoError(t, err)
			require.Equal(t, got, read)

			envs, err := s.Environments()
			require.NoError(t, err)
			require.Len(t, envs, len(tt.states))
			for _, st := range tt.states {
				require.Equal(t, st, envs[st.ID])
				one, ok, err := s.environment(st.ID)
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, st, one)
			}
			_, ok, err := s.environment("missing")
			require.NoError(t, err)
			require.False(t, ok)

			st := s.Stats()
			require.Equal(t, uint64(len(tt.events)), st.Events)
			require.Equal(t, uint64(len(tt.events)), st.LastSeq)
			require.Equal(t, uint64(len(tt.events)), s.LastSeq())
			require.Positive(t, st.FileBytes)
		})
	}
}

func TestEventsPaging(t *testing.T) {
	s := openTest(t, tempPath(t), nil)
	for i := 0; i < 10; i++ {
		_, err := s.Commit(nil, []event.Event{ev("a", event.Deployed, t0.Add(time.Duration(i)*time.Minute))})
		require.NoError(t, err)
	}
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{0, 3, []uint64{1, 2, 3}},
		{3, 3, []uint64{4, 5, 6}},
		{8, 5, []uint64{9, 10}},
		{10, 5, nil},
		{math.MaxUint64, 0, nil},
	}
	for _, tt := range tests {
		got, err := s.Events(tt.after, tt.limit)
		require.NoError(t, err)
		if tt.want == nil {
			require.Empty(t, got, "after %d", tt.after)
			continue
		}
		require.Equal(t, tt.want, seqs(got), "after %d limit %d", tt.after, tt.limit)
	}
}

func TestSeqMonotonicAcrossReopen(t *testing.T) {
	path := tempPath(t)
	var journalID string
	var want uint64
	for round := 0; round < 3; round++ {
		s, err := Open(path, Options{})
		require.NoError(t, err)
		if round == 0 {
			journalID = s.journalID
			require.Len(t, journalID, 16)
		}
		require.Equal(t, journalID, s.journalID, "journal id is kept")
		require.Equal(t, want, s.LastSeq())
		for i := 0; i < 3; i++ {
			got, err := s.Commit(nil, []event.Event{ev("a", event.Deployed, t0), ev("b", event.Deployed, t0)})
			require.NoError(t, err)
			require.Equal(t, []uint64{want + 1, want + 2}, seqs(got))
			want += 2
		}
		require.NoError(t, s.Close())
	}
	s := openTest(t, path, nil)
	all, err := s.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, all, int(want))
	for i, e := range all {
		require.Equal(t, uint64(i+1), e.Seq)
	}

	other := openTest(t, tempPath(t), nil)
	require.NotEqual(t, s.journalID, other.journalID, "journal ids are random")
}

func TestCommitAtomicity(t *testing.T) {
	good := tracker.State{ID: "a", Name: "before", Phase: tracker.PhaseProvisioning}
	tests := []struct {
		name    string
		states  []tracker.State
		events  []event.Event
		close   bool
		wantErr string
	}{
		{
			name:    "event metadata cannot be marshalled",
			states:  []tracker.State{{ID: "a", Name: "after"}, {ID: "new"}},
			events:  []event.Event{ev("a", event.Ready, t0), {EnvironmentID: "a", Name: event.Deployed, Metadata: map[string]any{"bad": math.Inf(1)}}},
			wantErr: "unsupported value",
		},
		{
			name:    "state cannot be marshalled",
			states:  []tracker.State{{ID: "new"}, {ID: "a", Name: "after", ReadyAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
			events:  []event.Event{ev("a", event.Ready, t0)},
			wantErr: "year outside of range",
		},
		{
			name:    "event without environment",
			states:  []tracker.State{{ID: "a", Name: "after"}},
			events:  []event.Event{ev("a", event.Ready, t0), ev("", event.Ready, t0)},
			wantErr: "empty environment id",
		},
		{
			name:    "state without id",
			states:  []tracker.State{{ID: "a", Name: "after"}, {}},
			events:  []event.Event{ev("a", event.Ready, t0)},
			wantErr: "empty environment id",
		},
		{
			name:    "closed store",
			states:  []tracker.State{{ID: "a", Name: "after"}},
			events:  []event.Event{ev("a", event.Ready, t0)},
			close:   true,
			wantErr: ErrClosed.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			s, err := Open(path, Options{})
			require.NoError(t, err)
			_, err = s.Commit([]tracker.State{good}, []event.Event{ev("a", event.ProvisioningStarted, t0)})
			require.NoError(t, err)
			require.NoError(t, s.barrier()) // its notification sent
			notified, cancel := s.Subscribe()
			defer cancel()

			if tt.close {
				require.NoError(t, s.Close())
			}
			got, err := s.Commit(tt.states, tt.events)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, got)
			require.Empty(t, notified, "a failed commit notifies nobody")
			require.Equal(t, uint64(1), s.LastSeq())
			require.NoError(t, s.Close())

			s = openTest(t, path, nil)
			envs, err := s.Environments()
			require.NoError(t, err)
			require.Equal(t, map[string]tracker.State{"a": good}, envs, "no partial state")
			all, err := s.Events(0, 0)
			require.NoError(t, err)
			require.Equal(t, []uint64{1}, seqs(all), "no partial events")
			require.Equal(t, 1, countKeys(t, s, bucketEnvIndex), "no partial index entries")

			// The failed commit consumed no sequence number.
			next, err := s.Commit(nil, []event.Event{ev("a", event.Ready, t0)})
			require.NoError(t, err)
			require.Equal(t, []uint64{2}, seqs(next))
		})
	}
}

func TestCursors(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Options{})
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{ev("a", event.Created, t0), ev("a", event.Ready, t0), ev("a", event.Deployed, t0)})
	require.NoError(t, err)

	c, err := s.Cursor("influx")
	require.NoError(t, err)
	require.Zero(t, c)
	require.NoError(t, s.SetCursor("influx", 2))
	require.NoError(t, s.SetCursor("grafana", 3))
	require.NoError(t, s.SetCursor("webhook", 0))
	require.ErrorContains(t, s.SetCursor("influx", 4), "beyond the last event 3")
	require.ErrorContains(t, s.SetCursor("", 1), "empty sink name")
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.SetCursor("influx", 1), ErrClosed)
	_, err = s.Cursor("influx")
	require.ErrorIs(t, err, ErrClosed)

	s = openTest(t, path, nil)
	c, err = s.Cursor("influx")
	require.NoError(t, err)
	require.Equal(t, uint64(2), c)
	all, err := s.cursors()
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"influx": 2, "grafana": 3, "webhook": 0}, all)
}

func TestPrune(t *testing.T) {
	path := tempPath(t)
	clk := newClock(t0)
	s := openTest(t, path, clk.Now)

	commitAt := func(at time.Time, states []tracker.State, evs ...event.Event) {
		t.Helper()
		clk.Set(at)
		_, err := s.Commit(states, evs)
		require.NoError(t, err)
	}
	// seq 1-2 at t0, 3-4 at t0+1h, 5 at t0+2h.
	commitAt(t0, []tracker.State{{ID: "old", Phase: tracker.PhaseTerminated, TerminatedAt: t0}},
		ev("old", event.TerminationStarted, t0), ev("old", event.Terminated, t0))
	commitAt(t0.Add(time.Hour), []tracker.State{{ID: "live", Phase: tracker.PhaseReady}},
		ev("live", event.Created, t0), ev("old", event.Deployed, t0))
	commitAt(t0.Add(2*time.Hour), []tracker.State{{ID: "late", Phase: tracker.PhaseTerminated, TerminatedAt: t0.Add(2 * time.Hour)}},
		ev("live", event.Ready, t0))
	require.Equal(t, 5, countKeys(t, s, bucketEnvIndex))

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(s))

	tests := []struct {
		name       string
		before     time.Time
		wantN      int
		wantSeqs   []uint64
		wantFirst  uint64
		wantEnvs   []string
		wantIndex  int
		wantOldEvs []uint64
	}{
		{"nothing older", t0, 0, []uint64{1, 2, 3, 4, 5}, 1, []string{"late", "live", "old"}, 5, []uint64{1, 2, 4}},
		{"first commit", t0.Add(time.Hour), 2, []uint64{3, 4, 5}, 3, []string{"late", "live"}, 3, []uint64{4}},
		{"idempotent", t0.Add(time.Hour), 0, []uint64{3, 4, 5}, 3, []string{"late", "live"}, 3, []uint64{4}},
		{"everything", t0.Add(3 * time.Hour), 3, nil, 0, []string{"live"}, 0, nil},
	}
	for _, tt := range tests {
		n, err := s.Prune(tt.before, nil)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.wantN, n, tt.name)
		all, err := s.Events(0, 0)
		require.NoError(t, err)
		require.Equal(t, tt.wantSeqs, nilIfEmpty(seqs(all)), tt.name)
		require.Equal(t, tt.wantFirst, s.FirstSeq(), tt.name)
		require.Equal(t, uint64(5), s.LastSeq(), tt.name)
		envs, err := s.Environments()
		require.NoError(t, err)
		var ids []string
		for id := range envs {
			ids = append(ids, id)
		}
		require.ElementsMatch(t, tt.wantEnvs, ids, tt.name)
		require.Equal(t, tt.wantIndex, countKeys(t, s, bucketEnvIndex), "index entries, %s", tt.name)
		oldEvs, err := s.EnvironmentEvents("old")
		require.NoError(t, err)
		require.Equal(t, tt.wantOldEvs, nilIfEmpty(seqs(oldEvs)), tt.name)
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_journal_events Events currently held in the journal.
# TYPE envtrack_journal_events gauge
envtrack_journal_events 0
# HELP envtrack_journal_last_sequence Sequence number of the last event appended to the journal.
# TYPE envtrack_journal_last_sequence gauge
envtrack_journal_last_sequence 5
# HELP envtrack_journal_pruned_events_total Journal events deleted by retention.
# TYPE envtrack_journal_pruned_events_total counter
envtrack_journal_pruned_events_total 5
`), "envtrack_journal_events", "envtrack_journal_last_sequence", "envtrack_journal_pruned_events_total"))

	// Sequence numbers continue after everything was pruned, also across a reopen.
	commitAt(t0.Add(4*time.Hour), nil, ev("live", event.Deployed, t0))
	require.Equal(t, uint64(6), s.FirstSeq())
	require.NoError(t, s.Close())
	s = openTest(t, path, clk.Now)
	require.Equal(t, uint64(6), s.FirstSeq())
	require.Equal(t, uint64(6), s.LastSeq())
	got, err := s.Commit(nil, []event.Event{ev("live", event.Deployed, t0)})
	require.NoError(t, err)
	require.Equal(t, []uint64{7}, seqs(got))
	require.Equal(t, Stats{Events: 2, FirstSeq: 6, LastSeq: 7, FileBytes: s.Stats().FileBytes}, s.Stats())
}

func nilIfEmpty(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestPruneManyBatches(t *testing.T) {
	clk := newClock(t0)
	s, err := Open(tempPath(t), Options{Now: clk.Now, NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	const n = pruneBatch*2 + 17
	batch := make([]event.Event, n)
	for i := range batch {
		batch[i] = ev("e"+strconv.Itoa(i%7), event.Deployed, t0)
	}
	_, err = s.Commit(nil, batch)
	require.NoError(t, err)
	clk.Set(t0.Add(time.Hour))
	_, err = s.Commit(nil, []event.Event{ev("keep", event.Deployed, t0)})
	require.NoError(t, err)

	got, err := s.Prune(t0.Add(time.Minute), nil)
	require.NoError(t, err)
	require.Equal(t, n, got)
	require.Equal(t, uint64(n+1), s.FirstSeq())
	require.Equal(t, 1, countKeys(t, s, bucketEnvIndex))
	require.Equal(t, uint64(1), s.Stats().Events)
}

func TestEnvironmentEvents(t *testing.T) {
	s := openTest(t, tempPath(t), nil)
	// Interleave environments whose ids are prefixes of one another.
	batches := [][]event.Event{
		{ev("a", event.Created, t0), ev("ab", event.Created, t0)},
		{ev("b", event.Created, t0)},
		{ev("ab", event.ProvisioningStarted, t0), ev("a", event.ProvisioningStarted, t0)},
		{ev("a", event.Ready, t0), ev("b", event.ProvisioningStarted, t0), ev("a", event.Deployed, t0)},
	}
	for _, b := range batches {
		_, err := s.Commit(nil, b)
		require.NoError(t, err)
	}
	tests := []struct {
		id    string
		want  []uint64
		names []event.Name
	}{
		{"a", []uint64{1, 5, 6, 8}, []event.Name{event.Created, event.ProvisioningStarted, event.Ready, event.Deployed}},
		{"ab", []uint64{2, 4}, []event.Name{event.Created, event.ProvisioningStarted}},
		{"b", []uint64{3, 7}, []event.Name{event.Created, event.ProvisioningStarted}},
		{"c", nil, nil},
		{"", nil, nil},
	}
	for _, tt := range tests {
		got, err := s.EnvironmentEvents(tt.id)
		require.NoError(t, err)
		require.Equal(t, tt.want, nilIfEmpty(seqs(got)), tt.id)
		var names []event.Name
		for _, e := range got {
			require.Equal(t, tt.id, e.EnvironmentID)
			names = append(names, e.Name)
		}
		require.Equal(t, tt.names, names, tt.id)
	}
}

func TestEventsBetween(t *testing.T) {
	s := openTest(t, tempPath(t), nil)
	// Evidence times out of seq order.
	_, err := s.Commit(nil, []event.Event{
		ev("a", event.Ready, t0.Add(2*time.Hour)),
		ev("b", event.Ready, t0),
		ev("c", event.Ready, t0.Add(time.Hour)),
		ev("d", event.Ready, t0.Add(3*time.Hour)),
	})
	require.NoError(t, err)
	tests := []struct {
		from, to time.Time
		want     []uint64
	}{
		{t0, t0.Add(4 * time.Hour), []uint64{1, 2, 3, 4}},
		{t0, t0.Add(2 * time.Hour), []uint64{2, 3}}, // to is exclusive
		{t0.Add(time.Hour), t0.Add(2*time.Hour + 1), []uint64{1, 3}},
		{t0.Add(5 * time.Hour), t0.Add(6 * time.Hour), nil},
	}
	for _, tt := range tests {
		got, err := s.EventsBetween(tt.from, tt.to)
		require.NoError(t, err)
		require.Equal(t, tt.want, nilIfEmpty(seqs(got)), "%s..%s", tt.from, tt.to)
	}
}

func TestSubscribe(t *testing.T) {
	s := openTest(t, tempPath(t), nil)
	a, cancelA := s.Subscribe()
	b, cancelB := s.Subscribe()
	defer cancelB()

	// Nobody reads: commits must neither block nor queue more than one notification.
	for i := 0; i < 10; i++ {
		_, err := s.Commit(nil, []event.Event{ev("a", event.Deployed, t0)})
		require.NoError(t, err)
	}
	// Subscribers hear of what is applied to the store file: once the commits are.
	require.NoError(t, s.barrier())
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	<-a
	<-b
	require.Empty(t, a)

	// A commit without events notifies nobody.
	_, err := s.Commit([]tracker.State{{ID: "a"}}, nil)
	require.NoError(t, err)
	require.NoError(t, s.barrier())
	require.Empty(t, a)

	cancelA()
	cancelA() // idempotent
	_, err = s.Commit(nil, []event.Event{ev("a", event.Deployed, t0)})
	require.NoError(t, err)
	require.NoError(t, s.barrier())
	require.Empty(t, a, "no notification after unsubscribing")
	require.Len(t, b, 1)

	n := s.notify()
	require.Equal(t, n, s.notify(), "notify returns the same channel")
	_, err = s.Commit(nil, []event.Event{ev("a", event.Deployed, t0)})
	require.NoError(t, err)
	<-n
}

func TestSubscribeConcurrent(t *testing.T) {
	s, err := Open(tempPath(t), Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ch, cancel := s.Subscribe()
	defer cancel()

	const commits = 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < commits; i++ {
			_, err := s.Commit(nil, []event.Event{ev("a", event.Deployed, t0)})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// A reader that follows notifications with a cursor sees every event exactly once.
	var cursor uint64
	for cursor < commits {
		<-ch
		evs, err := s.Events(cursor, 0)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, cursor+1, e.Seq)
			cursor = e.Seq
		}
	}
	<-done
}

func TestOpenLocked(t *testing.T) {
	path := tempPath(t)
	s := openTest(t, path, nil)

	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, "store is locked by another process")
	require.ErrorContains(t, err, path)

	_, err = Open(path, Options{}) // the default timeout, 1s
	require.ErrorIs(t, err, ErrLocked)

	require.NoError(t, s.Close())
	s2 := openTest(t, path, nil)
	require.Equal(t, s.journalID, s2.journalID)
}

func TestOpenSchemaVersion(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("99"))
	}))
	require.NoError(t, s.Close())

	_, err = Open(path, Options{})
	require.ErrorContains(t, err, `unsupported schema version "99"`)
	// The failed Open released the lock.
	_, err = Open(path, Options{LockTimeout: 50 * time.Millisecond})
	require.False(t, errors.Is(err, ErrLocked), "err: %v", err)
}

func TestClosed(t *testing.T) {
	s, err := Open(tempPath(t), Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Events(0, 0)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Environments()
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Prune(t0, nil)
	require.ErrorIs(t, err, ErrClosed)
	require.Positive(t, s.Stats().FileBytes)
}

func TestCommitDurationHistogram(t *testing.T) {
	s := openTest(t, tempPath(t), nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(s))
	for i := 0; i < 3; i++ {
		_, err := s.Commit(nil, []event.Event{ev("a", event.Deployed, t0)})
		require.NoError(t, err)
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "envtrack_store_commit_duration_seconds" {
			found = true
			require.Equal(t, uint64(3), mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	require.True(t, found)
	problems, err := testutil.CollectAndLint(NewCollector(s))
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestCreatedAtIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	first := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Now: func() time.Time { return first }})
	require.NoError(t, err)
	require.Equal(t, first, s.CreatedAt())
	require.NoError(t, s.Close())
	s, err = Open(path, Options{Now: func() time.Time { return first.Add(time.Hour) }})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, first, s.CreatedAt())
}
