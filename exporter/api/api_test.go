package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// TestStuckTerminationInState (issue 19, item 5): the environment document says since
// when a termination is stuck, and says nothing of it otherwise.
func TestStuckTerminationInState(t *testing.T) {
	at := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	s := tracker.State{ID: "pr-1", Phase: tracker.PhaseTerminating, TerminationStartedAt: at, TerminationStuckAt: at.Add(time.Hour)}
	b, err := json.Marshal(FromState(s))
	require.NoError(t, err)
	require.Contains(t, string(b), `"termination_stuck_at":"2025-03-04T10:00:00Z"`)

	s.TerminationStuckAt = time.Time{}
	b, err = json.Marshal(FromState(s))
	require.NoError(t, err)
	require.NotContains(t, string(b), "termination_stuck_at")
}
