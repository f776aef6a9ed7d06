package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/internal/webhooktest"
	"github.com/blueberry-idp/envtrack/model/event"
)

const (
	killHelperEnv = "ENVTRACK_KILL_HELPER_CONFIG"
	killClockEnv  = "ENVTRACK_KILL_HELPER_CLOCK"
	killAddrEnv   = "ENVTRACK_KILL_HELPER_ADDR" // file the helper writes its HTTP address to
)

// TestKillHelper is not a test: it is the envtrack process that TestSIGKILLDuringScenario
// starts (this test binary, re-executed) and kills. Its clock is the scenario's, read
// from a file the test writes, so a restarted process lives in the same world.
func TestKillHelper(t *testing.T) {
	cfg := os.Getenv(killHelperEnv)
	if cfg == "" {
		t.Skip("helper process of TestSIGKILLDuringScenario")
	}
	clockFile := os.Getenv(killClockEnv)
	var now func() time.Time // the wall clock without a clock file (TestFailover)
	if clockFile != "" {
		now = func() time.Time {
			b, err := os.ReadFile(clockFile)
			if err != nil {
				panic(err)
			}
			ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
			if err != nil {
				panic(err)
			}
			return ts
		}
	}
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: now, ListenAddress: "127.0.0.1:0"})
	if err == nil {
		err = a.Listen()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	if f := os.Getenv(killAddrEnv); f != "" {
		if err := os.WriteFile(f+".tmp", []byte(a.Addr()), 0o600); err != nil || os.Rename(f+".tmp", f) != nil {
			fmt.Fprintln(os.Stderr, "helper: cannot write its address")
			os.Exit(3)
		}
	}
	_ = a.Run(context.Background()) // until SIGKILL
}

// probeLog records, per environment, the last scenario step at which its URL was probed.
type probeLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *probeLog) saw(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[id] = at
}

// forget drops what was probed: a probe by a process killed before it committed what it
// saw is no probe of the step (the next process must probe again).
func (p *probeLog) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.last)
}

func (p *probeLog) probedAt(id string, at time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.last[id].Before(at)
}

// TestSIGKILLDuringScenario kills envtrack with SIGKILL at random points of the scenario,
// at least five times, restarting it each time, while it tracks and delivers to a real
// InfluxDB and the fake Grafana: the journal ends with every expected event exactly once,
// and so do InfluxDB and Grafana.
func TestSIGKILLDuringScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the whole scenario in a child process")
	}
	killScenario(t, "poll")
}

// TestSIGKILLWhileStreaming is TestSIGKILLDuringScenario in watch mode: the kills fall
// while the stream delivers and envtrack tracks its events.
func TestSIGKILLWhileStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the whole scenario in a child process")
	}
	killScenario(t, "watch")
}

func killScenario(t *testing.T, mode string) {
	dir := t.TempDir()
	clk := &clock{}
	clockFile := filepath.Join(dir, "clock")
	setClock := func(at time.Time) {
		clk.Set(at)
		tmp := clockFile + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(at.Format(time.RFC3339Nano)), 0o600))
		require.NoError(t, os.Rename(tmp, clockFile))
	}
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	setClock(start)

	argo := fakeargocd.NewServer(t, fakeargocd.WithToken("argo-secret-token"))
	influxDB := testinfra.StartInfluxDB(t)
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-secret-token"))
	probes := &probeLog{last: map[string]time.Time{}}
	// A webhook endpoint that answers 500 for a while, and whose deliveries the kills
	// interrupt too.
	hook := webhooktest.New(t, webhookSecret)
	hook.SetAnswer(func(n int, _ *http.Request, _ http.ResponseWriter) int {
		if n >= 10 && n < 40 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	var sc *scenario.Scenario
	scReady := make(chan struct{})
	us := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-scReady
		id := strings.TrimPrefix(r.URL.Path, "/env/")
		now := clk.Now()
		probes.saw(id, now)
		if st, ok := sc.Story(id); !ok || !st.URLUp(now) {
			http.Error(w, "upstream not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer us.Close()
	// Probes get a second: a loaded CI machine must not turn a slow loopback answer into
	// a flap (the probe really failed, but the scenario did not say so).
	perKind, probeEvery := 4, "1s"
	if mode == "watch" {
		// Half the stories (the poll variant covers the rest): the point here is the stream.
		perKind = 2
	}
	sc = scenario.New(start, perKind, 2, us.URL)
	close(scReady)

	var static strings.Builder
	for _, s := range sc.Static() {
		fmt.Fprintf(&static, "  - {id: %s, url: %q, type: %s}\n", s.ID, s.URL, s.Type)
	}
	cfgFile := filepath.Join(dir, "envtrack.yml")
	stateDir := filepath.Join(dir, "data")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`listen_address: "127.0.0.1:0"
state_dir: %s
argocd:
  server: %s
  token: argo-secret-token
  poll_interval: 20ms
  request_timeout: 5s
  mode: %s
readiness:
  provisioning_timeout: %s
  url: {interval: %s, timeout: %s}
environments:
%s%sgrafana: {url: %s, token: grafana-secret-token, timeout: 5s}
webhooks: [{name: ci, url: %q, secret: %s}]
delivery: {backoff: {initial: 10ms, max: 200ms}}
`, stateDir, argo.URL(), mode, scenario.Timeout, probeEvery, probeEvery, static.String(), influxConfig(influxDB), graf.URL(),
		hook.URL(), webhookSecret)), 0o600))

	addrFile := filepath.Join(dir, "addr")
	var cmd *exec.Cmd
	var stderr strings.Builder
	startChild := func() {
		cmd = exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
		_ = os.Remove(addrFile)
		cmd.Env = append(os.Environ(), killHelperEnv+"="+cfgFile, killClockEnv+"="+clockFile, killAddrEnv+"="+addrFile)
		stderr.Reset()
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
	}
	kill := func() {
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	startChild()
	defer func() {
		if cmd.ProcessState == nil {
			kill()
		}
	}()

	// Each step waits until the child has finished two polls that began after the world
	// changed and, where a URL changes at this step, has probed it.
	waitStep := func(at time.Time) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard, not a speed check
		defer cancel()
		if mode == "watch" {
			waitStreamed(ctx, t, argo, addrFile, &stderr)
		} else {
			base := argo.Requests()
			require.NoError(t, argo.WaitRequests(ctx, base+3), "child stderr:\n%s", stderr.String())
		}
		for _, s := range sc.Stories {
			if s.URL == "" || s.URLUp(at) == s.URLUp(at.Add(-scenario.Step)) {
				continue
			}
			for !probes.probedAt(s.ID, at) {
				select {
				case <-ctx.Done():
					t.Fatalf("%s not probed at %s; child stderr:\n%s", s.ID, at, stderr.String())
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var steps []time.Time
	for at := sc.Start; !at.After(sc.End()); at = at.Add(scenario.Step) {
		steps = append(steps, at)
	}
	killAt := map[int]bool{}
	for len(killAt) < 8 {
		killAt[1+rng.IntN(len(steps)-1)] = true
	}
	kills := 0
	for i, at := range steps {
		setClock(at)
		argo.SetApps(sc.Apps(at))
		if killAt[i] {
			// A random point: somewhere in the middle of polling (or of the stream's
			// events), probing or committing.
			if mode != "watch" {
				base := argo.Requests()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				require.NoError(t, argo.WaitRequests(ctx, base+1+rng.IntN(2)))
				cancel()
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			kill()
			kills++
			probes.forget()
			startChild()
		}
		waitStep(at)
	}
	require.GreaterOrEqual(t, kills, 5)
	// The last process delivers what is left, then stops.
	evs := func() []event.Event {
		s, err := store.Open(filepath.Join(stateDir, StoreFile), store.Options{LockTimeout: time.Minute})
		require.NoError(t, err)
		defer s.Close()
		evs, err := s.Events(0, 0)
		require.NoError(t, err)
		return evs
	}
	kill()
	journal := evs()
	startChild()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	lifecycle := 0
	for _, e := range journal {
		if e.IsLifecycle() {
			lifecycle++
		}
	}
	var live []string // what the webhook is to receive: history (backfill) and gaps are not sent
	for _, e := range journal {
		if !e.Backfill() && !e.IsGap() {
			live = append(live, e.ID)
		}
	}
	for influxDB.Count(t, "environment_lifecycle") < lifecycle || len(graf.Annotations()) < len(journal) || !hookHasAll(hook, live) {
		select {
		case <-ctx.Done():
			t.Fatalf("delivery incomplete: influx %d/%d, grafana %d/%d; child stderr:\n%s",
				influxDB.Count(t, "environment_lifecycle"), lifecycle, len(graf.Annotations()), len(journal), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	kill()
	checkInflux(t, influxDB, journal)
	checkGrafanaOnce(t, graf, journal)
	checkWebhook(t, hook, live)

	scenario.CheckJournal(t, sc, journal, false)
}

// hookHasAll says whether the receiver accepted every id of want.
func hookHasAll(hook *webhooktest.Receiver, want []string) bool {
	got := map[string]bool{}
	for _, id := range hook.Accepted() {
		got[id] = true
	}
	for _, id := range want {
		if !got[id] {
			return false
		}
	}
	return true
}

// checkWebhook: every request signed, of an event the endpoint was to receive; the
// first acceptance of each event in journal order (a kill may send an event again,
// under the same webhook-id: at least once, never out of order, never a stranger).
func checkWebhook(t *testing.T, hook *webhooktest.Receiver, want []string) {
	t.Helper()
	hook.MustAllVerify()
	pos := map[string]int{}
	for i, id := range want {
		pos[id] = i
	}
	for _, r := range hook.Requests() {
		_, ok := pos[r.ID()]
		require.True(t, ok, "webhook-id %s is not a live event of the journal", r.ID())
	}
	var first []string
	seen := map[string]bool{}
	for _, id := range hook.Accepted() {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	require.Equal(t, want, first, "each event accepted, first in journal order")
	t.Logf("webhook: %d events, %d requests, %d accepted (%d again after a kill)", len(want), len(hook.Requests()),
		len(hook.Accepted()), len(hook.Accepted())-len(first))
}

// waitStreamed waits until the child (watch mode) has handled every event the fake wrote
// on its stream for the world as it is now, then for one evaluation of its view after
// that (which takes the lock the events take, so it comes after them).
func waitStreamed(ctx context.Context, t *testing.T, argo *fakeargocd.Server, addrFile string, stderr *strings.Builder) {
	t.Helper()
	metric := func(name string) (float64, bool) {
		addr, err := os.ReadFile(addrFile)
		if err != nil {
			return 0, false
		}
		resp, err := http.Get("http://" + string(addr) + "/metrics")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return f, err == nil
			}
		}
		return 0, false
	}
	poll := func(what string, cond func() bool) {
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s; child stderr:\n%s", what, stderr.String())
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	poll("the stream to be delivered", func() bool {
		chunks := argo.OpenStreamChunks()
		if len(chunks) != 1 || !argo.StreamsCaughtUp() {
			return false
		}
		n, ok := metric("envtrack_argocd_stream_session_events")
		return ok && int64(n) == chunks[0] && argo.StreamsCaughtUp()
	})
	base, ok := metric("envtrack_argocd_watch_evaluations_total")
	require.True(t, ok)
	poll("an evaluation", func() bool {
		n, ok := metric("envtrack_argocd_watch_evaluations_total")
		return ok && n >= base+1
	})
}
