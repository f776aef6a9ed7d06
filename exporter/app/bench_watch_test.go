package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/proc"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// BenchmarkArgoCDWatchVsPoll10000 measures the envtrack process as an operator sees it
// (CPU seconds from /proc/<pid>/stat, peak RSS from VmHWM, bytes downloaded from Argo
// CD) following 10,000 Applications of which 1 % change per minute, in watch mode and
// in poll mode (15 s), side by side. Each mode: a first process meets the 10,000
// environments and stops; a second one starts on that state (what a restart or an
// upgrade does), takes the snapshot, then runs for benchWindow while the changes come.
// Results: docs/benchmarks.md. Run it alone:
//
//	go test -run '^$' -bench ArgoCDWatchVsPoll -benchtime 1x ./exporter/app/
func BenchmarkArgoCDWatchVsPoll10000(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "envtrack")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/envtrack").CombinedOutput()
	require.NoError(b, err, "%s", out)
	for i := 0; i < b.N; i++ {
		poll := argoBench(b, bin, "poll")
		watch := argoBench(b, bin, "watch")
		for _, r := range []argoBenchResult{watch, poll} {
			b.ReportMetric(r.cpuPerMin, r.mode+"-cpu-s/min")
			b.ReportMetric(r.hwmMiB, r.mode+"-peak-rss-MiB")
			b.ReportMetric(r.bytesPerMin/(1<<20), r.mode+"-MiB/min")
			if r.mode == "watch" {
				// A new session every resync_interval (default 30m) lists the names and
				// takes the stream's snapshot again: counted in, amortised.
				b.ReportMetric((r.bytesPerMin+r.snapshotBytes/30)/(1<<20), "watch-MiB/min-with-resync")
			}
			b.Logf("%-5s: startup+snapshot %.2f CPU-s, %.1f MiB read; then %.3f CPU-s/min (%.2f %% of a core), %.3f MiB/min read, peak RSS %.1f MiB (at the end: %.1f anonymous, %.1f mapped files), %d changes -> %d deployed events, %d lists; first sight: peak RSS %.1f MiB",
				r.mode, r.snapshotCPU, r.snapshotBytes/(1<<20), r.cpuPerMin, 100*r.cpuPerMin/60, r.bytesPerMin/(1<<20), r.hwmMiB, r.anonMiB, r.fileMiB, r.changes, r.deployed, r.lists, r.firstHWMMiB)
		}
		b.Logf("watch / poll: CPU %.3f, bytes %.4f (%.4f with a resync every 30 minutes), peak RSS %.2f", watch.cpuPerMin/poll.cpuPerMin,
			watch.bytesPerMin/poll.bytesPerMin, (watch.bytesPerMin+watch.snapshotBytes/30)/poll.bytesPerMin, watch.hwmMiB/poll.hwmMiB)
	}
}

const (
	benchWindow = time.Minute // watch mode
	pollCycles  = 4           // poll mode: four lists, 15 s apart
)

type argoBenchResult struct {
	mode                           string
	snapshotCPU, snapshotBytes     float64
	cpuPerMin, bytesPerMin, hwmMiB float64
	anonMiB, fileMiB               float64 // resident at the end: heap and runtime; mapped files (the bbolt journal)
	firstHWMMiB                    float64 // peak RSS of the first process, which met every environment
	changes, deployed              int
	lists                          int // list requests in the window
}

func benchWorld(n int, start time.Time) []fakeargocd.Application {
	apps := make([]fakeargocd.Application, n)
	for i := range apps {
		name := fmt.Sprintf("pr-%05d", i)
		a := fakeargocd.NewApp(name, start, fakeargocd.WithType("preview"), fakeargocd.WithBranch("feature/"+name),
			fakeargocd.WithRequestedAt(start.Add(-time.Minute)))
		fakeargocd.StartSync(&a, "1a2b3c4d5e6f", start.Add(5*time.Second))
		fakeargocd.SyncSucceeded(&a, "1a2b3c4d5e6f", start.Add(2*time.Minute))
		fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, start.Add(3*time.Minute))
		apps[i] = a
	}
	return apps
}

// benchDaemon serves n Applications of benchWorld from a fake Argo CD and writes the
// configuration of an envtrack that watches or polls them (mode) on a free address, its
// journal in state_dir or where store (a `store:` line of the configuration) says.
func benchDaemon(b *testing.B, n int, mode, store string) (argo *fakeargocd.Server, addr, cfg string) {
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	argo = fakeargocd.NewServer(b, fakeargocd.WithToken("t"), fakeargocd.WithApps(benchWorld(n, start)...))
	dir := b.TempDir()
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(testinfra.FreePort(b)))
	cfg = filepath.Join(dir, "envtrack.yml")
	require.NoError(b, os.WriteFile(cfg, []byte(fmt.Sprintf(`listen_address: %s
state_dir: %s
argocd: {server: %s, token: t, mode: %s, poll_interval: 15s, request_timeout: 1m}
%s`, addr, filepath.Join(dir, "data"), argo.URL(), mode, store)), 0o600))
	return argo, addr, cfg
}

func argoBench(b *testing.B, bin, mode string) argoBenchResult {
	argo, addr, cfg := benchDaemon(b, benchEnvs, mode, "")
	run := func() *proc.Process {
		exe, args := bin, []string{"serve", "--config", cfg, "--log.level=warn"}
		if lim := os.Getenv("BENCH_ENVTRACK_GOMEMLIMIT"); lim != "" {
			// What an operator sets in the deployment; env execs envtrack in its place.
			exe, args = "/usr/bin/env", append([]string{"GOMEMLIMIT=" + lim, bin}, args...)
		}
		p, err := proc.Start("envtrack", exe, args, io.Discard)
		require.NoError(b, err)
		waitReady(b, addr)
		return p
	}
	// First sight of the 10,000 environments (and of their histories), then a clean stop.
	p := run()
	firstHWM := procStatusMiB(b, p.Pid(), "VmHWM")
	require.NoError(b, p.Stop(time.Minute))

	bytes0 := argo.BytesSent()
	p = run()
	defer func() { _ = p.Stop(time.Minute) }()
	if mode == "watch" {
		waitUntil(b, "the snapshot", func() bool {
			c := argo.OpenStreamChunks()
			return len(c) == 1 && c[0] >= benchEnvs && argo.StreamsCaughtUp() &&
				metricValue(addr, "envtrack_argocd_stream_session_events") >= benchEnvs
		})
	}
	r := argoBenchResult{mode: mode, firstHWMMiB: firstHWM}
	r.snapshotCPU, r.snapshotBytes = procCPUSeconds(b, p.Pid()), float64(argo.BytesSent()-bytes0)

	// 1 % of the Applications change per minute: a new deployment every 600 ms, from now
	// until the window ends.
	stopChanges := changeOnePercent(argo, benchEnvs)
	// The window: benchWindow for the stream; for polling, whole poll cycles (from a
	// list's end to the end of the pollCycles-th next one), since a window cut between
	// lists would count one list more or less than the cycles it lasted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang guard
	defer cancel()
	lists := argo.Requests()
	if mode == "poll" {
		lists++
		require.NoError(b, argo.WaitRequests(ctx, lists))
	}
	t0, cpu0, bytes1 := time.Now(), procCPUSeconds(b, p.Pid()), argo.BytesSent()
	if mode == "poll" {
		require.NoError(b, argo.WaitRequests(ctx, lists+pollCycles))
	} else {
		time.Sleep(benchWindow)
	}
	elapsed := time.Since(t0)
	cpu1, bytes2 := procCPUSeconds(b, p.Pid()), argo.BytesSent()
	r.changes = stopChanges()
	r.lists = argo.Requests() - lists
	r.hwmMiB = procStatusMiB(b, p.Pid(), "VmHWM")
	r.anonMiB, r.fileMiB = procStatusMiB(b, p.Pid(), "RssAnon"), procStatusMiB(b, p.Pid(), "RssFile")
	r.cpuPerMin = (cpu1 - cpu0) / elapsed.Minutes()
	r.bytesPerMin = float64(bytes2-bytes1) / elapsed.Minutes()
	r.deployed = int(metricLabelValue(addr, "envtrack_tracker_events_total", `event="deployed"`))
	return r
}

// waitReady waits until the envtrack listening on addr answers /readyz with 200.
func waitReady(b *testing.B, addr string) {
	b.Helper()
	waitAnswer(b, "envtrack ready", "http://"+addr+"/readyz", http.StatusOK)
}

// waitAnswer waits until a GET of u answers status.
func waitAnswer(b *testing.B, what, u string, status int) {
	b.Helper()
	waitUntil(b, what, func() bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == status
	})
}

func waitUntil(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute) // a hang guard
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procCPUSeconds is utime+stime of a process (/proc/<pid>/stat, in clock ticks of
// 1/100 s, the value of USER_HZ on Linux).
func procCPUSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:])) // fields from 3 on
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	require.NoError(b, err1)
	require.NoError(b, err2)
	return (utime + stime) / 100
}

// procStatusMiB is a size field of /proc/<pid>/status: VmHWM (the peak resident set
// size), RssAnon, RssFile.
func procStatusMiB(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			require.NoError(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no " + field)
	return 0
}

func metricValue(addr, name string) float64 { return metricLabelValue(addr, name, "") }

// metricLabelValue reads one series from envtrack's /metrics (0 if absent).
func metricLabelValue(addr, name, labels string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
