package app

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/labels"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Sizes of the flood. Thousands of distinct values of every label that comes from
// input; the whole test stays within seconds (pushes share fsyncs by group commit).
const (
	hostileTypes    = 1200
	hostileReasons  = 1000
	hostileStatuses = 1000
	hostileWorkers  = 16
	// hostileHeapBudget bounds the growth of the live heap (after GC) over the whole
	// flood. Measured: about 10 MiB for 2,000 environments and 5,000 journal events
	// (the tracker's states and the dedupe index, not series); before the bound,
	// 6,000 types grew RSS by 95 MB.
	hostileHeapBudget = 16 << 20
	// hostileRSSBudget bounds the growth of the resident set (VmRSS), race detector
	// included (it multiplies memory several times).
	hostileRSSBudget = 128 << 10 // KiB; measured 62 MiB under -race, where the live heap grew 2.3 MiB
	// maxSeries bounds /metrics: 51 types (max_types 50 + other) of the lifecycle
	// metrics plus the daemon's own, whatever the flood.
	maxSeries = 4000
)

// TestHostileInput drives a running envtrack as a careless or hostile CI fleet would
// (issue 10): thousands of distinct types, failure reasons and marker statuses;
// pushes for environments never seen, out of order, and repeated. /metrics stays
// bounded, the process's heap within a fixed budget, and what should be refused is,
// storing nothing.
func TestHostileInput(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens})
	seriesBefore, _ := d.series()
	heapBefore := liveHeap()
	rssBefore := procStatus(t, "VmRSS")

	// Run n pushes on the workers; every answer must have the wanted status.
	flood := func(n int, body func(i int) string, want int) {
		t.Helper()
		var next atomic.Int64
		var wg sync.WaitGroup
		var bad atomic.Value
		for w := 0; w < hostileWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					code, _, b := d.do("POST", "/api/events", body(i), "Authorization", "Bearer ci-token")
					if code != want {
						bad.Store(fmt.Sprintf("push %d: %d %s (want %d)", i, code, b, want))
					}
				}
			}()
		}
		wg.Wait()
		if v := bad.Load(); v != nil {
			t.Fatal(v)
		}
	}
	ts := func(min int) string { return fmt.Sprintf("2025-01-07T%02d:%02d:00Z", 10+min/60, min%60) }

	// Thousands of types: each environment brings its own.
	flood(hostileTypes, func(i int) string {
		// No timestamp: now. (An old one would make the environments history, backfill,
		// which moves no live counter.)
		return fmt.Sprintf(`{"environment_id":"h-%d","event":"provisioning_started","type":"type-%d"}`, i, i)
	}, 202)
	// Thousands of failure reasons.
	flood(hostileReasons, func(i int) string {
		return fmt.Sprintf(`{"environment_id":"h-%d","event":"provisioning_failed","metadata":{"reason":"reason_%d"}}`, i, i)
	}, 202)
	// Thousands of marker statuses.
	flood(hostileStatuses, func(i int) string {
		return fmt.Sprintf(`{"kind":"deployment","environment":"test","application":"app","activity":"a","status":"status_%d","timestamp":%q}`, i, ts(1))
	}, 202)
	stored := d.journalLen()

	// Unknown environments, time going backwards and repeats: refused or unchanged,
	// all of them storing nothing.
	flood(200, func(i int) string {
		return fmt.Sprintf(`{"environment_id":"ghost-%d","event":%q}`, i, []string{"degraded", "recovered", "deployed", "ready", "terminated"}[i%5])
	}, 422)
	flood(200, func(i int) string { // provisioning started now: a ready in 2025 is before it
		return fmt.Sprintf(`{"environment_id":"h-%d","event":"ready","timestamp":"2025-01-07T09:59:00Z"}`, hostileReasons+i)
	}, 422)
	flood(200, func(i int) string { // every one repeats a marker of the flood
		return fmt.Sprintf(`{"kind":"deployment","environment":"test","application":"app","activity":"a","status":"status_%d","timestamp":%q}`, i, ts(1))
	}, 200)
	require.Equal(t, stored, d.journalLen(), "refused or repeated pushes were stored")
	_, _, list := d.do("GET", "/api/environments", "", "Authorization", "Bearer reader-token")
	require.NotContains(t, list, "ghost-")

	// /metrics stays bounded, every label value in its set.
	seriesAfter, metrics := d.series()
	require.Less(t, seriesAfter, maxSeries, "series before the flood: %d", seriesBefore)
	types := labelValues(metrics, "type")
	require.LessOrEqual(t, len(types), 51, "type values: %v", types)
	require.Contains(t, types, labels.Other)
	for _, r := range labelValues(metrics, "reason") {
		require.Contains(t, append(append([]string{labels.Other}, event.Reasons...), event.PushedReasons...), r)
	}
	for _, s := range labelValues(metrics, "status") {
		if s == "success" && strings.Contains(metrics, `status="success"`) {
			continue
		}
		require.Contains(t, append([]string{labels.Other}, event.MarkerStatuses...), s)
	}
	require.Regexp(t, `envtrack_label_values_folded_total\{label="type"\} \d{4}`, metrics)
	require.Regexp(t, `envtrack_label_values_folded_total\{label="reason"\} 1000`, metrics)
	require.Regexp(t, `envtrack_label_values_folded_total\{label="status"\} 1000`, metrics)
	// A log line the first time each value folds, and no more than the bound (1,000
	// values a label).
	logs := d.logs.String()
	require.Equal(t, 1000, strings.Count(logs, "label=type value=type-"), "a line for each of the first 1,000 folded types")
	require.True(t, strings.Contains(logs, "further ones are only counted\" label=type"), "no line saying further types go unlogged")
	require.True(t, strings.Contains(logs, "label=reason value=reason_999\n"), "no log line for a folded reason")
	require.True(t, strings.Contains(logs, "label=status value=status_999\n"), "no log line for a folded status")
	require.LessOrEqual(t, strings.Count(logs, "label value folded"), 3000)

	// Memory: the live heap grew within the budget (the process's own, after GC; no
	// timing involved), and so did the resident set.
	heapAfter := liveHeap()
	rssAfter := procStatus(t, "VmRSS")
	t.Logf("series %d -> %d; live heap %d -> %d KiB; VmRSS %d -> %d KiB", seriesBefore, seriesAfter,
		heapBefore>>10, heapAfter>>10, rssBefore, rssAfter)
	require.Less(t, int64(heapAfter)-int64(heapBefore), int64(hostileHeapBudget))
	require.Less(t, rssAfter-rssBefore, hostileRSSBudget)
}

// series returns the number of samples in /metrics, and the exposition.
func (d *daemon) series() (int, string) {
	d.t.Helper()
	code, _, body := d.do("GET", "/metrics", "")
	require.Equal(d.t, 200, code)
	n := 0
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n, body
}

func labelValues(exposition, label string) []string {
	re := regexp.MustCompile(`[{,]` + label + `="([^"]*)"`)
	seen := map[string]bool{}
	var out []string
	for _, m := range re.FindAllStringSubmatch(exposition, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// procStatus reads a kB field of /proc/self/status (0 where there is none).
func procStatus(t *testing.T, field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestTypesFromConfig: with `types:` only the listed types (and the configuration's
// own) keep their label; a reload applies a new list.
func TestTypesFromConfig(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens + "types: [preview]\n"})
	push := func(id, typ string) {
		code, m := d.push(fmt.Sprintf(`{"environment_id":%q,"event":"provisioning_started","type":%q}`, id, typ))
		require.Equal(t, 202, code, m)
	}
	push("a", "preview")
	push("b", "staging")
	_, metrics := d.series()
	require.ElementsMatch(t, []string{"preview", labels.Other}, labelValues(metrics, "type"))
	// The API keeps the raw type.
	_, _, env := d.do("GET", "/api/environments/b", "", "Authorization", "Bearer reader-token")
	require.Contains(t, env, `"type":"staging"`)

	cfg, err := os.ReadFile(d.cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(d.cfg, []byte(strings.Replace(string(cfg), "types: [preview]", "types: [preview, staging]", 1)), 0o600))
	require.NoError(t, d.app.Reload())
	push("c", "staging")
	_, metrics = d.series()
	require.Contains(t, labelValues(metrics, "type"), "staging")
}
