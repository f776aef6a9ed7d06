package argocd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
)

// TestArgoCDFaultsChangeNothing: while Argo CD answers 5xx, 401, too slowly, with
// truncated or non-JSON bodies, or with an empty list, no environment changes at all;
// once it answers again, tracking resumes from the evidence and misses nothing.
func TestArgoCDFaultsChangeNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{perKind: 1, extraConfig: ""})
	h.start()
	faults := []struct {
		name  string
		fault fakeargocd.Fault
		isErr bool
	}{
		{"500 from Argo CD", fakeargocd.ServerError("rpc error: code = Internal"), true},
		{"502 from a proxy", fakeargocd.ProxyError(502), true},
		{"503 from a proxy", fakeargocd.ProxyError(503), true},
		{"401 expired token", fakeargocd.Unauthorized(), true},
		{"slower than request_timeout", fakeargocd.Slow(time.Minute), true},
		{"truncated JSON", fakeargocd.Truncated(), true},
		{"HTML instead of JSON", fakeargocd.NotJSON(), true},
		{"no items", fakeargocd.MissingItems(), true},
		{"empty list", fakeargocd.EmptyList(), false},
		{"empty list again", fakeargocd.EmptyList(), false},
		{"empty list a third time", fakeargocd.EmptyList(), false},
	}
	at := h.sc.Start
	for ; at.Before(h.sc.Start.Add(2 * time.Minute)); at = at.Add(scenario.Step) {
		h.step(at)
	}
	before := h.journal()
	require.NotEmpty(t, before)
	statesBefore := h.side.States()

	for _, f := range faults {
		h.clock.Set(at)
		h.argo.SetApps(h.sc.Apps(at))
		h.argo.SetFault(f.fault)
		err := h.poll()
		if f.isErr {
			require.Error(t, err, f.name)
			require.NotContains(t, err.Error(), "argo-secret-token", f.name)
		} else {
			require.NoError(t, err, f.name)
		}
		require.Equal(t, len(before), len(h.journal()), "%s produced a transition", f.name)
		require.Equal(t, statesBefore, h.side.States(), "%s changed an environment", f.name)
		at = at.Add(scenario.Step)
	}
	h.argo.ClearFault()
	require.True(t, h.side.polled.Load(), "readiness does not depend on Argo CD answering")

	// Recovery: the rest of the scenario, derived from Argo CD's own timestamps.
	for ; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.step(at)
	}
	scenario.CheckJournal(t, h.sc, h.journal(), false)
}
