package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// pushApp starts an envtrack with write token "ci" and no sinks; extra is more config.
func pushApp(t testing.TB, extra string) (*App, *httptest.Server, *clock) {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{}
	clk.Set(time.Date(2025, 1, 7, 12, 0, 0, 0, time.UTC))
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\napi: {write_tokens: [ci]%s}\n%s",
		filepath.Join(dir, "data"), extra, quietSources)), 0o600))
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, Now: clk.Now, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return a, srv, clk
}

func post(t testing.TB, url, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/api/events", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer ci")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func batchLines(n int, at time.Time, bad int) []string {
	lines := make([]string, n)
	for i := range lines {
		ev := "created"
		if i == bad {
			ev = "exploded"
		}
		lines[i] = fmt.Sprintf(`{"environment_id":"batch-%03d","event":%q,"timestamp":%q,"type":"preview"}`,
			i, ev, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
	}
	return lines
}

// TestBatchPush: a batch with one invalid event among 500 stores nothing and names the
// index; a valid one stores all, in order, with ids, in one transaction; the same batch
// again is unchanged; NDJSON names the line; api.max_batch bounds a batch.
func TestBatchPush(t *testing.T) {
	a, srv, _ := pushApp(t, ", max_batch: 600")
	at := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

	// One bad event among 500, as a JSON array: 422 naming it, nothing stored.
	status, body := post(t, srv.URL, "application/json", "["+strings.Join(batchLines(500, at, 317), ",")+"]")
	require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
	var be apitypes.BatchError
	require.NoError(t, json.Unmarshal(body, &be))
	require.Equal(t, 317, be.Index)
	require.Contains(t, be.Error, `event 317: unknown event "exploded"`)
	require.Zero(t, a.store.LastSeq(), "nothing stored")
	_, known := a.tracker.Get("batch-000")
	require.False(t, known, "no state changed")

	// The same as NDJSON: the answer names the line too.
	lines := batchLines(500, at, 41)
	status, body = post(t, srv.URL, "application/x-ndjson", "\n"+strings.Join(lines, "\n")+"\n")
	require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &be))
	require.Equal(t, apitypes.BatchError{Error: be.Error, Index: 41, Line: 43}, be)
	require.Zero(t, a.store.LastSeq())

	// A valid batch: every event stored, in order, each with its id, in one commit.
	commits, _ := commitStats(t, a)
	lines = batchLines(500, at, -1)
	status, body = post(t, srv.URL, "application/x-ndjson", strings.Join(lines, "\n"))
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	var acc apitypes.BatchAccepted
	require.NoError(t, json.Unmarshal(body, &acc))
	require.Equal(t, "accepted", acc.Status)
	require.Equal(t, 500, acc.Accepted)
	require.Zero(t, acc.Unchanged)
	require.Len(t, acc.IDs, 500)
	require.Len(t, acc.Events, 500)
	journal, err := a.store.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, journal, 500)
	for i, e := range journal {
		require.Equal(t, e.ID, acc.IDs[i])
		require.Equal(t, []string{e.ID}, acc.Events[i].IDs)
		require.Equal(t, fmt.Sprintf("batch-%03d", i), e.EnvironmentID)
		require.Equal(t, at.Add(time.Duration(i)*time.Second), e.Time)
	}
	commitsAfter, _ := commitStats(t, a)
	require.Equal(t, commits+1, commitsAfter, "one transaction for the batch")

	// The same batch again (an array this time): all unchanged, nothing stored.
	status, body = post(t, srv.URL, "", "["+strings.Join(lines, ",")+"]")
	require.Equal(t, http.StatusOK, status, "%s", body)
	acc = apitypes.BatchAccepted{}
	require.NoError(t, json.Unmarshal(body, &acc))
	require.Equal(t, "unchanged", acc.Status)
	require.Equal(t, 500, acc.Unchanged)
	require.Empty(t, acc.IDs)
	require.Equal(t, uint64(500), a.store.LastSeq())

	// Markers and repeated deployed events in a batch; a repeat inside the batch too.
	marker := `{"kind":"deployment","environment":"batch-001","application":"api","activity":"deploy 1.2","status":"success","timestamp":"2025-01-07T11:00:00Z"}`
	deployed := `{"environment_id":"batch-002","event":"deployed","timestamp":"2025-01-07T11:00:00Z"}`
	status, body = post(t, srv.URL, "application/json", "["+marker+","+deployed+","+marker+"]")
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	acc = apitypes.BatchAccepted{}
	require.NoError(t, json.Unmarshal(body, &acc))
	require.Equal(t, []string{"accepted", "accepted", "unchanged"},
		[]string{acc.Events[0].Status, acc.Events[1].Status, acc.Events[2].Status})
	status, body = post(t, srv.URL, "application/x-ndjson", marker+"\n"+deployed)
	require.Equal(t, http.StatusOK, status, "a CI retry of both: %s", body)
	require.Equal(t, uint64(502), a.store.LastSeq())

	// Bounds.
	status, body = post(t, srv.URL, "application/json", "["+strings.Join(batchLines(601, at, -1), ",")+"]")
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, string(body), "at most 600 per request (api.max_batch)")
	status, body = post(t, srv.URL, "application/json", "[]")
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Contains(t, string(body), "empty batch")
	status, _ = post(t, srv.URL, "application/x-ndjson", "{\"environment_id\":")
	require.Equal(t, http.StatusBadRequest, status)
}

// TestBatchRefusedForStateStoresNothing: an item refused for the state it would apply
// to (an environment envtrack never saw, time going backwards) makes the whole batch
// 422 naming it, with nothing of the batch stored, also the valid items before it and
// the markers beside it; a batch of another request in the same group commit is not
// affected.
func TestBatchRefusedForStateStoresNothing(t *testing.T) {
	a, srv, _ := pushApp(t, "")
	at := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	cases := []struct {
		name  string
		body  string
		index int
	}{
		{"unknown environment", `[{"environment_id":"ok-1","event":"created","timestamp":"` + at + `"},
			{"kind":"deployment","environment":"ok-1","host":"h1","application":"api","activity":"deploy-api-1","status":"success","timestamp":"` + at + `"},
			{"environment_id":"never-seen","event":"ready","timestamp":"` + at + `"}]`, 2},
		{"time going backwards", `[{"environment_id":"ok-2","event":"provisioning_started","timestamp":"2025-01-06T09:00:00Z"},
			{"environment_id":"ok-2","event":"provisioning_failed","reason":"timeout","timestamp":"2025-01-06T08:00:00Z"}]`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.store.LastSeq()
			status, body := post(t, srv.URL, "application/json", tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
			var be apitypes.BatchError
			require.NoError(t, json.Unmarshal(body, &be))
			require.Equal(t, tc.index, be.Index, "%s", body)
			require.Equal(t, before, a.store.LastSeq(), "nothing of the batch stored")
			for _, id := range []string{"ok-1", "ok-2", "never-seen"} {
				_, known := a.tracker.Get(id)
				require.False(t, known, "%s: no state changed", id)
			}
		})
	}
	// The valid items alone go through.
	status, body := post(t, srv.URL, "application/json", `[{"environment_id":"ok-1","event":"created","timestamp":"`+at+`"}]`)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
}

// TestPushLogLines: a batch push logs one line at info for its commit and a line per
// event at debug (not hundreds of lines at info per request); a commit of one event (a
// lone push) logs it at info, as the tracker's transitions are.
func TestPushLogLines(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: "api: {write_tokens: [ci]}\n"})
	marker := func(activity string) string {
		return fmt.Sprintf(`{"kind":"deployment","environment":"test","application":"app","activity":%q,"status":"success"}`, activity)
	}
	auth := []string{"Authorization", "Bearer ci"}
	code, _, body := d.do(http.MethodPost, "/api/events", marker("a1")+"\n"+marker("a2")+"\n"+marker("a3")+"\n",
		append(auth, "Content-Type", "application/x-ndjson")...)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Len(t, d.logs.Lines(`msg="pushed events"`), 1, d.logs.String())
	require.Len(t, d.logs.Lines("level=info", `msg="pushed events"`, "events=3", "environment_id=test", "marker=true"), 1, d.logs.String())
	require.Len(t, d.logs.Lines(`msg="pushed event"`), 3)
	require.Len(t, d.logs.Lines("level=debug", `msg="pushed event"`, "environment_id=test", "event=deployed"), 3)

	code, _, body = d.do(http.MethodPost, "/api/events", marker("a4"), append(auth, "Content-Type", "application/json")...)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Len(t, d.logs.Lines("level=info", `msg="pushed event"`, "environment_id=test", "seq=4"), 1, d.logs.String())
	require.Len(t, d.logs.Lines(`msg="pushed events"`), 1, "one commit of one event: its own line")
}
