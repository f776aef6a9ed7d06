package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// TestEventsFromRecentCommitsAsDecoded: Events answers from the events of the last
// commits (recent.go) exactly what it decodes from the journal, through commits that
// can and cannot be kept, gaps appended beside them, the cache's bound and pruning; and
// what it hands out is the caller's to change.
func TestEventsFromRecentCommitsAsDecoded(t *testing.T) {
	clk := &clock{}
	clk.Set(t0)
	s := openTest(t, tempPath(t), clk.Now)
	n := 0
	marker := func() event.Event {
		n++
		return event.Event{EnvironmentID: fmt.Sprintf("env-%d", n%3), Name: event.Name("deployment"), Time: t0.Add(time.Duration(n) * time.Second),
			Source: "push", Metadata: map[string]any{"kind": "deployment", "application": fmt.Sprintf("app-%d", n), "failed": n%2 == 0, "n": float64(n), "none": nil}}
	}
	commit := func(k int, mod func(*event.Event)) {
		evs := make([]event.Event, k)
		for i := range evs {
			evs[i] = marker()
			if mod != nil {
				mod(&evs[i])
			}
		}
		_, err := s.Commit(nil, evs)
		require.NoError(t, err)
	}
	// check compares Events from every cursor with what the journal decodes.
	check := func(step string) {
		t.Helper()
		last := s.LastSeq()
		for _, limit := range []int{0, 7} {
			for after := uint64(0); after <= last; after += max(1, last/7) {
				got, err := s.Events(after, limit)
				require.NoError(t, err)
				s.recentMu.Lock()
				kept := s.recent
				s.recent = nil
				s.recentMu.Unlock()
				want, err := s.Events(after, limit)
				require.NoError(t, err)
				s.recentMu.Lock()
				s.recent = kept
				s.recentMu.Unlock()
				require.Equal(t, want, got, "%s: Events(%d, %d)", step, after, limit)
			}
		}
	}
	commit(300, nil)
	check("markers")
	require.NotEmpty(t, s.recent, "the markers are kept")
	decodedBefore := s.Stats().Decoded
	evs, err := s.Events(s.LastSeq()-10, 0)
	require.NoError(t, err)
	require.Len(t, evs, 10)
	require.Equal(t, decodedBefore, s.Stats().Decoded, "read from memory, not decoded")
	evs[0].Metadata["application"] = "changed"
	again, err := s.Events(s.LastSeq()-10, 1)
	require.NoError(t, err)
	require.NotEqual(t, "changed", again[0].Metadata["application"], "a caller's change stays its own")

	commit(5, func(e *event.Event) { e.Metadata["n"] = json.Number("1.50") }) // decodes as 1.5
	check("a number as pushed")
	require.Empty(t, s.recent)
	commit(5, func(e *event.Event) { e.Metadata["nested"] = map[string]any{"a": 1} })
	commit(5, func(e *event.Event) { e.EnvironmentName = "bad \xff" })
	commit(5, func(e *event.Event) { e.Time = time.Now() }) // a monotonic reading
	commit(20, nil)
	check("values JSON changes")
	commit(3, func(e *event.Event) { e.Metadata = map[string]any{} })
	check("empty metadata")

	_, err = s.Gap(event.Gap{Source: event.GapProbe, From: t0, Reason: "stalled"})
	require.NoError(t, err)
	_, err = s.Gap(event.Gap{Source: event.GapProbe, From: t0, To: t0.Add(time.Minute), Reason: "stalled"})
	require.NoError(t, err)
	check("a gap appended")
	commit(10, nil)
	check("a commit after a gap")

	commit(2*maxRecent+100, nil)
	for range 5 {
		commit(400, nil)
	}
	check("beyond the bound")
	require.LessOrEqual(t, len(s.recent), 2*maxRecent)

	clk.Set(t0.Add(time.Hour))
	commit(50, nil)
	_, err = s.Prune(t0.Add(time.Minute), nil)
	require.NoError(t, err)
	check("pruned")
}
