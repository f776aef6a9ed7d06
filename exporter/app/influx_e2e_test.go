package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

func influxConfig(db *testinfra.InfluxDB) string {
	return fmt.Sprintf("influxdb: {url: %s, bucket: %s, timeout: 5s}\n", db.URL, db.Bucket)
}

// lag is the sink's envtrack_sink_lag_events, as the daemon's registry exposes it.
func (h *harness) lag(sinkName string) float64 {
	h.t.Helper()
	mfs, err := h.app.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != "envtrack_sink_lag_events" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sinkName {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	h.t.Fatalf("no envtrack_sink_lag_events{sink=%q}", sinkName)
	return 0
}

// checkInflux: every lifecycle event of the journal is exactly one point in InfluxDB
// (counted, and compared by event id), and every deployment one deployments point.
func checkInflux(t *testing.T, db *testinfra.InfluxDB, evs []event.Event) {
	t.Helper()
	var lifecycle, deployments []string
	for _, e := range evs {
		if e.IsLifecycle() {
			lifecycle = append(lifecycle, e.ID)
		}
		if e.Name == event.Deployed {
			deployments = append(deployments, e.ID)
		}
	}
	require.Equal(t, len(lifecycle), db.Count(t, "environment_lifecycle"), "points in environment_lifecycle")
	var got []string
	for _, row := range db.Select(t, `SELECT event_id FROM environment_lifecycle`) {
		got = append(got, row["event_id"].(string))
	}
	sort.Strings(got)
	sort.Strings(lifecycle)
	require.Equal(t, lifecycle, got)
	require.Equal(t, len(deployments), db.Count(t, "deployments"), "points in deployments")
}

// TestInfluxDBOutage: InfluxDB is stopped for part of the scenario; afterwards every
// event is in InfluxDB exactly once, and the lag went up and back to 0.
func TestInfluxDBOutage(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	h := newHarness(t, harnessOpts{perKind: 4, static: 2, extraConfig: influxConfig(db)})
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	steps := []time.Time{}
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		steps = append(steps, at)
	}
	third := len(steps) / 3
	for _, at := range steps[:third] {
		h.step(at)
	}
	require.NoError(t, waitDelivered(ctx, h.app))
	db.Stop()
	for _, at := range steps[third : 2*third] {
		h.step(at)
	}
	require.Greater(t, h.lag("influxdb"), 0.0, "lag while InfluxDB is down")
	db.Start()
	for _, at := range steps[2*third:] {
		h.step(at)
	}
	require.NoError(t, waitDelivered(ctx, h.app))
	require.Equal(t, 0.0, h.lag("influxdb"))
	scenario.CheckJournal(t, h.sc, h.journal(), true)
	checkInflux(t, db, h.journal())
}

// TestQueriesFromInfluxDB: with InfluxDB configured (as it ships: Flux off), timelines
// and insights come from InfluxQL, the default, and equal what the scenario implies,
// exactly as the journal's answers do.
func TestQueriesFromInfluxDB(t *testing.T) {
	db := testinfra.StartInfluxDB(t)
	h := newHarness(t, harnessOpts{perKind: 4, static: 2, extraConfig: influxConfig(db)})
	h.start()
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.step(at)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	require.NoError(t, waitDelivered(ctx, h.app))
	srv := httptest.NewServer(h.app.handler())
	defer srv.Close()
	checkQueries(t, h, srv.URL)

	// InfluxDB's answers equal the journal's, metadata included.
	journal := query.NewService(query.NewJournalBackend(h.app.store), config.TargetsConfig{}, h.clock.Now)
	for _, st := range h.sc.Stories {
		var fromInflux map[string]any
		getJSON(t, srv.URL+"/api/environments/"+st.ID+"/timeline", &fromInflux)
		tl, err := journal.Timeline(ctx, st.ID)
		require.NoError(t, err)
		b, _ := json.Marshal(tl)
		got, _ := json.Marshal(fromInflux)
		require.JSONEq(t, string(b), string(got), st.ID)
	}

	// The pages' charts from InfluxDB: the same attempts and deployments as the journal's.
	for _, win := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		fc, err := h.app.currentQuery().Chart(ctx, win, "w", "")
		require.NoError(t, err)
		jc, err := journal.Chart(ctx, win, "w", "")
		require.NoError(t, err)
		require.NotEmpty(t, jc.Attempts)
		require.Equal(t, jc.Attempts, fc.Attempts)
		require.Equal(t, jc.Deploys, fc.Deploys)
	}
	code, _, page := getBody(t, srv.URL+"/environments/"+h.sc.Stories[0].ID)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `data-phase="provisioning"`)

	// InfluxDB down: the API says 503, in JSON; the environment page says so in HTML and
	// the landing page still answers, with the query error in place of its charts.
	db.Stop()
	code, _, page = getBody(t, srv.URL+"/environments/"+h.sc.Stories[0].ID)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, page, "cannot be read now")
	code, _, page = getBody(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `id="charts-error"`)
	resp, err := http.Get(srv.URL + "/api/environments/" + h.sc.Stories[0].ID + "/timeline")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var e struct{ Error string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.NotEmpty(t, e.Error)
}
