package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestSIGKILLDuringPushes: 8 concurrent pushers, each event acknowledged only once it is
// durable; envtrack is killed with SIGKILL five times at random moments (mid-commit,
// mid-delivery of a sink's batch) and restarted. No acknowledged event is lost, none is
// stored twice, and in the end InfluxDB and the fake Grafana hold every event exactly
// once although the sinks' cursors are saved lazily.
func TestSIGKILLDuringPushes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	dir := t.TempDir()
	clockFile := filepath.Join(dir, "clock")
	now := time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(clockFile, []byte(now.Format(time.RFC3339Nano)), 0o600))
	influxDB := testinfra.StartInfluxDB(t)
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-secret-token"))

	cfgFile := filepath.Join(dir, "envtrack.yml")
	stateDir := filepath.Join(dir, "data")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`state_dir: %s
api: {write_tokens: [ci]}
delivery: {batch_size: 40}
%sgrafana: {url: %s, token: grafana-secret-token, timeout: 5s}
`, stateDir, influxConfig(influxDB), graf.URL())), 0o600))

	// Each process listens on a port of its own choosing and writes it to addrFile: a
	// port reused across restarts may be taken by another test's server in between.
	var (
		cmd      *exec.Cmd
		stderr   strings.Builder
		addr     atomic.Pointer[string]
		addrFile = filepath.Join(dir, "addr")
	)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	startChild := func() {
		cmd = exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
		_ = os.Remove(addrFile)
		cmd.Env = append(os.Environ(), killHelperEnv+"="+cfgFile, killClockEnv+"="+clockFile, killAddrEnv+"="+addrFile)
		stderr.Reset()
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
		defer cancel()
		for {
			b, err := os.ReadFile(addrFile)
			if err == nil {
				a := string(b)
				addr.Store(&a)
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("child wrote no address; stderr:\n%s", stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		for {
			resp, err := hc.Get("http://" + *addr.Load() + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("child not up; stderr:\n%s", stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
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

	// The pushers: one new environment per push; an acknowledgement (202) is a promise.
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	ackedN := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("push-%d-%05d", w, n)
				body := fmt.Sprintf(`{"environment_id":%q,"event":"created","timestamp":%q}`, id,
					now.Add(-time.Duration(w*100000+n)*time.Second).Format(time.RFC3339))
				req, _ := http.NewRequest(http.MethodPost, "http://"+*addr.Load()+"/api/events", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer ci")
				resp, err := hc.Do(req)
				if err != nil {
					time.Sleep(5 * time.Millisecond) // killed: the next push waits for the restart
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
		defer cancel()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s; child stderr:\n%s", what, stderr.String())
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	for k := range 5 {
		base, gbase := ackedN(), graf.Requests()
		target, gtarget := base+50+rng.IntN(250), gbase+2+rng.IntN(30)
		waitFor("pushes acknowledged", func() bool { return ackedN() >= target })
		if k%2 == 1 {
			// While the Grafana sink is in the middle of a batch.
			waitFor("a Grafana delivery", func() bool { return graf.Requests() >= gtarget })
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		kill()
		startChild()
	}
	close(stop)
	wg.Wait()
	kill()

	s, err := store.Open(filepath.Join(stateDir, StoreFile), store.Options{LockTimeout: time.Minute})
	require.NoError(t, err)
	journal, err := s.Events(0, 0)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	stored := map[string]int{}
	for _, e := range journal {
		require.Equal(t, event.Created, e.Name)
		stored[e.EnvironmentID]++
	}
	mu.Lock()
	t.Logf("%d pushes acknowledged, %d events stored across 5 kills", len(acked), len(journal))
	require.Greater(t, len(acked), 100)
	for id := range acked {
		require.Equal(t, 1, stored[id], "acknowledged %s", id)
	}
	mu.Unlock()
	for id, n := range stored {
		require.Equal(t, 1, n, "%s stored %d times", id, n)
	}

	// The last process delivers what is left; each sink holds each event once.
	startChild()
	waitFor("delivery incomplete", func() bool {
		return influxDB.Count(t, "environment_lifecycle") >= len(journal) && len(graf.Annotations()) >= len(journal)
	})
	kill()
	checkInflux(t, influxDB, journal)
	checkGrafanaOnce(t, graf, journal)
}
