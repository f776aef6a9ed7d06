package journal

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestCopy: `envtrack store copy` moves a journal from bbolt to PostgreSQL and back:
// identity, events (ids and sequence numbers kept, a pruned start too), states, cursors
// and set-aside events; an interrupted copy resumes, a second run copies nothing, and a
// journal of its own is never copied into.
func TestCopy(t *testing.T) {
	clk := &clock{t: t0}
	src, err := store.Open(filepath.Join(t.TempDir(), StoreFile), store.Options{Now: clk.Now})
	require.NoError(t, err)
	defer src.Close()
	for i := range 12 {
		clk.Set(t0.Add(time.Duration(i) * time.Hour))
		_, err := src.Commit([]tracker.State{{ID: "env", Phase: tracker.PhaseReady}},
			[]event.Event{ev("env", event.Deployed, t0.Add(time.Duration(i)*time.Minute))})
		require.NoError(t, err)
	}
	_, err = src.Prune(t0.Add(90*time.Minute), nil) // seq 1 and 2 are gone
	require.NoError(t, err)
	require.NoError(t, src.SetCursor("influxdb", 10))
	evs, err := src.Events(0, 0)
	require.NoError(t, err)
	require.NoError(t, src.SetAside("grafana", evs[0], "400"))
	require.NoError(t, src.SetCursor("grafana", 12))
	require.NoError(t, src.SetAsideUndelivered("webhook", evs[1:3], "down for 90d"))
	_, err = src.CommitKeyed(nil, nil, map[string]event.Fingerprint{"run-1": {1, 2, 3}})
	require.NoError(t, err)
	// A closed blind window's entry (seq 13) belongs to no environment: it is copied too.
	_, err = src.Gap(event.Gap{From: t0, To: t0.Add(time.Minute), Source: event.GapArgoCD, Reason: event.GapStalled})
	require.NoError(t, err)
	// And a window still open: the blind windows are copied as they are.
	_, err = src.Gap(event.Gap{From: t0.Add(time.Hour), Source: event.GapProbe, Reason: event.GapStalled})
	require.NoError(t, err)

	pg := testinfra.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	dst, err := OpenSpec("postgres:" + dsn)
	require.NoError(t, err)
	defer dst.Close()

	// An interrupted copy: the identity and the first three events.
	require.NoError(t, dst.Adopt(src.JournalID(), src.CreatedAt()))
	require.NoError(t, dst.Append(evs[:3]))
	st, err := Copy(src, dst, nil)
	require.NoError(t, err)
	require.Equal(t, CopyStats{Events: 8, Skipped: 5, FirstSeq: 6, LastSeq: 13, Environments: 1, Cursors: 3, SetAside: 1,
		Undelivered: 2, Keys: 1, Gaps: 2}, st)
	same := func(a, b Copyable) {
		t.Helper()
		require.Equal(t, a.JournalID(), b.JournalID())
		require.Equal(t, a.CreatedAt().UTC(), b.CreatedAt().UTC())
		ea, err := a.Events(0, 0)
		require.NoError(t, err)
		eb, err := b.Events(0, 0)
		require.NoError(t, err)
		require.Equal(t, ea, eb)
		sa, err := a.Environments()
		require.NoError(t, err)
		sb, err := b.Environments()
		require.NoError(t, err)
		require.Equal(t, sa, sb)
		ca, err := a.Cursors()
		require.NoError(t, err)
		cb, err := b.Cursors()
		require.NoError(t, err)
		require.Equal(t, ca, cb)
		xa, err := a.SetAsideEntries("grafana")
		require.NoError(t, err)
		xb, err := b.SetAsideEntries("grafana")
		require.NoError(t, err)
		require.Equal(t, xa, xb)
		ua, err := a.Undelivered("webhook")
		require.NoError(t, err)
		ub, err := b.Undelivered("webhook")
		require.NoError(t, err)
		require.Equal(t, ua, ub)
		require.Len(t, ub, 2)
		ka, err := a.KeyRecords()
		require.NoError(t, err)
		kb, err := b.KeyRecords()
		require.NoError(t, err)
		require.Equal(t, ka, kb)
		ga, err := a.Gaps(time.Unix(0, 0), maxTime)
		require.NoError(t, err)
		gb, err := b.Gaps(time.Unix(0, 0), maxTime)
		require.NoError(t, err)
		require.Equal(t, ga, gb)
		require.NotEmpty(t, gb)
		// The identities are indexed as the events are appended.
		var ids []event.Fingerprint
		for _, e := range ea {
			if !e.IsGap() {
				ids = append(ids, identity(t, e))
			}
		}
		known, err := b.(interface {
			Known([]event.Fingerprint) ([]bool, error)
		}).Known(ids)
		require.NoError(t, err)
		require.NotContains(t, known, false)
	}
	same(src, dst)
	st, err = Copy(src, dst, nil)
	require.NoError(t, err)
	require.Zero(t, st.Events, "a second run copies nothing")
	same(src, dst)

	// The open window closed since (its entry is seq 14): a copy run again moves the
	// entry and replaces the open window with the closed one.
	_, err = src.Gap(event.Gap{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour), Source: event.GapProbe})
	require.NoError(t, err)
	st, err = Copy(src, dst, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Events)
	same(src, dst)
	gaps, err := dst.Gaps(time.Unix(0, 0), maxTime)
	require.NoError(t, err)
	require.Len(t, gaps, 2)

	// And back, into a new file.
	back, err := OpenSpec("bbolt:" + filepath.Join(t.TempDir(), "back", StoreFile))
	require.NoError(t, err)
	defer back.Close()
	_, err = Copy(dst, back, nil)
	require.NoError(t, err)
	same(src, back)

	// A journal of its own is not copied into.
	other, err := OpenSpec("bbolt:" + filepath.Join(t.TempDir(), StoreFile))
	require.NoError(t, err)
	defer other.Close()
	_, err = other.(*store.Store).Commit(nil, []event.Event{ev("x", event.Created, t0)})
	require.NoError(t, err)
	_, err = Copy(src, other, nil)
	require.ErrorContains(t, err, "the destination holds another journal")
	require.Equal(t, uint64(1), other.LastSeq())
}
