package tracker

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mapView is a View over a map of ViewApps by Application name, the first by name
// owning an environment (as the watch source's view).
type mapView map[string]ViewApp

func (v mapView) Len() int { return len(v) }

func (v mapView) Owner(id string) (string, *Evidence, bool) {
	owner := ""
	for name, a := range v {
		claims := a.EnvironmentID
		if claims == "" {
			claims = name
		}
		if claims == id && (owner == "" || name < owner) {
			owner = name
		}
	}
	if owner == "" {
		return "", nil, false
	}
	return owner, v[owner].Evidence, true
}

// TestViewChangesIsTheWholeView: told what changed since a view's last evaluation (here:
// everything it shows, and the Application dropped from it), ViewChanges observes what
// ViewObservations observes of the whole view.
func TestViewChangesIsTheWholeView(t *testing.T) {
	ev := func(name string) Evidence {
		return Evidence{AppName: name, EnvironmentID: name, Health: HealthHealthy, HealthStatus: "Healthy"}
	}
	ready, prov, gone, term, absent := ev("ready"), ev("prov"), ev("gone"), ev("term"), ev("absent")
	tr := New(loaded(Config{}), map[string]State{
		"ready":  {ID: "ready", Source: SourceArgoCD, Phase: PhaseReady, App: &ready},
		"prov":   {ID: "prov", Source: SourceArgoCD, Phase: PhaseProvisioning, App: &prov},
		"gone":   {ID: "gone", Source: SourceArgoCD, Phase: PhaseReady, App: &gone},
		"term":   {ID: "term", Source: SourceArgoCD, Phase: PhaseTerminating, App: &term, TerminationStartedAt: t0},
		"absent": {ID: "absent", Source: SourceArgoCD, Phase: PhaseReady, App: &absent, AbsentCount: 1, AbsentSince: t0},
		"api":    {ID: "api", Source: SourceAPI, Phase: PhaseProvisioning},
	})
	taken := func(name string) ViewApp { return ViewApp{EnvironmentID: name} }
	fresh := func(a Evidence) ViewApp { return ViewApp{EnvironmentID: a.EnvironmentID, Evidence: &a} }
	changed := ev("ready")
	changed.Health, changed.HealthStatus = HealthDegraded, "Degraded"
	view := mapView{"ready": fresh(changed), "prov": taken("prov"), "term": taken("term"), "new": fresh(ev("new")),
		"b-claim": fresh(Evidence{AppName: "b-claim", EnvironmentID: "shared"}), "a-claim": fresh(Evidence{AppName: "a-claim", EnvironmentID: "shared"})}
	at := t0.Add(time.Minute)
	whole, _ := tr.ViewObservations(view, at)
	// What changed since the last evaluation: the Applications set in the view with
	// evidence the tracker has not taken (ready, new, the two claims) and the one
	// dropped (gone). prov, term (time may decide them) and absent (counting) the
	// tracker knows of itself.
	got := tr.ViewChanges(view, []string{"ready", "new", "shared", "gone"}, at)
	require.Equal(t, whole, got)
}

// TestIdleCostFollowsChange (issue 23): with nothing changing, what runs every interval
// (the watch's evaluation, the URL checks' ticks and URLs, the deadlines due) examines
// the environments time can change, not every state: 10,000 settled environments and
// two in flux cost two per interval, where a sweep costs 10,000. Counted, not timed.
func TestIdleCostFollowsChange(t *testing.T) {
	const settledEnvs = 10000
	states := map[string]State{}
	view := map[string]ViewApp{}
	for i := 0; i < settledEnvs; i++ {
		id := fmt.Sprintf("pr-%05d", i)
		a := Evidence{AppName: id, EnvironmentID: id, Sync: SyncSynced, Health: HealthHealthy, HealthStatus: "Healthy", Op: OpSucceeded}
		states[id] = State{ID: id, Source: SourceArgoCD, Phase: PhaseReady, EverReady: true, App: &a}
		view[id] = ViewApp{EnvironmentID: id}
	}
	prov := Evidence{AppName: "prov", EnvironmentID: "prov", Health: HealthProgressing, HealthStatus: "Progressing"}
	states["prov"] = State{ID: "prov", Source: SourceArgoCD, Phase: PhaseProvisioning, ProvisioningStartedAt: t0, App: &prov}
	view["prov"] = ViewApp{EnvironmentID: "prov"}
	states["pushed"] = State{ID: "pushed", Source: SourceAPI, Phase: PhaseProvisioning, ProvisioningStartedAt: t0}
	tr := New(loaded(Config{ProvisioningTimeout: time.Hour}), states)
	v := indexedView{view}

	before := tr.Visited()
	for i := 1; i <= 10; i++ {
		at := t0.Add(time.Duration(i) * 15 * time.Second)
		obs := tr.ViewChanges(v, nil, at)
		require.Len(t, obs, 1)
		require.Equal(t, "prov", obs[0].EnvironmentID)
		ticks := tr.Ticks(at)
		require.Len(t, ticks, 1)
		require.Empty(t, tr.URLs())
		require.Empty(t, tr.Due(at, 0))
	}
	require.Equal(t, int64(10*2), tr.Visited()-before, "states examined in 10 idle intervals")

	// The whole view (a session's first evaluation) is the sweep: what the above must not be.
	before = tr.Visited()
	_, _ = tr.ViewObservations(view, t0)
	require.GreaterOrEqual(t, tr.Visited()-before, int64(settledEnvs))
}

// indexedView is a View over a map whose Applications claim their own names (O(1)
// Owner, as the watch source's claims index).
type indexedView struct{ m map[string]ViewApp }

func (v indexedView) Len() int { return len(v.m) }

func (v indexedView) Owner(id string) (string, *Evidence, bool) {
	a, ok := v.m[id]
	return id, a.Evidence, ok
}
