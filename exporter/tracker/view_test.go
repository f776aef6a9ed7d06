package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestViewObservations(t *testing.T) {
	ev := func(name string) Evidence {
		return Evidence{AppName: name, EnvironmentID: name, Health: HealthHealthy, HealthStatus: "Healthy"}
	}
	ready, prov, gone, term := ev("ready"), ev("prov"), ev("gone"), ev("term")
	tr := New(loaded(Config{}), map[string]State{
		"ready": {ID: "ready", Source: SourceArgoCD, Phase: PhaseReady, App: &ready},
		"prov":  {ID: "prov", Source: SourceArgoCD, Phase: PhaseProvisioning, App: &prov},
		"gone":  {ID: "gone", Source: SourceArgoCD, Phase: PhaseReady, App: &gone},
		"term":  {ID: "term", Source: SourceArgoCD, Phase: PhaseTerminating, App: &term, TerminationStartedAt: t0},
		"api":   {ID: "api", Source: SourceAPI, Phase: PhaseProvisioning},
	})
	taken := func(name string) ViewApp { return ViewApp{EnvironmentID: name} } // the tracker holds its evidence
	fresh := func(a Evidence) ViewApp { return ViewApp{EnvironmentID: a.EnvironmentID, Evidence: &a} }
	view := map[string]ViewApp{"ready": taken("ready"), "prov": taken("prov"), "term": taken("term"), "new": fresh(ev("new")),
		// Two Applications claiming one environment: the first by name wins.
		"b-claim": fresh(Evidence{AppName: "b-claim", EnvironmentID: "shared"}), "a-claim": fresh(Evidence{AppName: "a-claim", EnvironmentID: "shared"})}
	at := t0.Add(time.Minute)
	ids := func(obs []Observation) (present, absent []string) {
		for _, o := range obs {
			require.Equal(t, at, o.At)
			if o.Absent {
				absent = append(absent, o.EnvironmentID)
			} else {
				present = append(present, o.EnvironmentID+"/"+o.App.AppName)
			}
		}
		return present, absent
	}

	obs, inconclusive := tr.ViewObservations(view, at)
	require.False(t, inconclusive)
	present, absent := ids(obs)
	// A settled environment whose evidence the tracker holds is left out; time can
	// change the others; a tracked Application missing from the view is absent.
	require.Equal(t, []string{"new/new", "prov/prov", "shared/a-claim", "term/term"}, present)
	require.Equal(t, []string{"gone"}, absent)

	// A changed Application (evidence the tracker has not taken) is evaluated even when
	// settled, with that evidence; the others with the evidence the tracker holds.
	changed := ev("ready")
	changed.Health, changed.HealthStatus = HealthDegraded, "Degraded"
	view["ready"] = fresh(changed)
	obs, _ = tr.ViewObservations(view, at)
	for _, o := range obs {
		switch o.EnvironmentID {
		case "ready":
			require.Equal(t, "Degraded", o.App.HealthStatus)
		case "prov":
			require.Equal(t, prov, *o.App)
		}
	}
	present, _ = ids(obs)
	require.Contains(t, present, "ready/ready")

	// An Application the tracker forgot, without evidence in the view: nothing to
	// observe it with.
	obs, _ = tr.ViewObservations(map[string]ViewApp{"forgotten": taken("forgotten"), "prov": taken("prov")}, at)
	present, _ = ids(obs)
	require.Equal(t, []string{"prov/prov"}, present)

	// An empty view while live environments are tracked is inconclusive: only the
	// terminating one may be confirmed gone.
	obs, inconclusive = tr.ViewObservations(map[string]ViewApp{}, at)
	require.True(t, inconclusive)
	present, absent = ids(obs)
	require.Empty(t, present)
	require.Equal(t, []string{"term"}, absent)
}

func TestHolds(t *testing.T) {
	held := Evidence{AppName: "a", EnvironmentID: "a", Health: HealthHealthy, HealthStatus: "Healthy", CreatedAt: t0}
	tr := New(loaded(Config{}), map[string]State{"a": {ID: "a", Source: SourceArgoCD, Phase: PhaseReady, App: &held}})
	same := held
	same.CreatedAt = t0.Add(300 * time.Millisecond).In(time.FixedZone("x", 3600)) // the tracker keeps seconds, in UTC
	same.History = []Deployment{{ID: 1}}                                          // never kept
	require.True(t, tr.Holds("a", same))
	other := held
	other.Health, other.HealthStatus = HealthDegraded, "Degraded"
	require.False(t, tr.Holds("a", other))
	require.False(t, tr.Holds("b", held), "unknown environment")
}

// TestPollSkipsWhatItHolds: a poll's answer yields no observation for a settled
// environment whose evidence the tracker holds (stepping it would change nothing),
// and one for a changed, an unsettled or a history-carrying one.
func TestPollSkipsWhatItHolds(t *testing.T) {
	ev := func(name, health string) Evidence {
		return Evidence{AppName: name, EnvironmentID: name, Health: healthOf[health], HealthStatus: health, CreatedAt: t0}
	}
	ready, prov, changed, hist := ev("ready", "Healthy"), ev("prov", "Progressing"), ev("changed", "Healthy"), ev("hist", "Healthy")
	tr := New(loaded(Config{}), map[string]State{
		"ready":   {ID: "ready", Source: SourceArgoCD, Phase: PhaseReady, App: &ready},
		"prov":    {ID: "prov", Source: SourceArgoCD, Phase: PhaseProvisioning, App: &prov},
		"changed": {ID: "changed", Source: SourceArgoCD, Phase: PhaseReady, App: &changed},
		"hist":    {ID: "hist", Source: SourceArgoCD, Phase: PhaseReady, App: &hist},
	})
	withHistory := hist
	withHistory.History = []Deployment{{ID: 1}}
	obs, inconclusive := tr.PollObservations([]Evidence{ev("changed", "Degraded"), withHistory, prov, ready}, t0.Add(time.Minute))
	require.False(t, inconclusive)
	var got []string
	for _, o := range obs {
		got = append(got, o.EnvironmentID)
	}
	require.ElementsMatch(t, []string{"changed", "hist", "prov"}, got)
}
