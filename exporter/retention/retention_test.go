package retention

import (
	"errors"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// journal records the cutoffs it was pruned at, and the sinks it was asked to hold for.
type journal struct {
	cutoffs []time.Time
	sinks   [][]string
	err     error
}

func (j *journal) Prune(before time.Time, sinks []string) (int, error) {
	j.cutoffs = append(j.cutoffs, before)
	j.sinks = append(j.sinks, sinks)
	return 3, j.err
}

// TestPrune: the journal is pruned at now - retention, and the tracker forgets the
// environments terminated before that, and only those; after a journal error it forgets
// nothing.
func TestPrune(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	keep := 30 * 24 * time.Hour
	cutoff := now.Add(-keep)
	states := map[string]tracker.State{
		"old":     {ID: "old", Phase: tracker.PhaseTerminated, TerminatedAt: cutoff.Add(-time.Second)},
		"recent":  {ID: "recent", Phase: tracker.PhaseTerminated, TerminatedAt: cutoff.Add(time.Second)},
		"running": {ID: "running", Phase: tracker.PhaseReady, ReadyAt: cutoff.Add(-time.Hour)},
	}
	tr := tracker.New(tracker.Config{}, states)

	failing := &journal{err: errors.New("disk full")}
	New(failing, tr, keep, nil, func() time.Time { return now }, log.NewNopLogger()).Prune()
	require.Equal(t, []time.Time{cutoff}, failing.cutoffs)
	_, known := tr.Get("old")
	require.True(t, known, "nothing forgotten while the journal still holds the events")

	j := &journal{}
	New(j, tr, keep, []string{"influxdb", "grafana"}, func() time.Time { return now }, log.NewNopLogger()).Prune()
	require.Equal(t, []time.Time{cutoff}, j.cutoffs)
	require.Equal(t, [][]string{{"influxdb", "grafana"}}, j.sinks, "the configured sinks hold what they have not delivered")
	for id, want := range map[string]bool{"old": false, "recent": true, "running": true} {
		_, known := tr.Get(id)
		require.Equal(t, want, known, id)
	}
}
