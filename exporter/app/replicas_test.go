package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// postgresStore is the store section of replicas sharing the journal in dsn.
func postgresStore(dsn string) string {
	return fmt.Sprintf("store: {driver: postgres, postgres: {dsn: %q, lease_duration: 2s, renew_interval: 500ms}}\n", dsn)
}

// metricValue reads one unlabelled sample of the daemon's /metrics.
func (d *daemon) metricValue(name string) (float64, bool) {
	d.t.Helper()
	_, _, body := d.do("GET", "/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err == nil
		}
	}
	return 0, false
}

// eventually polls cond (a hang guard bounds it, not a speed check).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leaderOf waits until exactly one of the daemons leads and returns it.
func leaderOf(t *testing.T, ds ...*daemon) (leader *daemon, followers []*daemon) {
	t.Helper()
	eventually(t, "one leader", func() bool {
		leader, followers = nil, nil
		for _, d := range ds {
			if v, _ := d.metricValue("envtrack_leader"); v == 1 {
				if leader != nil {
					return false
				}
				leader = d
			} else {
				followers = append(followers, d)
			}
		}
		return leader != nil
	})
	return leader, followers
}

// TestReplicas: two daemons share a journal in PostgreSQL. One leads; both are ready
// and take pushes; a push to one is planned from what the other recorded, a retry of an
// Idempotency-Key recorded by the other is answered "unchanged"; each serves what the
// other recorded; when the leader stops, the other takes over.
func TestReplicas(t *testing.T) {
	pg := testinfra.StartPostgres(t)
	cfg := pushTokens + postgresStore(pg.NewDatabase(t))
	a := startDaemon(t, daemonOpts{config: cfg})
	b := startDaemon(t, daemonOpts{config: cfg})

	leader, followers := leaderOf(t, a, b)
	for _, d := range []*daemon{a, b} {
		code, _, _ := d.do("GET", "/readyz", "")
		require.Equal(t, 200, code, "a follower is ready too")
	}
	life := func(id, ev string, min int) string {
		return fmt.Sprintf(`{"environment_id":%q,"event":%q,"timestamp":"2025-01-07T10:%02d:00Z"}`, id, ev, min)
	}
	code, m := a.push(life("r-1", "created", 1), "Idempotency-Key", "run-0") // a reads the keys
	require.Equal(t, 202, code, m)
	// b never saw r-1: the push is planned from the stored state.
	code, m = b.push(life("r-1", "ready", 5), "Idempotency-Key", "run-1")
	require.Equal(t, 202, code, m)
	// b's client retries, and the retry reaches a: the key b recorded is in the
	// journal's index, which a looks up.
	code, m = a.push(life("r-1", "ready", 5), "Idempotency-Key", "run-1")
	require.Equal(t, 200, code, m)
	require.Equal(t, "unchanged", m["status"])
	// The same key with another request is refused on a too.
	code, m = a.push(life("r-1", "deployed", 6), "Idempotency-Key", "run-1")
	require.Equal(t, 422, code, m)

	evs, err := a.app.store.Events(0, 0)
	require.NoError(t, err)
	var names []event.Name
	for _, e := range evs {
		names = append(names, e.Name)
	}
	require.Equal(t, []event.Name{event.Created, event.Ready}, names, "nothing lost, nothing twice")
	// Each replica follows the other's commits.
	for _, d := range []*daemon{a, b} {
		eventually(t, "the state on every replica", func() bool {
			_, _, body := d.do("GET", "/api/environments/r-1", "", "Authorization", "Bearer reader-token")
			return strings.Contains(body, `"phase":"ready"`)
		})
	}

	// Prometheus scrapes both: every replica serves /metrics, and the aggregations the
	// rules and dashboards use are right across them, whichever leads.
	p := testinfra.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: envtrack
    static_configs: [{targets: [%q, %q]}]
`, strings.TrimPrefix(a.url, "http://"), strings.TrimPrefix(b.url, "http://")))
	promEquals := func(expr string, want float64) {
		t.Helper()
		eventually(t, expr, func() bool { v, ok := promQuery(t, p.URL, expr); return ok && v == want })
	}
	promEquals(`count(up{job="envtrack"} == 1)`, 2)
	promEquals(`sum without (instance) (envtrack_leader)`, 1)
	// created on a, ready on b: each counted once, by the replica that committed it.
	promEquals(`sum(envtrack_tracker_events_total{job="envtrack"})`, 2)

	leader.stop()
	next, _ := leaderOf(t, followers...)
	require.Equal(t, followers[0], next)
	promEquals(`max without (instance) (envtrack_leader{job="envtrack"})`, 1) // EnvtrackNoLeader stays silent

	// A replica cut off from the database is not ready: its clients go to another.
	require.NoError(t, pg.Stop())
	eventually(t, "not ready without the database", func() bool {
		code, _, _ := next.do("GET", "/readyz", "")
		return code == 503
	})
}
