package demo

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"

	"github.com/blueberry-idp/envtrack/internal/testclock"
)

// evidence returns every timestamp an Application carries.
func evidence(a fakeargocd.Application) []time.Time {
	ts := []time.Time{a.Metadata.CreationTimestamp.Time}
	if a.Metadata.DeletionTimestamp != nil {
		ts = append(ts, a.Metadata.DeletionTimestamp.Time)
	}
	if h := a.Status.Health.LastTransitionTime; h != nil {
		ts = append(ts, h.Time)
	}
	if op := a.Status.OperationState; op != nil {
		ts = append(ts, op.StartedAt.Time)
		if op.FinishedAt != nil {
			ts = append(ts, op.FinishedAt.Time)
		}
	}
	for _, h := range a.Status.History {
		ts = append(ts, h.DeployedAt.Time)
	}
	if v, ok := a.Metadata.Annotations[fakeargocd.AnnotationRequestedAt]; ok {
		t, err := time.Parse(time.RFC3339, v)
		if err == nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// TestSimStepsNeverShowTheFuture: each step of a story writes no timestamp after its
// own time, and Tick applies a step only once the clock reached it, so Argo CD never
// shows evidence from the future. Steps are in time order and a story ends deleted.
func TestSimStepsNeverShowTheFuture(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC))
	sim := NewSim(SimConfig{Seed: 11, URLBase: "http://sim.invalid"}, clock.Now, fakeargocd.New())
	outcomes := map[string]int{}
	for range 3000 {
		e := sim.plan(clock.Now())
		outcomes[e.outcome]++
		require.NotNil(t, e.steps[0].create, "a story starts with the Application's creation")
		require.True(t, e.steps[len(e.steps)-1].delete, "and ends with its deletion")
		a := *e.steps[0].create
		for i, st := range e.steps {
			if i > 0 {
				require.False(t, st.at.Before(e.steps[i-1].at), "%s: steps in time order", e.id)
			}
			if st.apply != nil {
				st.apply(&a)
			}
			for _, ts := range evidence(a) {
				require.False(t, ts.After(st.at), "%s: step at %s writes %s", e.id, st.at, ts)
			}
		}
		clock.Add(time.Minute)
	}
	for _, o := range []string{OutcomeReady, OutcomeSyncFailed, OutcomeDegraded, OutcomeTimeout, OutcomeURLUnreachable, OutcomeDeleted} {
		require.Greater(t, outcomes[o], 10, "outcome %s", o)
	}
	require.Greater(t, outcomes[OutcomeReady], 3000*85/100)
}

// TestSimPlaysADay: a simulated day on the fake Argo CD. Environments of every type
// arrive, deployments follow ready, the URLs answer as the stories say, Argo CD never
// shows evidence after the clock, and in the end every environment is gone.
func TestSimPlaysADay(t *testing.T) {
	start := time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	argo := fakeargocd.New()
	sim := NewSim(SimConfig{PerHour: 12, Seed: 7, URLBase: "http://sim.invalid"}, clock.Now, argo)
	srv := httptest.NewServer(sim.URLHandler())
	defer srv.Close()

	urlChecked := 0
	for clock.Now().Before(start.Add(24 * time.Hour)) {
		clock.Add(time.Minute)
		sim.Tick()
		now := clock.Now()
		if now.Minute() != 0 || now.Hour()%4 != 0 {
			continue // Apps deep-copies every Application: look now and then
		}
		apps := argo.Apps()
		require.Equal(t, len(apps), sim.Stats().Live)
		for _, a := range apps {
			for _, ts := range evidence(a) {
				require.False(t, ts.After(now), "%s shows %s at %s", a.Metadata.Name, ts, now)
			}
		}
		sim.mu.Lock()
		envs := make(map[string]*simEnv, len(sim.envs))
		for id, e := range sim.envs {
			envs[id] = e
		}
		sim.mu.Unlock()
		for id, e := range envs {
			resp, err := http.Get(srv.URL + "/env/" + id + "/healthz")
			require.NoError(t, err)
			resp.Body.Close()
			switch {
			case len(e.urlUp) == 0:
				require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, id)
			case !now.Before(e.urlUp[0].from) && now.Before(e.urlUp[0].to):
				require.Equal(t, http.StatusOK, resp.StatusCode, id)
				urlChecked++
			}
		}
	}
	st := sim.Stats()
	require.Greater(t, st.Arrivals, 200, "about 12 an hour")
	require.Greater(t, st.Deploys, st.Arrivals/2)
	for _, typ := range []string{"preview", "feature", "staging", "qa"} {
		require.Greater(t, st.ByType[typ], 10, "type %s", typ)
	}
	require.Greater(t, urlChecked, 10)

	// Every story ends: nothing is left in Argo CD.
	sim.nextArrival = clock.Now().Add(1000 * time.Hour)
	clock.Add(96 * time.Hour)
	sim.Tick()
	require.Empty(t, argo.Apps())
	require.Zero(t, sim.Stats().Live)
}

// TestSimArrivalsFollowTheWorkingDay: more environments are requested in the
// afternoon than at night.
func TestSimArrivalsFollowTheWorkingDay(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC))
	sim := NewSim(SimConfig{PerHour: 12, Seed: 5}, clock.Now, fakeargocd.New())
	mean := func(hour int) time.Duration {
		at := time.Date(2025, 3, 4, hour, 0, 0, 0, time.UTC)
		var sum time.Duration
		for range 2000 {
			sum += sim.gap(at)
		}
		return sum / 2000
	}
	night, afternoon := mean(3), mean(15)
	require.Greater(t, night, 4*afternoon)
	require.InDelta(t, float64(time.Hour)/(12*hourWeight[15])+float64(time.Second), float64(afternoon), float64(20*time.Second))
}

// TestSimProvisioningTimesAreLongTailed: the provisioning times of successful
// environments have a p95 well above their median, and stay inside the timeout.
func TestSimProvisioningTimesAreLongTailed(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC))
	sim := NewSim(SimConfig{Seed: 3, Types: []EnvType{DefaultTypes[0]}, Failures: map[string]float64{}}, clock.Now, fakeargocd.New())
	var ds []time.Duration
	for range 2000 {
		e := sim.plan(clock.Now())
		a := *e.steps[0].create
		created := a.Metadata.CreationTimestamp.Time
		var healthy time.Time
		for _, st := range e.steps[1:] {
			if st.apply == nil {
				continue
			}
			st.apply(&a)
			if a.Status.Health.Status == fakeargocd.HealthHealthy && healthy.IsZero() {
				healthy = a.Status.Health.LastTransitionTime.Time
			}
		}
		require.False(t, healthy.IsZero())
		ds = append(ds, healthy.Sub(created))
	}
	slices.Sort(ds)
	p50, p95 := ds[len(ds)/2], ds[len(ds)*95/100]
	require.InDelta(t, float64(2*time.Minute), float64(p50), float64(15*time.Second), "median of the preview type")
	require.Greater(t, p95, 2*p50, "a long tail")
	require.LessOrEqual(t, ds[len(ds)-1], 24*time.Minute, "kept inside the timeout")
}
