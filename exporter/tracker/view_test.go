package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestViewObservations(t *testing.T) {
	ev := func(name string) AppEvidence {
		return AppEvidence{AppName: name, EnvironmentID: name, HealthStatus: "Healthy"}
	}
	ready, prov, gone, term := ev("ready"), ev("prov"), ev("gone"), ev("term")
	tr := New(Config{}, map[string]State{
		"ready": {ID: "ready", Source: SourceArgoCD, Phase: PhaseReady, App: &ready},
		"prov":  {ID: "prov", Source: SourceArgoCD, Phase: PhaseProvisioning, App: &prov},
		"gone":  {ID: "gone", Source: SourceArgoCD, Phase: PhaseReady, App: &gone},
		"term":  {ID: "term", Source: SourceArgoCD, Phase: PhaseTerminating, App: &term, TerminationStartedAt: t0},
		"api":   {ID: "api", Source: SourceAPI, Phase: PhaseProvisioning},
	})
	view := map[string]AppEvidence{"ready": ready, "prov": prov, "term": term, "new": ev("new"),
		// Two Applications claiming one environment: the first by name wins.
		"b-claim": {AppName: "b-claim", EnvironmentID: "shared"}, "a-claim": {AppName: "a-claim", EnvironmentID: "shared"}}
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

	obs, inconclusive := tr.ViewObservations(view, at, func(string) bool { return false })
	require.False(t, inconclusive)
	present, absent := ids(obs)
	// A settled environment whose evidence the tracker holds is left out; time can
	// change the others; a tracked Application missing from the view is absent.
	require.Equal(t, []string{"new/new", "prov/prov", "shared/a-claim", "term/term"}, present)
	require.Equal(t, []string{"gone"}, absent)

	// A changed Application is evaluated even when settled.
	obs, _ = tr.ViewObservations(view, at, func(name string) bool { return name == "ready" })
	present, _ = ids(obs)
	require.Contains(t, present, "ready/ready")

	// An empty view while live environments are tracked is inconclusive: only the
	// terminating one may be confirmed gone.
	obs, inconclusive = tr.ViewObservations(map[string]AppEvidence{}, at, func(string) bool { return false })
	require.True(t, inconclusive)
	present, absent = ids(obs)
	require.Empty(t, present)
	require.Equal(t, []string{"term"}, absent)
}
