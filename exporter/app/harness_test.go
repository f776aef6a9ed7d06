package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// clock is the scenario's time, shared by envtrack (Options.clock: its sources' loops
// run when a test moves it) and the URL server.
type clock = testclock.Clock

// harness is an in-process envtrack stepped over a scenario: its sources (Argo CD polled
// every 15 s, the URLs probed every 15 s) run on the scenario's clock, so moving the
// clock runs them.
type harness struct {
	t       testing.TB
	clock   *clock
	argo    *fakeargocd.Server
	sc      *scenario.Scenario
	app     *App
	dir     string
	cfg     string
	logger  log.Logger // nil: no logs
	timeout time.Duration
	request time.Duration // argocd.request_timeout; default 2s
}

type harnessOpts struct {
	perKind, static int
	extraConfig     string
	timeout         time.Duration // readiness.provisioning_timeout; default scenario.Timeout
	requestTimeout  time.Duration // argocd.request_timeout; default 2s
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), timeout: o.timeout, request: o.requestTimeout}
	h.clock, h.argo, h.sc = scenario.Play(t, o.perKind, o.static)
	h.cfg = filepath.Join(h.dir, "envtrack.yml")
	h.writeConfig(o.extraConfig)
	return h
}

func (h *harness) writeConfig(extra string) {
	cfg := h.sc.Config(filepath.Join(h.dir, "data"), h.argo.URL(), "poll", h.request, h.timeout, extra)
	require.NoError(h.t, os.WriteFile(h.cfg, []byte(cfg), 0o600))
}

// start creates the app on the scenario's clock and runs it until cleanup.
func (h *harness) start() { h.startStoppable() }

// startStoppable starts the app like start, and returns a stop function (also run at
// cleanup) so that a test can restart envtrack on the same state. It returns once the
// sources wait on the clock: their first look comes with the next move of the clock.
func (h *harness) startStoppable() (stop func()) {
	h.t.Helper()
	a, err := New(Options{Sinks: testSinks, ConfigFile: h.cfg, ListenAddress: "127.0.0.1:0", Logger: h.logger, clock: h.clock})
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	require.NoError(h.t, a.Listen())
	go func() { done <- a.Run(ctx) }()
	h.clock.Await("argocd", "probe")
	h.app = a
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(h.t, <-done)
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// step moves the world and then the clock to t: the sources due by then (each poll and
// probe round of the scenario's grid) look at it.
func (h *harness) step(t time.Time) {
	h.t.Helper()
	h.argo.SetApps(h.sc.Apps(t))
	h.clock.Set(t)
}

func (h *harness) journal() []event.Event {
	h.t.Helper()
	evs, err := h.app.store.Events(0, 0)
	require.NoError(h.t, err)
	return evs
}

// gathered returns the sum of a metric's series in the app's and its sources' registries.
func (h *harness) gathered(name string) float64 {
	h.t.Helper()
	var sum float64
	for _, g := range []interface {
		Gather() ([]*dto.MetricFamily, error)
	}{h.app.reg, h.app.current().reg} {
		mfs, err := g.Gather()
		require.NoError(h.t, err)
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			}
		}
	}
	return sum
}

// TestFirstSightInBatches: the first poll of more Applications than tracker.MaxBatch tracks them
// in several commits (one transaction for 10,000 Applications and their histories held
// ~270 MiB), and every environment is tracked.
func TestFirstSightInBatches(t *testing.T) {
	// A list of 2,500 under -race on a loaded machine takes seconds: not a timeout test.
	h := newHarness(t, harnessOpts{requestTimeout: time.Minute})
	now := h.clock.Now()
	const n = 2*tracker.MaxBatch + 500
	apps := make([]fakeargocd.Application, n)
	for i := range apps {
		a := fakeargocd.NewApp(fmt.Sprintf("pr-%05d", i), now.Add(-time.Hour), fakeargocd.WithType("preview"))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", now.Add(-time.Hour+5*time.Second))
		fakeargocd.SyncSucceeded(&a, "1a2b3c4d5e6f", now.Add(-58*time.Minute))
		fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, now.Add(-57*time.Minute))
		apps[i] = a
	}
	h.argo.SetApps(apps)
	h.start()
	h.clock.Set(now.Add(15 * time.Second)) // the first poll

	ready := map[string]bool{}
	evs := h.journal()
	for _, e := range evs {
		if e.Name == event.Ready {
			ready[e.EnvironmentID] = true
		}
	}
	require.Len(t, ready, n, "every environment tracked")
	mfs, err := h.app.reg.Gather()
	require.NoError(t, err)
	var commits, appended uint64
	for _, mf := range mfs {
		if mf.GetName() == metric.StoreCommitEvents.Name {
			for _, m := range mf.GetMetric() {
				commits += m.GetHistogram().GetSampleCount()
				appended += uint64(m.GetHistogram().GetSampleSum())
			}
		}
	}
	require.Equal(t, uint64(len(evs)), appended)
	require.GreaterOrEqual(t, commits, uint64(3), "%d observations in batches of %d", n, tracker.MaxBatch)
}
