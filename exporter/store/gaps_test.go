package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// TestGaps (issue 19, item 2): a window opens, survives a restart (the new process
// continues it), closes with its journal entry in the same transaction, is read back by
// overlap with any span, and is pruned with the journal's retention.
func TestGaps(t *testing.T) {
	path := tempPath(t)
	clk := newClock(t0)
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	argo := func(from, to int, reason string) event.Gap {
		g := event.Gap{From: sec(from), Source: event.GapArgoCD, Reason: reason}
		if to >= 0 {
			g.To = sec(to)
		}
		return g
	}

	// A closed window of a second or less is nothing; one that was never opened is
	// recorded as given.
	closed, err := s.Gap(event.Gap{From: sec(1).Add(200 * time.Millisecond), To: sec(1).Add(900 * time.Millisecond), Source: event.GapArgoCD, Reason: "broken"})
	require.NoError(t, err)
	require.Nil(t, closed)
	closed, err = s.Gap(argo(10, 16, event.GapTruncated))
	require.NoError(t, err)
	require.Equal(t, argo(10, 16, event.GapTruncated), *closed)

	// Open at 100; opening again (a later failure) keeps the start and reason.
	_, err = s.Gap(argo(100, -1, event.GapStalled))
	require.NoError(t, err)
	_, err = s.Gap(argo(105, -1, event.GapRefused))
	require.NoError(t, err)
	gaps, err := s.Gaps(sec(0), sec(1000))
	require.NoError(t, err)
	require.Equal(t, []event.Gap{argo(10, 16, event.GapTruncated), argo(100, -1, event.GapStalled)}, gaps)

	// A restart in the window: the new process continues it and closes it.
	require.NoError(t, s.Close())
	s = openTest(t, path, clk.Now)
	clk.Set(sec(130))
	_, err = s.Gap(argo(125, -1, event.GapUnreachable))
	require.NoError(t, err)
	closed, err = s.Gap(event.Gap{From: sec(125), To: sec(130), Source: event.GapArgoCD, Reason: event.GapUnreachable})
	require.NoError(t, err)
	require.Equal(t, argo(100, 130, event.GapStalled), *closed)

	// Each closed window is one journal entry, which belongs to no environment.
	evs, err := s.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	e := evs[1]
	require.True(t, e.IsGap())
	require.False(t, e.IsLifecycle())
	require.Equal(t, argo(100, 130, event.GapStalled), e.Gap())
	require.Equal(t, 30.0, e.Metadata[event.MetaDurationSeconds])
	require.Equal(t, uint64(2), e.Seq)
	require.Equal(t, uint64(2), s.LastSeq())
	envEvs, err := s.EnvironmentEvents("argocd")
	require.NoError(t, err)
	require.Empty(t, envEvs)

	// Overlap: touching counts, before and after do not; another source apart.
	_, err = s.Gap(event.Gap{From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"})
	require.NoError(t, err)
	_, err = s.Gap(argo(200, -1, event.GapRefused))
	require.NoError(t, err)
	for _, tc := range []struct {
		from, to int
		want     []event.Gap
	}{
		{0, 9, []event.Gap{{From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}}},
		{16, 99, []event.Gap{argo(10, 16, event.GapTruncated), {From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}}},
		{131, 150, []event.Gap{{From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}}},
		{600, 700, []event.Gap{argo(200, -1, event.GapRefused)}},
		{17, 99, []event.Gap{{From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}}},
	} {
		got, err := s.Gaps(sec(tc.from), sec(tc.to))
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "[%d, %d]", tc.from, tc.to)
	}

	// Retention: closed windows that ended before the cutoff go; the open one stays.
	clk.Set(sec(10000))
	_, err = s.Prune(sec(140), nil)
	require.NoError(t, err)
	got, err := s.Gaps(sec(0), sec(10000))
	require.NoError(t, err)
	require.Equal(t, []event.Gap{argo(200, -1, event.GapRefused), {From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}}, got)
}
