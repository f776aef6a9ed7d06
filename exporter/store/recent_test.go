package store

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// requireRecentMatchesFile reads every range of s's journal through Events (from
// memory where recent holds it) and from the file, and requires the same events.
func requireRecentMatchesFile(t *testing.T, s *Store) {
	t.Helper()
	last := s.Stats().LastSeq
	for after := uint64(0); after <= last; after++ {
		for _, limit := range []int{0, 1, 3} {
			got, err := s.Events(after, limit)
			require.NoError(t, err)
			want, err := s.eventsFromFile(after, limit)
			require.NoError(t, err)
			require.Equal(t, want, got, "Events(%d, %d)", after, limit)
		}
	}
}

// TestRecentMatchesFile: what Events answers from memory is what the file answers, for
// events whose decoded form recent knows and for those it leaves to the file (holes),
// across the writes that are not commits (a gap's entry, an appended journal, a commit
// too large for the log, retention), and after a restart.
func TestRecentMatchesFile(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	clk := newClock(t0)
	path := tempPath(t)
	s := openTest(t, path, clk.Now)
	marker := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	withMeta := func(e event.Event, meta map[string]any) event.Event {
		e.Metadata = meta
		return e
	}
	commits := [][]event.Event{
		{withMeta(ev("test", event.Deployed, t0), marker.Metadata())},
		{
			withMeta(ev("env-a", event.Ready, t0), map[string]any{"seconds": 42, "big": int64(1<<62 + 1), "ratio": 0.1, "n": uint32(7)}),
			withMeta(ev("env-a", event.ProvisioningFailed, t0), map[string]any{"nested": map[string]any{"a": []any{1, "x", nil, true}}, "none": nil}),
			withMeta(ev("env-b", event.Created, t0), map[string]any{}),
		},
		// Holes: what JSON changes, or what recent does not know, is read from the file.
		{withMeta(ev("env-c", event.Created, t0), map[string]any{"bad": "\xff\xfe"})},
		{ev("env-c", event.Created, t0.In(time.FixedZone("CEST", 2*3600)))},
		{withMeta(ev("env-c", event.Ready, t0), map[string]any{"at": t0})},
		{withMeta(ev("env-c", event.Ready, t0), map[string]any{"f": float32(0.1)})},
		{func() event.Event { e := ev("env-d", event.Created, t0); e.CommitSHA = "a\xffb"; return e }()},
		{withMeta(ev("env-e", event.Deployed, t0), map[string]any{"html": "<a href=\"x\">&</a>", "é": "ü\u2028"})},
	}
	for _, c := range commits {
		_, err := s.Commit(nil, c)
		require.NoError(t, err)
	}
	requireRecentMatchesFile(t, s)

	// A gap's entry follows the commits: recent forgets them rather than answer around it.
	_, err := s.Gap(event.Gap{Source: "argocd", From: t0, Reason: "stream stalled"})
	require.NoError(t, err)
	_, err = s.Gap(event.Gap{Source: "argocd", From: t0, To: t0.Add(time.Minute), Reason: "stream stalled"})
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{withMeta(ev("test", event.Deployed, t0), marker.Metadata())})
	require.NoError(t, err)
	requireRecentMatchesFile(t, s)

	// A commit too large for the log is not held; those after it are.
	large := make([]event.Event, 0, 200)
	for i := range cap(large) {
		large = append(large, withMeta(ev("env-f", event.Deployed, t0.Add(time.Duration(i)*time.Second)),
			map[string]any{"padding": strings.Repeat("x", 3000)}))
	}
	_, err = s.Commit(nil, large)
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{ev("env-g", event.Created, t0)})
	require.NoError(t, err)
	requireRecentMatchesFile(t, s)

	// Retention prunes from the start: recent forgets what it pruned.
	clk.Set(t0.Add(time.Hour))
	_, err = s.Commit(nil, []event.Event{ev("env-h", event.Created, t0.Add(time.Hour))})
	require.NoError(t, err)
	n, err := s.Prune(t0.Add(time.Minute), nil)
	require.NoError(t, err)
	require.Positive(t, n)
	requireRecentMatchesFile(t, s)
	evs, err := s.Events(0, 0)
	require.NoError(t, err)
	require.Equal(t, []uint64{s.Stats().LastSeq}, seqs(evs), "only the event recorded after the cutoff")

	require.NoError(t, s.Close())
	s = openTest(t, path, clk.Now)
	_, err = s.Commit(nil, []event.Event{ev("env-i", event.Created, t0)})
	require.NoError(t, err)
	requireRecentMatchesFile(t, s)
}

// TestRecentAnswersTheSinks: a sink reading right behind the commits reads from memory:
// no event is decoded from the file, and none waits for the applier to put it there.
func TestRecentAnswersTheSinks(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	s := openTest(t, tempPath(t), newClock(t0).Now)
	release := holdApplies(s)
	defer release()
	var cursor uint64
	for i := range 10 {
		m := event.Marker{Application: "app", Activity: "deploy-" + string(rune('a'+i)), Status: "success"}
		e := ev("test", event.Deployed, t0.Add(time.Duration(i)*time.Second))
		e.Metadata = m.Metadata()
		_, err := s.Commit(nil, []event.Event{e, ev("env-a", event.Created, t0)})
		require.NoError(t, err)
		evs, err := s.Events(cursor, 500) // would wait for the held applier if read from the file
		require.NoError(t, err)
		require.Len(t, evs, 2)
		cursor = evs[1].Seq
	}
	require.Zero(t, s.Stats().Decoded)
	release()
	requireRecentMatchesFile(t, s)

	require.NoError(t, s.Close())
	_, err := s.Events(0, 0)
	require.ErrorIs(t, err, ErrClosed, "a closed store answers no read, even from memory")
}

// TestRecentBounds: recent holds at most recentEvents events and recentBytes of their
// encoded size, the newest, and once past a bound at least three quarters of it.
func TestRecentBounds(t *testing.T) {
	var r recent
	evs := make([]event.Event, 100)
	enc := make([][]byte, 100)
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	next := uint64(1)
	for range 2 * recentEvents / len(evs) {
		for i := range evs {
			evs[i] = event.Event{Seq: next, EnvironmentID: "e", Name: event.Created, Time: t0, RecordedAt: t0}
			enc[i] = make([]byte, 100)
			next++
		}
		r.add(evs, sizes(enc))
	}
	require.LessOrEqual(t, len(r.evs), recentEvents)
	require.GreaterOrEqual(t, len(r.evs), recentEvents*3/4)
	require.Equal(t, next-uint64(len(r.evs)), r.first)
	_, ok := r.events(r.first-2, 0)
	require.False(t, ok, "dropped")
	got, ok := r.events(r.first-1, 0)
	require.True(t, ok)
	require.Len(t, got, len(r.evs))
	require.Equal(t, next-1, got[len(got)-1].Seq)

	// One event per commit: the events kept are copied down once per quarter of the
	// bound, not once per commit.
	r.reset()
	r.drops = 0
	for range 2 * recentEvents {
		r.add([]event.Event{{Seq: next, EnvironmentID: "e", Name: event.Created, Time: t0, RecordedAt: t0}}, sizes(enc[:1]))
		next++
	}
	require.LessOrEqual(t, r.drops, 2*4+1)

	big := [][]byte{make([]byte, recentBytes-10), make([]byte, 20)}
	r.add([]event.Event{{Seq: next, Time: t0, RecordedAt: t0}, {Seq: next + 1, Time: t0, RecordedAt: t0}}, sizes(big))
	require.LessOrEqual(t, r.bytes, recentBytes)
	require.Len(t, r.evs, 1, "the bytes bound keeps the newest")
	_, ok = r.events(math.MaxUint64, 0)
	require.False(t, ok)
}

// sizes is the size function of encoded events.
func sizes(encoded [][]byte) func(int) int { return func(i int) int { return len(encoded[i]) } }

// FuzzDecodedForm: whenever recent knows an event's decoded form, it is what the
// journal's encoder and decoder make of the event.
func FuzzDecodedForm(f *testing.F) {
	f.Add("test", "deploy-app-7-42", "ci-3", int64(42), 0.5, true, int64(0), uint8(0))
	f.Add("env\xff", "<&>", "", int64(-1<<62-3), math.Inf(1), false, int64(3600), uint8(3))
	f.Add("e", "\u2028", "x", int64(1<<53+1), math.Copysign(0, -1), true, int64(-7200), uint8(7))
	f.Fuzz(func(t *testing.T, id, s1, s2 string, n int64, x float64, b bool, offset int64, shape uint8) {
		t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
		at := t0
		if offset != 0 {
			at = t0.In(time.FixedZone("", int(offset%86400)))
		}
		meta := map[string]any{"s": s1, "n": n, "x": x, "b": b, s2: nil}
		switch shape % 8 {
		case 1:
			meta["nested"] = map[string]any{s1: []any{n, s2, x}}
		case 2:
			meta["i"] = int(n)
		case 3:
			meta["u"] = uint64(n)
		case 4:
			meta = nil
		case 5:
			meta = map[string]any{}
		case 6:
			meta["t"] = at
		case 7:
			meta["f"] = float32(x)
		}
		e := event.Event{Seq: 7, ID: "0011-7", EnvironmentID: id, EnvironmentName: s2, Name: event.Deployed, Time: at,
			Type: s1, Metadata: meta, RecordedAt: t0, Source: "api"}
		form, ok := decodedForm(e)
		var enc eventEncoder
		v, err := enc.encode(&e)
		if !ok {
			return
		}
		require.NoError(t, err, "an event recent holds is one the journal stores")
		got, err := decodeEvent(nil, v)
		require.NoError(t, err)
		require.Equal(t, got, form, "%s", v)
	})
}

// TestRecentHoldsNoLargeCommit: Recent (the PostgreSQL store's) does not hold a commit
// larger than the store's log takes, as the store does not: what it held before is
// forgotten, and the commits after it are held again.
func TestRecentHoldsNoLargeCommit(t *testing.T) {
	var x Recent
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	one := func(seq uint64) []event.Event {
		return []event.Event{{Seq: seq, EnvironmentID: "e", Name: event.Created, Time: t0, RecordedAt: t0}}
	}
	x.Add(one(1), func(int) int { return 100 })
	large := make([]event.Event, 1000)
	for i := range large {
		large[i] = one(uint64(2 + i))[0]
	}
	x.Add(large, func(int) int { return directBytes/len(large) + 1 })
	_, ok := x.Events(0, 0)
	require.False(t, ok, "held before the large commit")
	_, ok = x.Events(1, 0)
	require.False(t, ok, "the large commit")
	x.Add(one(1002), func(int) int { return 100 })
	got, ok := x.Events(1001, 0)
	require.True(t, ok)
	require.Equal(t, one(1002), got)
}
