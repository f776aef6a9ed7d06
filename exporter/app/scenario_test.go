package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"

	"github.com/blueberry-idp/envtrack/internal/testclock"
)

// clock is the scenario's time, shared by envtrack (Options.Now) and the URL server.
type clock = testclock.Clock

// urlServer answers /env/<id> with 200 while the story says the URL is up, else 503.
// The scenario is read at request time: it needs the server's address to exist.
func urlServer(t testing.TB, sc func() *scenario.Scenario, now func() time.Time) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := sc().Story(strings.TrimPrefix(r.URL.Path, "/env/"))
		if !ok || !st.URLUp(now()) {
			http.Error(w, "upstream not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// harness is an in-process envtrack driven step by step over a scenario.
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
	watch   bool          // argocd.mode: watch, driven by StartWatch and WatchTick (watch_test.go)
	request time.Duration // argocd.request_timeout; default 2s
}

type harnessOpts struct {
	perKind, static int
	extraConfig     string
	timeout         time.Duration // readiness.provisioning_timeout; default scenario.Timeout
	watch           bool          // argocd.mode: watch instead of poll
	requestTimeout  time.Duration // argocd.request_timeout; default 2s
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{}, dir: t.TempDir(), timeout: o.timeout, watch: o.watch, request: o.requestTimeout}
	if h.timeout == 0 {
		h.timeout = scenario.Timeout
	}
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	h.clock.Set(start)
	h.argo = fakeargocd.NewServer(t, fakeargocd.WithToken("argo-secret-token"))
	var scp atomic.Pointer[scenario.Scenario] // the handler runs on the server's goroutines
	us := urlServer(t, scp.Load, h.clock.Now)
	h.sc = scenario.New(start, o.perKind, o.static, us.URL)
	scp.Store(h.sc)
	h.cfg = filepath.Join(h.dir, "envtrack.yml")
	h.writeConfig(o.extraConfig)
	return h
}

func (h *harness) writeConfig(extra string) {
	var static strings.Builder
	for _, s := range h.sc.Static() {
		fmt.Fprintf(&static, "  - {id: %s, url: %q, type: %s}\n", s.ID, s.URL, s.Type)
	}
	envs := "environments: []\n"
	if static.Len() > 0 {
		envs = "environments:\n" + static.String()
	}
	request := h.request
	if request == 0 {
		request = 2 * time.Second
	}
	cfg := fmt.Sprintf(`listen_address: "127.0.0.1:0"
state_dir: %s
argocd:
  server: %s
  token: argo-secret-token
  selector: "blueberry.io/managed=true"
  poll_interval: 15s
  request_timeout: %s
  mode: %s
readiness:
  provisioning_timeout: %s
  url: {interval: 15s, timeout: 2s}
%s%s`, filepath.Join(h.dir, "data"), h.argo.URL(), request, h.mode(), h.timeout, envs, extra)
	require.NoError(h.t, os.WriteFile(h.cfg, []byte(cfg), 0o600))
}

// start creates the app (manual sources, scenario clock) and runs it until cleanup.
func (h *harness) start() {
	h.t.Helper()
	a, err := New(Options{Sinks: testSinks, ConfigFile: h.cfg, Now: h.clock.Now, ListenAddress: "127.0.0.1:0", ManualSources: true, Logger: h.logger})
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	require.NoError(h.t, a.Listen())
	go func() { done <- a.Run(ctx) }()
	if h.watch {
		a.StartWatch(ctx)
	}
	h.app = a
	h.t.Cleanup(func() {
		cancel()
		require.NoError(h.t, <-done)
	})
}

// step moves the world and the clock to t, then polls Argo CD and probes the URLs once.
func (h *harness) step(t time.Time) {
	h.t.Helper()
	h.clock.Set(t)
	h.argo.SetApps(h.sc.Apps(t))
	if h.watch {
		h.watchTick()
	} else {
		require.NoError(h.t, h.app.PollOnce(context.Background()))
	}
	require.NoError(h.t, h.app.ProbeOnce(context.Background()))
}

func (h *harness) journal() []event.Event {
	h.t.Helper()
	evs, err := h.app.store.Events(0, 0)
	require.NoError(h.t, err)
	return evs
}

// checkJournal compares the journal with the scenario's expectations: per environment,
// exactly the expected events, in order, with their times to the second.
func checkJournal(t testing.TB, sc *scenario.Scenario, evs []event.Event, exactObserved bool) {
	t.Helper()
	got := map[string][]event.Event{}
	seen := map[string]bool{}
	for _, e := range evs {
		require.False(t, seen[e.ID], "duplicate event id %s", e.ID)
		seen[e.ID] = true
		got[e.EnvironmentID] = append(got[e.EnvironmentID], e)
	}
	want := sc.Expected()
	total := 0
	for id, ws := range want {
		total += len(ws)
		gs := got[id]
		require.Len(t, gs, len(ws), "%s (%s): got %s", id, kindOf(sc, id), describe(gs))
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, w.Event, g.Name, "%s (%s) event %d: got %s", id, kindOf(sc, id), i, describe(gs))
			if !w.Observed || exactObserved {
				require.Equal(t, w.Time.Format(time.RFC3339), g.Time.Format(time.RFC3339), "%s (%s) %s time", id, kindOf(sc, id), w.Event)
			}
			for k, v := range w.Meta {
				require.Equal(t, v, g.Metadata[k], "%s (%s) %s metadata %s", id, kindOf(sc, id), w.Event, k)
			}
		}
	}
	require.Len(t, evs, total, "events for environments the scenario does not have")
}

func kindOf(sc *scenario.Scenario, id string) string {
	s, _ := sc.Story(id)
	return s.Kind
}

func describe(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "[%s %s %v] ", e.Name, e.Time.Format(time.RFC3339), e.Meta("reason"))
	}
	return b.String()
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
	checkJournal(t, h.sc, h.journal(), true)

	// Seq is strictly increasing and every event has an id and a recorded time.
	evs := h.journal()
	for i, e := range evs {
		require.Equal(t, uint64(i+1), e.Seq)
		require.NotEmpty(t, e.ID)
		require.False(t, e.RecordedAt.IsZero())
	}
}

// gathered returns the sum of a metric's series in the app's and its sources' registries.
func (h *harness) gathered(name string) float64 {
	h.t.Helper()
	var sum float64
	for _, g := range []interface {
		Gather() ([]*dto.MetricFamily, error)
	}{h.app.reg, h.app.currentSources().reg} {
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
