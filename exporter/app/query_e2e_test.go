package app

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/model/event"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	require.NoError(t, json.Unmarshal(b, v))
}

// expectedTimeline is the timeline document the scenario implies for one story: its
// events and times, and the summary computed here from the story, not from envtrack.
func expectedTimeline(st scenario.Story, now time.Time) map[string]any {
	exp := st.Expected()
	entries := []any{}
	var created, started, terminated time.Time
	summary := map[string]any{"provisioning_duration_seconds": nil, "total_lifetime_hours": nil,
		"queue_duration_seconds": nil, "termination_duration_seconds": nil}
	outcome := ""
	for _, e := range exp {
		entries = append(entries, map[string]any{"event": string(e.Event), "timestamp": e.Time.UTC().Format(time.RFC3339)})
		switch e.Event {
		case event.Created:
			created = e.Time
		case event.ProvisioningStarted:
			started = e.Time
			if !created.IsZero() {
				summary["queue_duration_seconds"] = started.Sub(created).Seconds()
			}
			if outcome == "" {
				outcome = "provisioning"
			}
		case event.Ready:
			if summary["provisioning_duration_seconds"] == nil && !started.IsZero() {
				summary["provisioning_duration_seconds"] = e.Time.Sub(started).Seconds()
			}
			if outcome != "terminated" {
				outcome = "ready"
			}
		case event.ProvisioningFailed:
			if outcome != "ready" && outcome != "terminated" {
				outcome = "failed"
			}
		case event.TerminationStarted:
			terminated = time.Time{}
			summary["_ts"] = e.Time
		case event.Terminated:
			terminated = e.Time
			if ts, ok := summary["_ts"].(time.Time); ok {
				summary["termination_duration_seconds"] = e.Time.Sub(ts).Seconds()
			}
			outcome = "terminated"
		}
	}
	delete(summary, "_ts")
	first := created
	if first.IsZero() {
		first = started
	}
	if !first.IsZero() {
		end := terminated
		if end.IsZero() {
			end = now
		}
		summary["total_lifetime_hours"] = event.Hours(end.Truncate(time.Second).Sub(first))
	}
	summary["outcome"] = outcome
	return map[string]any{"environment_id": st.ID, "environment_name": st.ID, "timeline": entries, "summary": summary,
		"gaps": []any{}} // nothing went unobserved in this scenario
}

// checkQueries compares every environment's timeline and the performance insights with
// what the scenario implies.
func checkQueries(t *testing.T, h *harness, base string) {
	now := h.clock.Now()
	for _, st := range h.sc.Stories {
		var got map[string]any
		getJSON(t, base+"/api/environments/"+st.ID+"/timeline", &got)
		// Metadata is checked event by event elsewhere; here the document's shape.
		for _, e := range got["timeline"].([]any) {
			delete(e.(map[string]any), "metadata")
		}
		want := expectedTimeline(st, now)
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		require.JSONEq(t, string(wantJSON), string(gotJSON), "%s (%s)", st.ID, st.Kind)
	}

	durations, failures := expectedOutcomes(h.sc)
	nearest := func(q float64) float64 {
		r := int(math.Ceil(q * float64(len(durations))))
		return durations[r-1]
	}
	var sum float64
	for _, d := range durations {
		sum += d
	}
	raw := map[string]any{}
	getJSON(t, base+"/api/insights/performance-detailed?window=7d", &raw)
	pr := raw["environment_performance"].(map[string]any)["provisioning"].(map[string]any)
	require.Equal(t, float64(len(durations)+failures), pr["sample_size"])
	require.Equal(t, math.Round(sum/float64(len(durations))*100)/100, pr["average_seconds"])
	require.Equal(t, nearest(0.5), pr["p50_seconds"])
	require.Equal(t, nearest(0.95), pr["p95_seconds"])
	require.Equal(t, nearest(0.99), pr["p99_seconds"])
	require.Equal(t, math.Round(10000*float64(len(durations))/float64(len(durations)+failures))/100, pr["success_rate"])
	require.NotEmpty(t, raw["recommendations"], "recommendations")
	require.Len(t, raw["targets"], 3)
}

// TestQueriesFromJournal: with no InfluxDB configured, the API answers from the journal.
func TestQueriesFromJournal(t *testing.T) {
	h := newHarness(t, harnessOpts{perKind: 4, static: 2})
	h.start()
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		h.step(at)
	}
	srv := httptest.NewServer(h.app.handler())
	defer srv.Close()
	checkQueries(t, h, srv.URL)
	var list struct {
		Count        int
		Environments []map[string]any
	}
	getJSON(t, srv.URL+"/api/environments", &list)
	require.Equal(t, len(h.sc.Stories), list.Count)
	var one map[string]any
	getJSON(t, fmt.Sprintf("%s/api/environments/%s", srv.URL, h.sc.Stories[0].ID), &one)
	require.Equal(t, "ready", one["phase"])
}
