package app

import (
	"fmt"
	"io"
	"math/rand/v2"
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

// BenchmarkArgoCDScale measures the envtrack process in watch mode (CPU seconds from
// /proc/<pid>/stat, VmHWM, bytes from Argo CD) following 10,000 and 100,000 static
// Applications side by side, in one run: first sight (from the process's start to
// /readyz, which answers once the stream's snapshot is tracked, histories read and
// committed), then a minute with nothing changing, then a minute in which 1 % of the
// Applications change. Results: docs/benchmarks.md. Run it alone:
//
//	go test -run '^$' -bench ArgoCDScale -benchtime 1x -timeout 60m ./exporter/app/
//
// BENCH_SCALE_SIZES (e.g. "10000") measures other sizes. Each size runs with the journal
// in bbolt, and 10,000 in PostgreSQL too; BENCH_SCALE_STORES ("bbolt,postgres") names
// the store.driver values every size runs with. On PostgreSQL the server's own CPU
// seconds (its postmaster and backends) and memory (their proportional set size, PSS,
// which shares the shared buffers out among them) are reported beside envtrack's.
func BenchmarkArgoCDScale(b *testing.B) {
	bin := os.Getenv("BENCH_ENVTRACK_BIN") // a build of one's own (a profiling one, say)
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "envtrack")
		out, err := exec.Command("go", "build", "-o", bin, "../../cmd/envtrack").CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	sizes := []int{10000, 100000}
	if s := os.Getenv("BENCH_SCALE_SIZES"); s != "" {
		sizes = nil
		for _, f := range splitComma(s) {
			var n int
			_, err := fmt.Sscan(f, &n)
			require.NoError(b, err)
			sizes = append(sizes, n)
		}
	}
	storesOf := func(n int) []string {
		if n == 10000 {
			return []string{"bbolt", "postgres"}
		}
		return []string{"bbolt"}
	}
	if s := os.Getenv("BENCH_SCALE_STORES"); s != "" {
		storesOf = func(int) []string { return splitComma(s) }
	}
	var pg *testinfra.Postgres
	for _, n := range sizes {
		for _, st := range storesOf(n) {
			switch {
			case st == "postgres" && pg == nil:
				pg = testinfra.StartPostgres(b)
			case st != "bbolt" && st != "postgres":
				b.Fatalf("BENCH_SCALE_STORES: %q is not bbolt or postgres", st)
			}
		}
	}
	for i := 0; i < b.N; i++ {
		var rs []scaleResult
		for _, n := range sizes {
			for _, st := range storesOf(n) {
				rs = append(rs, scaleBench(b, bin, n, pg, st))
			}
		}
		for _, r := range rs {
			k := fmt.Sprintf("%dk-", r.n/1000)
			if r.store != "bbolt" {
				k += r.store + "-"
			}
			b.ReportMetric(r.readySeconds, k+"ready-s")
			b.ReportMetric(r.idleCPUPerMin, k+"idle-cpu-s/min")
			b.ReportMetric(r.changeCPUPerMin, k+"1%-cpu-s/min")
			b.ReportMetric(r.hwmMiB, k+"peak-rss-MiB")
			b.Logf("%6d: first sight %.1f s to ready (%.1f CPU-s; the fake Argo CD %.1f CPU-s; %.1f MiB from Argo CD, peak RSS %.1f MiB); idle %.3f CPU-s/min (%.2f %% of a core), %.3f MiB/min; 1 %%/min: %.3f CPU-s/min, %.2f CPU-ms per change (%d changes, %d deployed), %.3f MiB/min; peak RSS %.1f MiB (at the end %.1f anonymous, %.1f mapped files)",
				r.n, r.readySeconds, r.firstCPU, r.fakeCPU, r.firstBytes/(1<<20), r.firstHWMMiB, r.idleCPUPerMin, 100*r.idleCPUPerMin/60, r.idleBytesPerMin/(1<<20),
				r.changeCPUPerMin, 1000*r.changeCPUPerMin/(float64(r.changes)/r.changeMinutes), r.changes, r.deployed, r.changeBytesPerMin/(1<<20), r.hwmMiB, r.anonMiB, r.fileMiB)
			if r.store == "postgres" {
				b.ReportMetric(r.pgIdleCPUPerMin, k+"pg-idle-cpu-s/min")
				b.ReportMetric(r.pgChangeCPUPerMin, k+"pg-1%-cpu-s/min")
				b.ReportMetric(r.pgPSSMiB, k+"pg-pss-MiB")
				b.Logf("%6d on PostgreSQL, the server's processes: first sight %.1f CPU-s (PSS %.1f MiB after it); idle %.3f CPU-s/min; 1 %%/min: %.3f CPU-s/min, %.2f CPU-ms per change; PSS at the end %.1f MiB (%d processes)",
					r.n, r.pgFirstCPU, r.pgFirstPSSMiB, r.pgIdleCPUPerMin, r.pgChangeCPUPerMin, 1000*r.pgChangeCPUPerMin/(float64(r.changes)/r.changeMinutes), r.pgPSSMiB, r.pgProcs)
			}
		}
		var bb []scaleResult // the sizes on bbolt, compared
		for _, r := range rs {
			if r.store == "bbolt" {
				bb = append(bb, r)
			}
		}
		if len(bb) == 2 {
			a, c := bb[0], bb[1]
			b.Logf("%d / %d: size %.0f×; first sight %.2f×, idle CPU %.2f×, CPU per change %.2f×, peak RSS %.2f×", c.n, a.n, float64(c.n)/float64(a.n),
				c.readySeconds/a.readySeconds, c.idleCPUPerMin/a.idleCPUPerMin,
				(c.changeCPUPerMin/(float64(c.changes)/c.changeMinutes))/(a.changeCPUPerMin/(float64(a.changes)/a.changeMinutes)), c.hwmMiB/a.hwmMiB)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

type scaleResult struct {
	n                                  int
	store                              string // store.driver
	readySeconds, firstCPU, firstBytes float64
	fakeCPU                            float64 // the benchmark process (the fake Argo CD) during first sight
	firstHWMMiB                        float64
	idleCPUPerMin, idleBytesPerMin     float64
	changeCPUPerMin, changeBytesPerMin float64
	changeMinutes                      float64
	changes, deployed                  int
	hwmMiB, anonMiB, fileMiB           float64
	// PostgreSQL's processes (store "postgres"): CPU seconds, PSS.
	pgFirstCPU, pgFirstPSSMiB          float64
	pgIdleCPUPerMin, pgChangeCPUPerMin float64
	pgPSSMiB                           float64
	pgProcs                            int
}

// scaleBench measures one size on one store.driver (postgres: a database of its own on
// pg, whose processes are measured too).
func scaleBench(b *testing.B, bin string, n int, pg *testinfra.Postgres, store string) scaleResult {
	conf, pgPid := "", 0
	if store == "postgres" {
		conf, pgPid = fmt.Sprintf("store: {driver: postgres, postgres: {dsn: %q}}\n", pg.NewDatabase(b)), pg.Pid()
		require.NotZero(b, pgPid, "PostgreSQL's processes are measured: a server the benchmark starts, not ENVTRACK_TEST_POSTGRES_DSN's")
	}
	pgCPU0, _, _ := pgUsage(b, pgPid)
	argo, addr, cfg := benchDaemon(b, n, "watch", conf)
	exe, args := bin, []string{"serve", "--config", cfg, "--log.level=warn"}
	if lim := os.Getenv("BENCH_ENVTRACK_GOMEMLIMIT"); lim != "" {
		exe, args = "/usr/bin/env", append([]string{"GOMEMLIMIT=" + lim, bin}, args...)
	}
	t0, fake0 := time.Now(), procCPUSeconds(b, os.Getpid())
	p, err := proc.Start("envtrack", exe, args, io.Discard)
	require.NoError(b, err)
	defer func() { _ = p.Stop(time.Minute) }()
	waitReady(b, addr)
	// The fake Argo CD runs in this process, on the same cores: its CPU is not
	// envtrack's, but what it takes the machine's cores from (a real Argo CD runs
	// elsewhere).
	r := scaleResult{n: n, store: store, readySeconds: time.Since(t0).Seconds(), fakeCPU: procCPUSeconds(b, os.Getpid()) - fake0}
	r.firstCPU, r.firstBytes = procCPUSeconds(b, p.Pid()), float64(argo.BytesSent())
	r.firstHWMMiB = procStatusMiB(b, p.Pid(), "VmHWM")
	pgCPU1, pss, _ := pgUsage(b, pgPid)
	r.pgFirstCPU, r.pgFirstPSSMiB = pgCPU1-pgCPU0, pss

	// A minute with nothing changing.
	c0, by0, w0 := procCPUSeconds(b, p.Pid()), argo.BytesSent(), time.Now()
	pg0, _, _ := pgUsage(b, pgPid)
	time.Sleep(benchWindow)
	pg1, _, _ := pgUsage(b, pgPid)
	r.idleCPUPerMin = (procCPUSeconds(b, p.Pid()) - c0) / time.Since(w0).Minutes()
	r.pgIdleCPUPerMin = (pg1 - pg0) / time.Since(w0).Minutes()
	r.idleBytesPerMin = float64(argo.BytesSent()-by0) / time.Since(w0).Minutes()

	// A minute in which 1 % of the Applications change.
	stop := changeOnePercent(argo, n)
	c0, by0, w0 = procCPUSeconds(b, p.Pid()), argo.BytesSent(), time.Now()
	pg0, _, _ = pgUsage(b, pgPid)
	time.Sleep(benchWindow)
	r.changes = stop()
	r.changeMinutes = time.Since(w0).Minutes()
	r.changeCPUPerMin = (procCPUSeconds(b, p.Pid()) - c0) / r.changeMinutes
	pg1, r.pgPSSMiB, r.pgProcs = pgUsage(b, pgPid)
	r.pgChangeCPUPerMin = (pg1 - pg0) / r.changeMinutes
	r.changeBytesPerMin = float64(argo.BytesSent()-by0) / r.changeMinutes
	r.deployed = int(metricLabelValue(addr, "envtrack_tracker_events_total", `event="deployed"`))
	r.hwmMiB = procStatusMiB(b, p.Pid(), "VmHWM")
	r.anonMiB, r.fileMiB = procStatusMiB(b, p.Pid(), "RssAnon"), procStatusMiB(b, p.Pid(), "RssFile")
	return r
}

// pgUsage is what PostgreSQL's processes use, the postmaster (pid) and its children (the
// backends, the checkpointer, the WAL writer...): CPU seconds, utime+stime of each, plus
// the postmaster's cutime+cstime (the children that exited, such as the backends of
// closed connections); and memory, the sum of their PSS (/proc/<pid>/smaps_rollup: each
// page divided among the processes that map it, so the shared buffers count once), with
// the number of processes. Zero with pid 0.
func pgUsage(b *testing.B, pid int) (cpuSeconds, pssMiB float64, procs int) {
	if pid == 0 {
		return 0, 0, 0
	}
	require.NoError(b, proc.Family(pid, func(p int, f []string) {
		last := 12 // stime
		if p == pid {
			last = 14 // cstime
		}
		for _, v := range f[11 : last+1] {
			ticks, _ := strconv.ParseFloat(v, 64)
			cpuSeconds += ticks / 100 // USER_HZ
		}
		rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			return
		}
		procs++
		for _, line := range strings.Split(string(rollup), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				pssMiB += kb / 1024
				break
			}
		}
	}))
	return cpuSeconds, pssMiB, procs
}

// changeOnePercent gives 1 % of n Applications (pr-00000…) a new, successful deployment per
// minute, evenly spaced, until the returned stop is called; stop says how many it made.
func changeOnePercent(argo *fakeargocd.Server, n int) (stop func() int) {
	quit, done := make(chan struct{}), make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		every := time.Minute / time.Duration(n/100)
		begin, k := time.Now(), 0
		for {
			select {
			case <-quit:
				done <- k
				return
			case <-time.After(time.Until(begin.Add(time.Duration(k) * every))):
			}
			name := fmt.Sprintf("pr-%05d", rng.IntN(n))
			rev := fmt.Sprintf("%040x", rng.Uint64())
			at := time.Now().UTC()
			argo.Update(name, func(a *fakeargocd.Application) {
				fakeargocd.StartSync(a, rev, at)
				fakeargocd.SyncSucceeded(a, rev, at.Add(time.Second))
			})
			k++
		}
	}()
	return func() int { close(quit); return <-done }
}
