package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

func TestCheckPush(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	known := State{ID: "pr-1", CreatedAt: m(0), ProvisioningStartedAt: m(2), ReadyAt: m(6), Phase: PhaseReady}
	terminating := known
	terminating.TerminationStartedAt, terminating.Phase = m(60), PhaseTerminating
	for _, c := range []struct {
		name  string
		s     State
		ev    event.Name
		at    time.Time
		wants string // "" means accepted
	}{
		{"created starts an environment", State{}, event.Created, m(0), ""},
		{"provisioning_started starts one", State{}, event.ProvisioningStarted, m(0), ""},
		{"ready needs a known environment", State{}, event.Ready, m(0), "unknown environment"},
		{"terminated needs one", State{}, event.Terminated, m(0), "unknown environment"},
		{"deployed after ready", known, event.Deployed, m(7), ""},
		{"deployed before ready", known, event.Deployed, m(5), "before ready"},
		{"degraded before provisioning", known, event.Degraded, m(1), "before provisioning_started"},
		{"termination_started after ready", known, event.TerminationStarted, m(30), ""},
		{"termination_started before ready", known, event.TerminationStarted, m(3), "before ready"},
		{"terminated after termination_started", terminating, event.Terminated, m(61), ""},
		{"terminated before termination_started", terminating, event.Terminated, m(59), "before termination_started"},
		{"recovered after termination_started", terminating, event.Recovered, m(61), "after termination_started"},
		{"a zero time is the observation's", terminating, event.Terminated, time.Time{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPush(c.s, Push{Event: c.ev, Time: c.at}, m(90))
			if c.wants == "" {
				require.NoError(t, err)
				return
			}
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			require.Contains(t, rej.Reason, c.wants)
		})
	}
}

// TestDurationsNeverNegative: evidence out of order gives a zero duration, not a
// negative one.
func TestDurationsNeverNegative(t *testing.T) {
	require.Equal(t, 0.0, seconds(-4*time.Hour))
	require.Equal(t, 0.0, hours(-4*time.Hour))
	require.Equal(t, 90.0, seconds(90*time.Second))
}
