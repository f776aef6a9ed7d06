package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store/postgres"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// replica is one envtrack process of TestFailover (this test binary, re-executed as
// TestKillHelper).
type replica struct {
	t        *testing.T
	cfg      string
	addrFile string
	mu       sync.Mutex
	cmd      *exec.Cmd
	stderr   *testinfra.SyncBuffer
	addr     string
}

func (r *replica) start() {
	r.t.Helper()
	_ = os.Remove(r.addrFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+r.cfg, killAddrEnv+"="+r.addrFile)
	stderr := &testinfra.SyncBuffer{}
	cmd.Stderr = stderr
	require.NoError(r.t, cmd.Start())
	eventually(r.t, "the replica's address", func() bool {
		_, err := os.Stat(r.addrFile)
		return err == nil
	})
	b, err := os.ReadFile(r.addrFile)
	require.NoError(r.t, err)
	r.mu.Lock()
	r.cmd, r.stderr, r.addr = cmd, stderr, "http://"+string(b)
	r.mu.Unlock()
}

func (r *replica) url() string { r.mu.Lock(); defer r.mu.Unlock(); return r.addr }

func (r *replica) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NoError(r.t, r.cmd.Process.Signal(sig))
	if sig == syscall.SIGKILL {
		_ = r.cmd.Wait()
		r.addr = "http://127.0.0.1:1" // refused, as a killed replica's clients see
	}
}

var scrapeClient = &http.Client{Timeout: 2 * time.Second}

// leading reports the replica's envtrack_leader and envtrack_leader_epoch (ok false when
// it does not answer: killed or stopped).
func (r *replica) leading() (leader bool, epoch int64, ok bool) {
	resp, err := scrapeClient.Get(r.url() + "/metrics")
	if err != nil {
		return false, 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "envtrack_leader "); found {
			leader = strings.TrimSpace(v) == "1"
		}
		if v, found := strings.CutPrefix(line, "envtrack_leader_epoch "); found {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			epoch = int64(f)
		}
	}
	return leader, epoch, true
}

// TestFailover: three replicas share a journal in PostgreSQL and deliver to a real
// InfluxDB and the fake Grafana, while CI-like clients push to all three (a push that
// fails is retried on another replica with its Idempotency-Key). The leader is
// SIGKILLed five times (and restarted), and one leader is SIGSTOPped past its lease,
// then continued: every acknowledged push is in the journal, in InfluxDB and in Grafana
// exactly once; another replica takes over each time, and the stopped one steps down.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("three envtrack processes and a failover each lease")
	}
	pg := testinfra.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	influxDB := testinfra.StartInfluxDB(t)
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-secret-token"))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`listen_address: "127.0.0.1:0"
state_dir: %s
%s%s%sgrafana: {url: %s, token: grafana-secret-token, timeout: 5s}
`, filepath.Join(dir, "data"), pushTokens, postgresStore(dsn), influxConfig(influxDB), graf.URL())+quietSources), 0o600))

	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = &replica{t: t, cfg: cfg, addrFile: filepath.Join(dir, fmt.Sprintf("addr-%d", i))}
		replicas[i].start()
	}
	defer func() {
		for _, r := range replicas {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
		if t.Failed() {
			for i, r := range replicas {
				t.Logf("replica %d stderr (tail):\n%s", i, tail(r.stderr.String(), 4000))
			}
		}
	}()
	// leader waits until a replica leads at an epoch above after.
	leader := func(after int64) (int, int64) {
		t.Helper()
		idx, ep := -1, int64(0)
		eventually(t, "a leader", func() bool {
			for i, r := range replicas {
				if l, e, ok := r.leading(); ok && l && e > after {
					idx, ep = i, e
					return true
				}
			}
			return false
		})
		return idx, ep
	}

	// The clients: each push is retried, on the next replica, until acknowledged.
	var (
		acked     sync.Map // Idempotency-Key -> true
		ackCount  atomic.Int64
		stop      = make(chan struct{})
		pushersWG sync.WaitGroup
	)
	pushClient := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		pushersWG.Add(1)
		go func() {
			defer pushersWG.Done()
			next := w
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("f-%d-%d", w, n)
				at := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
				body := fmt.Sprintf(`{"environment_id":%q,"event":"created","timestamp":%q}`, key, at.Format(time.RFC3339))
				if n%2 == 1 {
					body = fmt.Sprintf(`{"kind":"deployment","environment":"test","host":"h","application":"app-%d","activity":%q,"status":"success","timestamp":%q}`,
						w, key, at.Format(time.RFC3339))
				}
				for {
					next = (next + 1) % len(replicas)
					req, _ := http.NewRequest("POST", replicas[next].url()+"/api/events", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer ci-token")
					req.Header.Set("Idempotency-Key", key)
					resp, err := pushClient.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == 202 || resp.StatusCode == 200 {
							acked.Store(key, true)
							ackCount.Add(1)
							break
						}
						if resp.StatusCode < 500 {
							t.Errorf("push %s: %d", key, resp.StatusCode) // never a 4xx
							return
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	progress := func() { // some pushes acknowledged since
		base := ackCount.Load()
		eventually(t, "pushes acknowledged", func() bool { return ackCount.Load() >= base+10 })
	}

	_, epoch := leader(0)
	for range 5 {
		progress()
		i, e := leader(epoch - 1)
		replicas[i].signal(syscall.SIGKILL)
		_, epoch = leader(e)
		replicas[i].start()
	}
	progress()
	i, e := leader(epoch - 1)
	replicas[i].signal(syscall.SIGSTOP)
	leader(e) // another replica took over
	progress()
	replicas[i].signal(syscall.SIGCONT)
	eventually(t, "the stopped leader to step down", func() bool {
		l, _, ok := replicas[i].leading()
		return ok && !l
	})
	progress()
	close(stop)
	pushersWG.Wait()

	// Every acknowledged push, exactly once, in the journal.
	js, err := postgres.Open(context.Background(), dsn, postgres.Options{NoListen: true})
	require.NoError(t, err)
	journal, err := js.Events(0, 0)
	require.NoError(t, js.Close())
	require.NoError(t, err)
	perKey := map[string]int{}
	lifecycle := 0
	for _, e := range journal {
		k, _ := e.Meta(event.MetaIdempotencyKey).(string)
		perKey[k]++
		if !e.IsMarker() {
			lifecycle++
		}
	}
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		require.Equal(t, 1, perKey[k.(string)], "events of push %s", k)
		return true
	})
	require.Len(t, perKey, n, "the journal holds only acknowledged pushes")
	require.Len(t, journal, n)

	// And in InfluxDB and Grafana, delivered by the last leader.
	eventually(t, "delivery", func() bool {
		return influxDB.Count(t, "environment_lifecycle") >= lifecycle && len(graf.Annotations()) >= len(journal)
	})
	checkInflux(t, influxDB, journal)
	// The stopped leader may have had an annotation's POST on the wire when it lost its
	// lease, landing after its successor had posted the same event: the leader's
	// reconciliation deletes the later one.
	eventually(t, "each event annotated once in Grafana", func() bool { return grafanaOnce(graf, journal) == nil })
	checkGrafanaOnce(t, graf, journal)
	deleted := 0
	for _, r := range graf.Log() {
		if r.Method == http.MethodDelete && r.Status == http.StatusOK {
			deleted++
		}
	}
	t.Logf("%d annotations posted twice across a takeover were deleted", deleted)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
