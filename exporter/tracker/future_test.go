package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestFutureTimesAreNoEvidence: Argo CD's times are bounded as pushes are: one past the
// observation by more than apitypes.MaxFuture (a creationTimestamp, requested-at
// annotation, health or sync time, history entry or deletionTimestamp in 2099) dates no
// event; envtrack dates by its observation and says so, and observing the same
// Application again changes nothing. Before, every such time became an event in 2099.
func TestFutureTimesAreNoEvidence(t *testing.T) {
	y2099 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	future := func(a *Evidence) {
		a.RequestedAt, a.CreatedAt, a.HealthSince, a.OpStartedAt = y2099, y2099, y2099, y2099
	}
	cfg := Config{ProvisioningTimeout: time.Hour, URLFailuresBeforeDegraded: 3}
	var s State
	var all []event.Event
	observe := func(when string, a *Evidence) {
		t.Helper()
		ns, evs := Step(s, seen(when, a), cfg)
		all = append(all, evs...)
		s = ns
	}
	observe("1m", newApp(future))
	ready := newApp(future, synced("2m"), health("Healthy", ""), func(a *Evidence) { a.OpFinishedAt = y2099 })
	observe("3m", ready)
	before := s
	observe("4m", ready)
	require.True(t, samePersisted(before, s), "the same Application again changes nothing")
	redeployed := newApp(future, synced("2m"), health("Healthy", ""), withHistory(
		hist(1, "1a2b3c4d5e6f", "1m", "2m"), hist(2, "bbbbbbbb", "4m", "5m"), Deployment{ID: 3, Revision: "cccccccc", StartedAt: y2099, DeployedAt: y2099}),
		func(a *Evidence) { a.OpFinishedAt = at("5m"); a.Revision = "bbbbbbbb" })
	observe("6m", redeployed)
	deleting := func(a *Evidence) { a.DeletionAt = y2099 }
	observe("7m", newApp(future, deleting))
	before = s
	observe("8m", newApp(future, deleting))
	require.True(t, samePersisted(before, s), "the deletion keeps the date it was first seen")

	var names []event.Name
	for _, e := range all {
		names = append(names, e.Name)
		require.False(t, e.Time.After(at("8m").Add(apitypes.MaxFuture)), "%s dated %s", e.Name, e.Time)
	}
	require.Equal(t, []event.Name{event.ProvisioningStarted, event.Ready, event.Deployed, event.TerminationStarted}, names,
		"no created from a requested-at in 2099, no deployment dated in 2099")
	require.Equal(t, at("1m"), all[0].Time, "provisioning started when first observed")
	require.Equal(t, "observed", all[0].Metadata[event.MetaEvidence])
	require.Equal(t, at("5m"), all[2].Time, "the history entry with a real time")
	require.Equal(t, at("7m"), all[3].Time, "termination dated by the observation that showed the deletion")

	// Within the tolerance a time is kept as the source says (clock skew).
	ns, evs := Step(State{}, seen("1m", newApp(createdAt("5m"))), cfg)
	require.Equal(t, at("5m"), evs[0].Time)
	require.Equal(t, at("5m"), ns.ProvisioningStartedAt)
}
