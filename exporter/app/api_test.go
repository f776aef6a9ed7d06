package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestAPIBadInput: every kind of bad input gets its status and a JSON error, and none
// of it is recorded.
func TestAPIBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{perKind: 1, extraConfig: "api: {write_tokens: [ci-token], read_tokens: [reader-token]}\n"})
	h.start()
	h.step(h.sc.Start.Add(scenarioMinutes(5)))
	srv := httptest.NewServer(h.app.handler())
	defer srv.Close()
	before := len(h.journal())

	big := `{"environment_id":"pr-1","event":"created","metadata":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		errPart                         string
	}{
		{"malformed JSON", "POST", "/api/events", "ci-token", `{"environment_id":`, 400, "malformed JSON"},
		{"not an object", "POST", "/api/events", "ci-token", `[1,2]`, 422, "JSON object"},
		{"unknown field", "POST", "/api/events", "ci-token", `{"environment_id":"pr-1","event":"created","colour":"red"}`, 422, `unknown field "colour"`},
		{"wrong type", "POST", "/api/events", "ci-token", `{"environment_id":42,"event":"created"}`, 422, `field "environment_id": want string`},
		{"wrong metadata type", "POST", "/api/events", "ci-token", `{"environment_id":"pr-1","event":"created","metadata":[1]}`, 422, `field "metadata"`},
		{"bad timestamp", "POST", "/api/events", "ci-token", `{"environment_id":"pr-1","event":"created","timestamp":"yesterday"}`, 422, "RFC 3339"},
		{"missing environment_id", "POST", "/api/events", "ci-token", `{"event":"created"}`, 422, `missing field "environment_id"`},
		{"missing event", "POST", "/api/events", "ci-token", `{"environment_id":"pr-1"}`, 422, `missing field "event"`},
		{"unknown event", "POST", "/api/events", "ci-token", `{"environment_id":"pr-1","event":"exploded"}`, 422, `unknown event "exploded"`},
		{"id with a quote", "POST", "/api/events", "ci-token", `{"environment_id":"a\"b","event":"created"}`, 422, "invalid environment_id"},
		{"id with a backslash", "POST", "/api/events", "ci-token", `{"environment_id":"a\\b","event":"created"}`, 422, "invalid environment_id"},
		{"id with ${", "POST", "/api/events", "ci-token", `{"environment_id":"${x}","event":"created"}`, 422, "invalid environment_id"},
		{"id with |>", "POST", "/api/events", "ci-token", `{"environment_id":"a|>drop()","event":"created"}`, 422, "invalid environment_id"},
		{"marker without application", "POST", "/api/events", "ci-token", `{"kind":"deployment","environment":"test","activity":"x","status":"success"}`, 422, `missing field "application"`},
		{"marker of unknown kind", "POST", "/api/events", "ci-token", `{"kind":"party","environment":"test"}`, 422, `unknown kind "party"`},
		{"marker with bad status", "POST", "/api/events", "ci-token", `{"kind":"deployment","environment":"test","application":"a","activity":"x","status":"Very Bad"}`, 422, "invalid status"},
		{"oversize body", "POST", "/api/events", "ci-token", big, 413, "body over 1048576 bytes"},
		{"no token", "POST", "/api/events", "", `{"environment_id":"pr-1","event":"created"}`, 401, "missing bearer token"},
		{"wrong token", "POST", "/api/events", "nope", `{"environment_id":"pr-1","event":"created"}`, 401, "invalid bearer token"},
		{"read token cannot write", "POST", "/api/events", "reader-token", `{"environment_id":"pr-1","event":"created"}`, 401, "invalid bearer token"},
		{"read without token", "GET", "/api/environments", "", "", 401, "missing bearer token"},
		{"unknown environment", "GET", "/api/environments/env-999", "reader-token", "", 404, `unknown environment "env-999"`},
		{"unknown timeline", "GET", "/api/environments/env-999/timeline", "reader-token", "", 404, "environment not found"},
		{"timeline id with a quote", "GET", `/api/environments/a"b/timeline`, "reader-token", "", 400, "invalid environment id"},
		{"timeline id with ${", "GET", "/api/environments/$%7Bx%7D/timeline", "reader-token", "", 400, "invalid environment id"},
		{"bad window", "GET", "/api/insights/performance-detailed?window=forever", "reader-token", "", 400, "invalid window"},
		{"negative window", "GET", "/api/insights/performance-detailed?window=-1d", "reader-token", "", 400, "invalid window"},
		{"type with |>", "GET", "/api/insights/performance-detailed?type=a%7C%3Eb", "reader-token", "", 400, "invalid type"},
		{"unknown phase", "GET", "/api/environments?phase=melting", "reader-token", "", 400, "unknown phase"},
		{"unknown endpoint", "GET", "/api/nothing", "reader-token", "", 404, "no such API endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			require.NoError(t, err)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, c.status, resp.StatusCode, "body: %s", b)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(b, &e), "not JSON: %s", b)
			require.Contains(t, e.Error, c.errPart)
			require.NotContains(t, string(b), "ci-token")
		})
	}
	require.Len(t, h.journal(), before, "bad input was recorded")

	// And the good ones.
	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer ci-token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp.StatusCode, m
	}
	code, m := post(`{"environment_id":"api-1","event":"created","timestamp":"2025-01-07T10:01:00Z"}`)
	require.Equal(t, 202, code, m)
	require.NotEmpty(t, m["id"])
	code, m = post(`{"environment_id":"api-1","event":"created","timestamp":"2025-01-07T10:01:00Z"}`)
	require.Equal(t, 200, code, m)
	require.Equal(t, "unchanged", m["status"])
	code, m = post(`{"kind":"deployment","environment":"test","host":"host1","application":"app1","activity":"deployment-app1-1.2.34","status":"success"}`)
	require.Equal(t, 202, code, m)
	require.Len(t, h.journal(), before+2)
}

func scenarioMinutes(n int) time.Duration { return time.Duration(n) * time.Minute }

// TestConcurrentPushesGroupCommit: many pushes at once are all recorded, each answered
// with its own event, whatever transaction carried it.
func TestConcurrentPushesGroupCommit(t *testing.T) {
	h := newHarness(t, harnessOpts{perKind: 1})
	h.start()
	const n = 200
	var wg sync.WaitGroup
	ids := make([][]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("push-%03d", i)
			evs, err := h.app.pushes.Push(id, tracker.Push{Event: event.Created, Time: h.sc.Start})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, id, evs[0].EnvironmentID)
			m, err := h.app.pushes.Mark(event.Event{EnvironmentID: id, Name: event.Deployed, Time: h.sc.Start,
				Metadata: map[string]any{"kind": "deployment", "status": "success"}})
			require.NoError(t, err)
			require.Equal(t, id, m.EnvironmentID)
			ids[i] = []string{evs[0].ID, m.ID}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, pair := range ids {
		for _, id := range pair {
			require.False(t, seen[id], "event id %s answered twice", id)
			seen[id] = true
		}
	}
	require.Len(t, h.journal(), 2*n)
}
