package fakegrafana

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// do sends a request with the given Authorization header ("" sends none) and returns the
// status, content type and body.
func do(t *testing.T, s *Server, method, path, auth, body string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func bearer(tok string) string { return "Bearer " + tok }

func post(t *testing.T, s *Server, body string) (int, string) {
	t.Helper()
	code, _, b := do(t, s, http.MethodPost, "/api/annotations", bearer(DefaultToken), body)
	return code, b
}

func find(t *testing.T, s *Server, query string) (int, string) {
	t.Helper()
	code, _, b := do(t, s, http.MethodGet, "/api/annotations"+query, bearer(DefaultToken), "")
	return code, b
}

func TestAuthentication(t *testing.T) {
	s := NewServer(t, WithReadOnlyToken("glsa_viewer_00000000"))
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	const invalidKey = `{"extra":null,"message":"Invalid API key","messageId":"api-key.invalid","statusCode":401,"traceID":""}`
	for _, tc := range []struct {
		name, method, auth string
		code               int
		body               string
	}{
		{"none", http.MethodGet, "", 401, `{"message":"Unauthorized"}`},
		{"none post", http.MethodPost, "", 401, `{"message":"Unauthorized"}`},
		{"empty bearer", http.MethodGet, "Bearer ", 401, `{"message":"Unauthorized"}`},
		{"other scheme", http.MethodGet, "Token " + DefaultToken, 401, `{"message":"Unauthorized"}`},
		{"wrong token", http.MethodGet, bearer("glsa_wrong_12345678"), 401, invalidKey},
		{"wrong token post", http.MethodPost, bearer("glsa_wrong_12345678"), 401, invalidKey},
		{"basic user", http.MethodGet, basic("admin", "admin"), 401,
			`{"extra":null,"message":"Invalid username or password","messageId":"password-auth.failed","statusCode":401,"traceID":""}`},
		{"basic api_key", http.MethodGet, basic("api_key", DefaultToken), 200, `[]`},
		{"bearer", http.MethodGet, bearer(DefaultToken), 200, `[]`},
		{"viewer reads", http.MethodGet, bearer("glsa_viewer_00000000"), 200, `[]`},
		{"viewer posts", http.MethodPost, bearer("glsa_viewer_00000000"), 403,
			`{"accessErrorId":"ACE0000000001","message":"You'll need additional permissions to perform this action. Permissions needed: annotations:create","title":"Access denied"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ct, body := do(t, s, tc.method, "/api/annotations", tc.auth, `{"text":"x"}`)
			require.Equal(t, tc.code, code)
			require.Equal(t, "application/json", ct)
			require.Equal(t, tc.body, body)
		})
	}
	require.Empty(t, s.Annotations(), "no request above may store")
}

func TestWithToken(t *testing.T) {
	s := NewServer(t, WithToken("glsa_custom_deadbeef"))
	require.Equal(t, "glsa_custom_deadbeef", s.Token())
	code, _, _ := do(t, s, http.MethodGet, "/api/annotations", bearer(DefaultToken), "")
	require.Equal(t, 401, code, "the default token is replaced")
	code, _, _ = do(t, s, http.MethodGet, "/api/annotations", bearer("glsa_custom_deadbeef"), "")
	require.Equal(t, 200, code)
}

func TestPostAndFind(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock))
	code, body := post(t, s, `{"time":1736240000000,"timeEnd":1736240225000,"tags":["envtrack","env:pr-1"],"text":"pr-1 ready after 3m45s"}`)
	require.Equal(t, 200, code)
	require.Equal(t, `{"id":1,"message":"Annotation added"}`, body)

	code, body = find(t, s, "?tags=envtrack&type=annotation&limit=1")
	require.Equal(t, 200, code)
	require.JSONEq(t, `[{
		"id":1,"alertId":0,"alertName":"","dashboardId":0,"dashboardUID":null,"panelId":0,"userId":2,
		"newState":"","prevState":"","created":1736244000000,"updated":1736244000000,
		"time":1736240000000,"timeEnd":1736240225000,"text":"pr-1 ready after 3m45s",
		"tags":["envtrack","env:pr-1"],"login":"sa-1-envtrack","email":"sa-1-envtrack",
		"avatarUrl":"/avatar/`+gravatarHash("sa-1-envtrack")+`","data":{}}]`, body)
	// Same field order as Grafana's ItemDTO.
	require.True(t, strings.HasPrefix(body, `[{"id":1,"alertId":0,"alertName":"","dashboardId":0,"dashboardUID":null,`), body)

	anns := s.Annotations()
	require.Len(t, anns, 1)
	require.True(t, anns[0].IsRegion())
	require.True(t, anns[0].HasTag(" env : pr-1 "))
	require.False(t, anns[0].HasTag("env:pr-2"))
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func gravatarHash(email string) string { return strings.TrimPrefix(gravatarURL(email), "/avatar/") }

func TestPostValidation(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
		answer     string
		check      func(t *testing.T, a Annotation)
	}{
		{name: "empty text", body: `{"time":1,"tags":["a"],"text":""}`, code: 400,
			answer: `{"message":"Failed to save annotation","traceID":""}`},
		{name: "no text", body: `{"time":1}`, code: 400,
			answer: `{"message":"Failed to save annotation","traceID":""}`},
		{name: "not json", body: `time=1`, code: 400, answer: `{"message":"bad request data","traceID":""}`},
		{name: "wrong type", body: `{"time":"yesterday","text":"x"}`, code: 400, answer: `{"message":"bad request data","traceID":""}`},
		{name: "point", body: `{"time":1000,"text":"x"}`, code: 200, check: func(t *testing.T, a Annotation) {
			require.Equal(t, int64(1000), a.Time)
			require.Equal(t, int64(1000), a.TimeEnd)
			require.False(t, a.IsRegion())
			require.Equal(t, []string{}, a.Tags)
		}},
		{name: "no time is now", body: `{"text":"x"}`, code: 200, check: func(t *testing.T, a Annotation) {
			require.Equal(t, t0.UnixMilli(), a.Time)
			require.Equal(t, t0.UnixMilli(), a.TimeEnd)
		}},
		{name: "reversed region is swapped", body: `{"time":5000,"timeEnd":2000,"text":"x"}`, code: 200,
			check: func(t *testing.T, a Annotation) {
				require.Equal(t, int64(2000), a.Time)
				require.Equal(t, int64(5000), a.TimeEnd)
			}},
		{name: "tags normalized", body: `{"time":1,"text":"x","tags":[" a ","a","b:c:d","","k : v",":x"]}`, code: 200,
			check: func(t *testing.T, a Annotation) {
				require.Equal(t, []string{"a", "b:c", "k:v"}, a.Tags)
			}},
		{name: "data kept", body: `{"time":1,"text":"x","data":{"k":"v"}}`, code: 200,
			check: func(t *testing.T, a Annotation) { require.Equal(t, map[string]any{"k": "v"}, a.Data) }},
		{name: "tags too long", body: `{"time":1,"text":"x","tags":["` + strings.Repeat("t", 497) + `"]}`, code: 400,
			answer: `{"extra":null,"message":"Tags length exceeds the maximum allowed.","messageId":"annotations.tag-limit-exceeded","statusCode":400,"traceID":""}`},
		{name: "tags at the limit", body: `{"time":1,"text":"x","tags":["` + strings.Repeat("t", 496) + `"]}`, code: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(t, WithClock(fixedClock))
			code, body := post(t, s, tc.body)
			require.Equal(t, tc.code, code, body)
			if tc.answer != "" {
				require.Equal(t, tc.answer, body)
			}
			if code != 200 {
				require.Empty(t, s.Annotations())
				return
			}
			require.Len(t, s.Annotations(), 1)
			if tc.check != nil {
				tc.check(t, s.Annotations()[0])
			}
		})
	}
}

func TestDashboards(t *testing.T) {
	s := NewServer(t, WithDashboard("envtrack", 7))
	code, _ := post(t, s, `{"dashboardUID":"envtrack","time":1,"text":"on the dashboard"}`)
	require.Equal(t, 200, code)
	code, _ = post(t, s, `{"dashboardUID":"nope","time":2,"text":"unknown uid: organization"}`)
	require.Equal(t, 200, code)

	anns := s.Annotations()
	require.Equal(t, int64(7), anns[0].DashboardID)
	require.Equal(t, "envtrack", *anns[0].DashboardUID)
	require.Equal(t, int64(0), anns[1].DashboardID)
	require.Nil(t, anns[1].DashboardUID)

	code, body := find(t, s, "?dashboardUID=envtrack")
	require.Equal(t, 200, code)
	require.Contains(t, body, `"dashboardId":7,"dashboardUID":"envtrack"`)
	require.NotContains(t, body, "unknown uid")

	code, body = find(t, s, "?dashboardUID=nope")
	require.Equal(t, 400, code)
	require.Equal(t, `{"message":"Invalid dashboard UID in annotation request","traceID":""}`, body)
}

func TestFindFilters(t *testing.T) {
	s := NewServer(t)
	s.Add(Annotation{Time: 1000, Text: "a", Tags: []string{"envtrack", "env:a", "event:ready"}})                // 1
	s.Add(Annotation{Time: 2000, TimeEnd: 5000, Text: "b", Tags: []string{"envtrack", "env:b", "event:ready"}}) // 2
	s.Add(Annotation{Time: 3000, Text: "c", Tags: []string{"deployment", "env:a"}})                             // 3
	s.Add(Annotation{Time: 4000, Text: "alert", AlertID: 9, Tags: []string{"envtrack"}})                        // 4
	s.Add(Annotation{Time: 6000, Text: "d", UserID: 5, Tags: []string{"envtrack", "env:a:b"}})                  // 5: stored as env:a

	ids := func(query string) []int64 {
		t.Helper()
		code, body := find(t, s, query)
		require.Equal(t, 200, code, body)
		var list []Annotation
		require.NoError(t, jsonUnmarshal(body, &list))
		out := []int64{}
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	// Order: timeEnd DESC, then time DESC.
	require.Equal(t, []int64{5, 2, 4, 3, 1}, ids(""))
	require.Equal(t, []int64{5, 2, 4, 1}, ids("?tags=envtrack"))
	require.Equal(t, []int64{5, 2, 1}, ids("?tags=envtrack&type=annotation"))
	require.Equal(t, []int64{4}, ids("?type=alert"))
	require.Equal(t, []int64{5, 1}, ids("?tags=envtrack&tags=env:a"), "AND")
	require.Equal(t, []int64{5, 2, 3, 1}, ids("?tags=env:a&tags=envtrack&matchAny=true&tags=event:nothing&type=annotation&type=alert"), "first type wins")
	require.Equal(t, []int64{5, 2, 3, 1}, ids("?tags=env:a&tags=event:ready&matchAny=true"), "OR")
	require.Equal(t, []int64{5, 2, 3, 1}, ids("?tags=env"), "a key alone matches any value")
	require.Equal(t, []int64{}, ids("?tags=env:c"))
	require.Equal(t, []int64{2, 4, 3}, ids("?from=2500&to=4500"), "overlapping the range")
	require.Equal(t, []int64{5, 2, 4, 3, 1}, ids("?from=2500"), "from alone does not filter")
	require.Equal(t, []int64{5, 2}, ids("?limit=2"))
	require.Equal(t, []int64{5}, ids("?userId=5"))
	require.Equal(t, []int64{5, 2, 4, 3, 1}, ids("?limit=x&userId=y"), "unparseable numbers are 0")
}

func TestFindDefaultLimit(t *testing.T) {
	s := NewServer(t)
	for i := range 101 {
		s.Add(Annotation{Time: int64(i + 1), Text: "x"})
	}
	code, body := find(t, s, "")
	require.Equal(t, 200, code)
	var list []Annotation
	require.NoError(t, jsonUnmarshal(body, &list))
	require.Len(t, list, 100)
	require.Equal(t, int64(101), list[0].ID)
}

func TestNotFound(t *testing.T) {
	s := NewServer(t)
	code, _, body := do(t, s, http.MethodGet, "/api/dashboards/uid/x", bearer(DefaultToken), "")
	require.Equal(t, 404, code)
	require.Equal(t, `{"message":"Not found"}`, body)
	code, _, _ = do(t, s, http.MethodPut, "/api/annotations", bearer(DefaultToken), `{}`)
	require.Equal(t, 404, code)
}

func TestFaultStatus(t *testing.T) {
	s := NewServer(t)
	s.SetFault(ServerError("Failed to save annotation").Limit(2))
	for range 2 {
		code, body := post(t, s, `{"time":1,"text":"x"}`)
		require.Equal(t, 500, code)
		require.Equal(t, `{"message":"Failed to save annotation","traceID":""}`, body)
	}
	code, _ := post(t, s, `{"time":1,"text":"x"}`)
	require.Equal(t, 200, code, "the fault cleared itself after two requests")
	require.Len(t, s.Annotations(), 1)

	s.SetFault(ProxyError(http.StatusBadGateway))
	code, ct, body := do(t, s, http.MethodGet, "/api/annotations", bearer(DefaultToken), "")
	require.Equal(t, 502, code)
	require.Equal(t, "text/html", ct)
	require.Contains(t, body, "<title>502 Bad Gateway</title>")

	s.SetFault(Unauthorized())
	code, body = find(t, s, "")
	require.Equal(t, 401, code)
	require.Contains(t, body, `"message":"Invalid API key"`)

	s.SetFault(Forbidden())
	code, body = post(t, s, `{"time":1,"text":"x"}`)
	require.Equal(t, 403, code)
	require.Contains(t, body, `"title":"Access denied"`)

	s.SetFault(Respond(200, "application/json", `{"message":"Annotation added"}`))
	code, body = post(t, s, `{"time":1,"text":"x"}`)
	require.Equal(t, 200, code)
	require.Equal(t, `{"message":"Annotation added"}`, body)

	s.ClearFault()
	require.Len(t, s.Annotations(), 1, "no faulted request stored")
}

func TestFaultMethodSkipLimit(t *testing.T) {
	s := NewServer(t)
	s.SetFault(ServerError("boom").For(http.MethodPost).SkipFirst(1).Limit(1))
	code, _ := find(t, s, "")
	require.Equal(t, 200, code, "GET is not concerned")
	code, _ = post(t, s, `{"time":1,"text":"first"}`)
	require.Equal(t, 200, code, "skipped")
	code, _ = post(t, s, `{"time":1,"text":"second"}`)
	require.Equal(t, 500, code)
	code, _ = post(t, s, `{"time":1,"text":"third"}`)
	require.Equal(t, 200, code)
	require.Len(t, s.Annotations(), 2)
}

func TestFaultHangHonoursClient(t *testing.T) {
	s := NewServer(t)
	s.SetFault(Hang())
	// The client gives up only once the request is held by the server: a deadline on
	// the client alone could expire while dialling on a busy machine, before anything arrived.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/api/annotations", strings.NewReader(`{"time":1,"text":"x"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", bearer(DefaultToken))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.NoError(t, s.WaitArrivals(context.Background(), 1))
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	require.NoError(t, s.WaitRequests(context.Background(), 1), "the abandoned request ends and is counted")
	log := s.Log()
	require.Equal(t, 0, log[0].Status)
	require.Empty(t, s.Annotations())
}

func TestFaultSlowThenAnswers(t *testing.T) {
	s := NewServer(t)
	s.SetFault(Slow(10 * time.Millisecond).Limit(1))
	code, _ := post(t, s, `{"time":1,"text":"x"}`)
	require.Equal(t, 200, code)
	require.Len(t, s.Annotations(), 1)
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	s := New()
	s.Start()
	s.SetFault(Hang())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/annotations", nil)
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The request is held: Close must end it rather than wait forever.
	require.NoError(t, s.WaitArrivals(ctx, 1))
	s.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close did not release the hanging request")
	}
}

func TestStoreThenDrop(t *testing.T) {
	s := NewServer(t)
	s.SetFault(StoreThen(Drop()).Limit(1))
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/api/annotations", strings.NewReader(`{"time":1,"text":"saved, never acknowledged"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", bearer(DefaultToken))
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	require.True(t, errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF"), err)

	anns := s.Annotations()
	require.Len(t, anns, 1, "stored before the connection dropped")
	log := s.Log()
	require.Len(t, log, 1)
	require.Equal(t, 0, log[0].Status)
	require.Equal(t, int64(1), log[0].Stored)

	code, _ := post(t, s, `{"time":2,"text":"next"}`)
	require.Equal(t, 200, code, "one request only")
}

func TestStoreThenIgnoresRequestsThatDoNotStore(t *testing.T) {
	s := NewServer(t)
	s.SetFault(StoreThen(ServerError("Failed to save annotation")).Limit(1))
	code, _ := post(t, s, `{"time":1,"text":""}`)
	require.Equal(t, 400, code, "nothing stored: the real answer, fault kept")
	code, _ = find(t, s, "")
	require.Equal(t, 200, code)
	code, body := post(t, s, `{"time":1,"text":"x"}`)
	require.Equal(t, 500, code, body)
	require.Len(t, s.Annotations(), 1, "stored although the answer is a 500")
	code, _ = post(t, s, `{"time":1,"text":"y"}`)
	require.Equal(t, 200, code)
}

func TestWaitRequests(t *testing.T) {
	s := NewServer(t)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { find(t, s, "") })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.WaitRequests(ctx, 5))
	wg.Wait()
	require.Equal(t, 5, s.Requests())

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	err := s.WaitRequests(short, 6)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), "waiting for 6 requests (served 5)")
}

func TestDelete(t *testing.T) {
	s := NewServer(t, WithClock(fixedClock), WithReadOnlyToken("glsa_viewer_00000000"))
	first := s.Add(Annotation{Time: 1000, Text: "a", Tags: []string{"envtrack-id:e1"}})
	second := s.Add(Annotation{Time: 1000, Text: "a", Tags: []string{"envtrack-id:e1"}})
	del := func(auth, id string) (int, string) {
		code, _, b := do(t, s, http.MethodDelete, "/api/annotations/"+id, auth, "")
		return code, b
	}
	for _, tc := range []struct {
		name, auth, id string
		code           int
		body           string
	}{
		{"no token", "", "2", 401, `{"message":"Unauthorized"}`},
		{"viewer", bearer("glsa_viewer_00000000"), "2", 403,
			`{"accessErrorId":"ACE0000000001","message":"You'll need additional permissions to perform this action. Permissions needed: annotations:delete","title":"Access denied"}`},
		{"not a number", bearer(DefaultToken), "x", 400, `{"message":"annotationId is invalid","traceID":""}`},
		{"unknown", bearer(DefaultToken), "99", 404, `{"message":"Annotation not found","traceID":""}`},
		{"deleted", bearer(DefaultToken), "2", 200, `{"message":"Annotation deleted"}`},
		{"again", bearer(DefaultToken), "2", 404, `{"message":"Annotation not found","traceID":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := del(tc.auth, tc.id)
			require.Equal(t, tc.code, code)
			require.JSONEq(t, tc.body, body)
		})
	}
	anns := s.Annotations()
	require.Len(t, anns, 1)
	require.Equal(t, first, anns[0].ID)
	require.NotEqual(t, first, second)
	code, body := find(t, s, "?tags=envtrack-id:e1")
	require.Equal(t, 200, code)
	var got []Annotation
	require.NoError(t, jsonUnmarshal(body, &got))
	require.Len(t, got, 1)
}
