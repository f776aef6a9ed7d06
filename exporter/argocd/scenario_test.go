package argocd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/probe"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"

	"github.com/blueberry-idp/envtrack/internal/testclock"
)

// harness is the source driven step by step over a scenario, tracking into a real
// tracker and journal as the daemon wires them (tracking), with the URL checks a probe
// round makes (probeRound).
type harness struct {
	t       testing.TB
	clock   *testclock.Clock // the scenario's time: the source's, the journal's and the URL server's
	argo    *fakeargocd.Server
	sc      *scenario.Scenario
	dir     string
	cfg     string
	logger  log.Logger // nil: no logs
	timeout time.Duration
	watch   bool          // argocd.mode: watch, its evaluations driven by watchTick
	request time.Duration // argocd.request_timeout; default 2s
	running bool          // the source runs its own loop (Run) on the real clock
	// playedTimeouts: Argo CD requests time out on the scenario's clock (a held answer is
	// given up when the test moves the clock past request_timeout), not the wall clock's.
	playedTimeouts bool
	// readHistories: the watch never asks the stream for status.history (as a resync's
	// session does not), so every history it needs is read on its own.
	readHistories bool

	// What start builds from the configuration file, and start again after stop.
	conf   *config.Config
	src    *Source
	side   *tracking
	store  *store.Store
	prober *probe.Prober
	w      *watcher // watch mode: the running watch source
	reg    *prometheus.Registry
}

// tracking is the tracking side as the daemon wires it (exporter/app): the tracker,
// committing to the journal (tracker.MaxBatch observations at a time).
type tracking struct {
	*tracker.Tracker
	store  *store.Store
	polled atomic.Bool
}

func (t *tracking) Track(_ context.Context, obs []tracker.Observation) error {
	_, err := t.Process(obs, t.store.Commit)
	return err
}

func (t *tracking) Polled() { t.polled.Store(true) }

func (t *tracking) Blind(_ context.Context, g event.Gap) error {
	_, err := t.store.Gap(g)
	return err
}

type harnessOpts struct {
	perKind, static int
	extraConfig     string
	timeout         time.Duration // readiness.provisioning_timeout; default scenario.Timeout
	watch           bool          // argocd.mode: watch instead of poll
	requestTimeout  time.Duration // argocd.request_timeout; default 2s
	readHistories   bool          // harness.readHistories
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), timeout: o.timeout, watch: o.watch, request: o.requestTimeout, readHistories: o.readHistories}
	h.clock, h.argo, h.sc = scenario.Play(t, o.perKind, o.static)
	h.cfg = filepath.Join(h.dir, "envtrack.yml")
	h.writeConfig(o.extraConfig)
	return h
}

func (h *harness) writeConfig(extra string) {
	cfg := h.sc.Config(filepath.Join(h.dir, "data"), h.argo.URL(), h.mode(), h.request, h.timeout, extra)
	require.NoError(h.t, os.WriteFile(h.cfg, []byte(cfg), 0o600))
}

// start builds the source and its tracking side from the configuration file (scenario
// clock), as the daemon does, and runs them until cleanup: in watch mode the watch
// source, its evaluations left to watchTick; in poll mode nothing runs, poll polls.
// With running set, the source runs its own loop (Run) instead, on the real clock.
func (h *harness) start() { h.startStoppable() }

// startStoppable is start, and returns a stop function (also run at cleanup) so that a
// test can restart envtrack on the same state.
func (h *harness) startStoppable() (stop func()) {
	h.t.Helper()
	logger := h.logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	now := time.Now
	if h.clock != nil {
		now = h.clock.Now
	}
	cfg, err := config.Load(h.cfg)
	require.NoError(h.t, err)
	h.conf = cfg
	require.NoError(h.t, os.MkdirAll(cfg.StateDir, 0o750))
	h.store, err = store.Open(filepath.Join(cfg.StateDir, "envtrack.db"), store.Options{Logger: logger, Now: now})
	require.NoError(h.t, err)
	states, err := h.store.Environments()
	require.NoError(h.t, err)
	h.side = &tracking{store: h.store, Tracker: tracker.New(h.trackerConfig(), states)}
	h.reg = prometheus.NewRegistry()
	h.reg.MustRegister(store.NewCollector(h.store))
	opts := Options{Now: now}
	if h.playedTimeouts {
		opts.Clock = h.clock // requests time out as the scenario's clock moves
	}
	h.src, err = New(*cfg.ArgoCD, opts, logger, h.reg)
	require.NoError(h.t, err)
	h.prober, err = probe.New(cfg.Readiness.URL, probe.Options{}, logger, nil, now)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.w = nil
	switch {
	case h.running:
		go func(src *Source, side *tracking) { defer close(done); src.Run(ctx, side) }(h.src, h.side)
	case h.watch:
		h.w = h.src.newWatcher(ctx, h.side)
		if h.readHistories {
			h.w.historyShare = 0
		}
		go func(w *watcher) { defer close(done); h.src.watchLoop(ctx, w, true) }(h.w)
	default:
		close(done)
	}
	var once sync.Once
	st := h.store
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			require.NoError(h.t, st.Close())
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// trackerConfig is the tracker's configuration, as the daemon builds it.
func (h *harness) trackerConfig() tracker.Config {
	return tracker.Config{
		ProvisioningTimeout:       time.Duration(h.conf.Readiness.ProvisioningTimeout),
		URLFailuresBeforeDegraded: h.conf.Readiness.URL.FailuresBeforeDegraded,
		TrackingSince:             h.store.CreatedAt(),
	}
}

// poll polls Argo CD once (what the poll loop does every poll_interval).
func (h *harness) poll() error { return h.src.poll(context.Background(), h.side) }

// probeRound probes every environment's URL once and tracks the results with the
// tracker's ticks, as a round of the daemon's URL checks does (probe.Prober.Run).
func (h *harness) probeRound() {
	h.t.Helper()
	at := h.clock.Now()
	type target struct {
		probe.Target
		name, typ string
	}
	byID := map[string]target{}
	for id, u := range h.side.URLs() {
		byID[id] = target{Target: probe.Target{EnvironmentID: id, URL: u}}
	}
	for _, e := range h.conf.Environments {
		byID[e.ID] = target{Target: probe.Target{EnvironmentID: e.ID, URL: e.URL}, name: e.Name, typ: e.Type}
	}
	var targets []target
	for _, tg := range byID {
		targets = append(targets, tg)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].EnvironmentID < targets[j].EnvironmentID })
	plain := make([]probe.Target, len(targets))
	for i, tg := range targets {
		plain[i] = tg.Target
	}
	var obs []tracker.Observation
	for i, r := range h.prober.ProbeAll(context.Background(), plain) {
		obs = append(obs, tracker.Observation{EnvironmentID: targets[i].EnvironmentID, At: r.At, Probe: &r,
			Name: targets[i].name, Type: targets[i].typ})
	}
	require.NoError(h.t, h.side.Track(context.Background(), append(obs, h.side.Ticks(at)...)))
}

// step moves the world and the clock to t, then polls Argo CD and probes the URLs once.
func (h *harness) step(t time.Time) {
	h.t.Helper()
	h.clock.Set(t)
	h.argo.SetApps(h.sc.Apps(t))
	if h.watch {
		h.watchTick()
	} else {
		require.NoError(h.t, h.poll())
	}
	h.probeRound()
}

// journal is the journal's events, without the windows in which Argo CD could not be
// seen (gaps).
func (h *harness) journal() []event.Event {
	h.t.Helper()
	evs, err := h.store.Events(0, 0)
	require.NoError(h.t, err)
	return slices.DeleteFunc(evs, event.Event.IsGap)
}

// gaps is every window recorded in which Argo CD could not be seen.
func (h *harness) gaps() []event.Gap {
	h.t.Helper()
	gaps, err := h.store.Gaps(time.Time{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(h.t, err)
	return gaps
}

// TestScenario plays 60 Argo CD environments (every path of DESIGN §2, four of each) and
// two URL-only ones, and checks the journal event for event.
func TestScenario(t *testing.T) {
	h := newHarness(t, harnessOpts{perKind: 4, static: 2})
	h.start()
	require.GreaterOrEqual(t, len(h.sc.Stories), 50)
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.step(at)
	}
	scenario.CheckJournal(t, h.sc, h.journal(), true)

	// Seq is strictly increasing and every event has an id and a recorded time.
	evs := h.journal()
	for i, e := range evs {
		require.Equal(t, uint64(i+1), e.Seq)
		require.NotEmpty(t, e.ID)
		require.False(t, e.RecordedAt.IsZero())
	}
}

// gathered returns the sum of a metric's series in the source's registry; with a label
// and its value, of the series that have it (and there must be one).
func (h *harness) gathered(name string, labelValue ...string) float64 {
	h.t.Helper()
	var sum float64
	found := false
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(labelValue) == 2 && !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool {
				return lp.GetName() == labelValue[0] && lp.GetValue() == labelValue[1]
			}) {
				continue
			}
			found = true
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	if len(labelValue) == 2 && !found {
		h.t.Fatalf("no series %s{%s=%q}", name, labelValue[0], labelValue[1])
	}
	return sum
}
