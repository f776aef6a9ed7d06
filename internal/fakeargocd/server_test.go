package fakeargocd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// get sends an authenticated GET (token "" sends none) and returns the answer and its body.
func get(t *testing.T, s *Server, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func decodeStrict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v))
}

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// TestFidelity loads the reference answer (real Argo CD v2.14 encoding) into the fake's
// types, serves it, and requires the HTTP answer to be the same JSON.
func TestFidelity(t *testing.T) {
	ref := ReferenceList(t)
	var list ApplicationList
	decodeStrict(t, ref, &list)
	require.Len(t, list.Items, 4)

	rv, err := strconv.ParseInt(list.Metadata.ResourceVersion, 10, 64)
	require.NoError(t, err)
	s := NewServer(t)
	// Reverse the order: the server must sort by name itself.
	items := append([]Application(nil), list.Items...)
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	s.SetApps(items)
	s.SetResourceVersion(rv)

	resp, body := get(t, s, "/api/v1/applications", s.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.JSONEq(t, string(ref), string(body))

	// Each app alone, through the Get endpoint.
	for _, a := range list.Items {
		want, err := json.Marshal(a)
		require.NoError(t, err)
		resp, body := get(t, s, "/api/v1/applications/"+a.Metadata.Name, s.Token())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.JSONEq(t, string(want), string(body))
	}
}

// TestFixtureAppsMatchReference proves FixtureApps is the reference answer, field for field.
func TestFixtureAppsMatchReference(t *testing.T) {
	ref := ReferenceList(t)
	s := NewServer(t, WithApps(FixtureApps()...), WithResourceVersion(FixtureResourceVersion))
	_, body := get(t, s, "/api/v1/applications", s.Token())
	require.JSONEq(t, string(ref), string(body))
}

func TestEmptyList(t *testing.T) {
	s := NewServer(t, WithResourceVersion(7))
	resp, body := get(t, s, "/api/v1/applications", s.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Argo CD builds the items with make([]Application, 0): an empty array.
	require.Equal(t, `{"metadata":{"resourceVersion":"7"},"items":[]}`, string(body))

	// With fields, its processor starts from a nil slice: null.
	_, body = get(t, s, "/api/v1/applications?fields=items.metadata.name", s.Token())
	require.JSONEq(t, `{"metadata":{"resourceVersion":"7"},"items":null}`, string(body))
}

func TestSelectorParse(t *testing.T) {
	labels := map[string]string{"env": "pr", "team": "blue", "managed": "true"}
	for _, tc := range []struct {
		sel   string
		match bool
	}{
		{"", true},
		{"env=pr", true},
		{"env==pr", true},
		{"env=prod", false},
		{"env!=prod", true},
		{"env!=pr", false},
		{"missing!=x", true},
		{"env", true},
		{"missing", false},
		{"!missing", true},
		{"!env", false},
		{"env=pr,team=blue", true},
		{"env=pr, team=red", false},
		{"env in (pr,prod)", true},
		{"env in (prod, staging)", false},
		{"env notin (prod)", true},
		{"missing notin (x)", true},
		{"env in (pr),managed=true", true},
		{"blueberry.io/managed", false},
	} {
		t.Run(tc.sel, func(t *testing.T) {
			sel, err := ParseSelector(tc.sel)
			require.NoError(t, err)
			require.Equal(t, tc.match, sel.Matches(labels))
		})
	}
	for _, bad := range []string{"env=pr,", "=x", "env in (a", "env in a", "a b=c", "env=has space", "/x=y"} {
		_, err := ParseSelector(bad)
		require.Error(t, err, bad)
	}
}

func names(t *testing.T, body []byte) []string {
	t.Helper()
	var list ApplicationList
	require.NoError(t, json.Unmarshal(body, &list))
	out := []string{}
	for _, a := range list.Items {
		out = append(out, a.Metadata.Name)
	}
	return out
}

func TestListSelectorAndProjects(t *testing.T) {
	s := NewServer(t, WithApps(
		NewApp("c", t0, WithType("preview"), WithProject("previews")),
		NewApp("a", t0, WithType("staging"), WithProject("")),
		NewApp("b", t0, WithType("preview"), WithoutLabel(LabelManaged), WithProject("other")),
	))
	list := func(q url.Values) []string {
		resp, body := get(t, s, "/api/v1/applications?"+q.Encode(), s.Token())
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return names(t, body)
	}
	require.Equal(t, []string{"a", "b", "c"}, list(nil))
	require.Equal(t, []string{"a", "c"}, list(url.Values{"selector": {LabelManaged + "=true"}}))
	require.Equal(t, []string{"b", "c"}, list(url.Values{"selector": {LabelEnvironmentType + "=preview"}}))
	require.Equal(t, []string{"b"}, list(url.Values{"selector": {"!" + LabelManaged}}))
	require.Equal(t, []string{"c"}, list(url.Values{"selector": {LabelManaged + "=true," + LabelEnvironmentType + "!=staging"}}))
	require.Equal(t, []string{"c"}, list(url.Values{"projects": {"previews"}}))
	require.Equal(t, []string{"a", "c"}, list(url.Values{"projects": {"previews", "default"}}))
	require.Equal(t, []string{"b"}, list(url.Values{"project": {"other"}}))
	require.Equal(t, []string{}, list(url.Values{"projects": {"previews,other"}})) // not split, as grpc-gateway
	require.Equal(t, []string{"c"}, list(url.Values{"projects": {"previews", "other"}, "selector": {LabelManaged}}))

	resp, body := get(t, s, "/api/v1/applications?selector="+url.QueryEscape("env in (a"), s.Token())
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	var eb ErrorBody
	require.NoError(t, json.Unmarshal(body, &eb))
	require.Equal(t, 2, eb.Code)
	require.True(t, strings.HasPrefix(eb.Error, "error parsing the selector: "), eb.Error)
}

// scenarioApps: "run" is syncing (has an operationState and syncResult), "new" was just
// created (no operationState, no annotations, no deletionTimestamp).
func scenarioApps() []Application {
	run := NewApp("run", t0, WithURL("https://run.example.com"))
	StartSync(&run, "abc123", t0.Add(5*time.Second))
	fresh := NewApp("new", t0.Add(time.Minute), WithoutLabel(LabelManaged), WithoutLabel(LabelEnvironmentID))
	return []Application{run, fresh}
}

func TestFieldsWhitelist(t *testing.T) {
	s := NewServer(t, WithApps(scenarioApps()...), WithResourceVersion(100))
	fields := strings.Join([]string{
		"items.metadata.name",
		"items.metadata.labels",
		"items.metadata.annotations",
		"items.metadata.deletionTimestamp",
		"items.metadata.resourceVersion", // not selectable: ignored
		"items.status.sync.status",
		"items.status.sync.revision", // not selectable: ignored
		"items.status.health",
		"items.status.history", // not selectable: ignored
		"items.status.operationState.phase",
		"items.status.operationState.message", // not selectable: ignored
		"items.status.operationState.finishedAt",
		"items.status.operationState.operation.sync",
		"items.status.resources",
	}, ",")
	resp, body := get(t, s, "/api/v1/applications?fields="+url.QueryEscape(fields), s.Token())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	want := `{
	  "metadata": {"resourceVersion": "100"},
	  "items": [
	    {
	      "metadata": {"name": "new", "labels": null, "annotations": null, "deletionTimestamp": null},
	      "status": {"sync": {"status": ""}, "health": {}}
	    },
	    {
	      "metadata": {
	        "name": "run",
	        "labels": {"blueberry.io/environment-id": "run", "blueberry.io/managed": "true"},
	        "annotations": {"blueberry.io/url": "https://run.example.com"},
	        "deletionTimestamp": null
	      },
	      "status": {
	        "sync": {"status": "OutOfSync"},
	        "health": {"status": "Progressing", "lastTransitionTime": "2025-01-07T10:00:05Z"},
	        "operationState": {
	          "phase": "Running",
	          "finishedAt": null,
	          "operation": {"sync": {"revision": "abc123", "source": {"repoURL": "https://github.com/acme/backend-api", "path": "deploy", "targetRevision": "main"}}}
	        }
	      }
	    }
	  ]
	}`
	require.JSONEq(t, want, string(body))

	// Exclusion list: every selectable path but the listed ones.
	_, body = get(t, s, "/api/v1/applications?fields="+url.QueryEscape("-items.spec,items.status.summary,items.metadata.labels,items.metadata.annotations,items.status.operationState.operation.sync"), s.Token())
	var got struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.Items, 2)
	run := got.Items[1]
	require.NotContains(t, run, "spec")
	meta := run["metadata"].(map[string]any)
	require.Equal(t, map[string]any{"name": "run", "namespace": "argocd", "creationTimestamp": "2025-01-07T10:00:00Z", "deletionTimestamp": nil}, meta)
	op := run["status"].(map[string]any)["operationState"].(map[string]any)
	require.Equal(t, map[string]any{"phase": "Running", "startedAt": "2025-01-07T10:00:05Z", "finishedAt": nil}, op)
}

func TestFieldsGeneric(t *testing.T) {
	s := NewServer(t, WithApps(scenarioApps()...), WithFieldsMode(FieldsGeneric))
	fields := "items.metadata.name,items.status.sync.revision,items.status.operationState.message"
	_, body := get(t, s, "/api/v1/applications?fields="+url.QueryEscape(fields), s.Token())
	// Any path is kept; the top-level metadata goes, since no field starts with it.
	want := `{"items": [
	  {"metadata": {"name": "new"}, "status": {"sync": {}}},
	  {"metadata": {"name": "run"}, "status": {"sync": {"revision": "abc123"}, "operationState": {}}}
	]}`
	require.JSONEq(t, want, string(body))
}

func TestAuth(t *testing.T) {
	s := NewServer(t, WithToken("s3cret"))
	for _, tc := range []struct {
		name   string
		header string
		cookie string
		status int
		body   string
	}{
		{"missing", "", "", 401, `{"error":"no session information","code":16,"message":"no session information"}`},
		{"basic", "Basic dXNlcjpwYXNz", "", 401, `{"error":"no session information","code":16,"message":"no session information"}`},
		{"malformed", "Bearer nope", "", 401, `{"error":"invalid session: token is malformed: token contains an invalid number of segments","code":16,"message":"invalid session: token is malformed: token contains an invalid number of segments"}`},
		{"bad signature", "Bearer a.b.c", "", 401, `{"error":"invalid session: token signature is invalid: signature is invalid","code":16,"message":"invalid session: token signature is invalid: signature is invalid"}`},
		{"bearer", "Bearer s3cret", "", 200, ""},
		{"bearer lower case", "bearer s3cret", "", 200, ""},
		{"cookie", "", "s3cret", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/applications", "/api/v1/applications/x?project=p"} {
				req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
				require.NoError(t, err)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				if tc.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "argocd.token", Value: tc.cookie})
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.status == 200 {
					require.NotEqual(t, 401, resp.StatusCode, string(body))
					continue
				}
				require.Equal(t, tc.status, resp.StatusCode)
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				require.JSONEq(t, tc.body, string(body))
			}
		})
	}
}

func TestGet(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("pr-1", t0, WithProject("previews"))))
	resp, body := get(t, s, "/api/v1/applications/pr-1", s.Token())
	require.Equal(t, 200, resp.StatusCode)
	var a Application
	decodeStrict(t, body, &a)
	require.Equal(t, "pr-1", a.Metadata.Name)

	resp, _ = get(t, s, "/api/v1/applications/pr-1?project=previews", s.Token())
	require.Equal(t, 200, resp.StatusCode)

	for _, tc := range []struct{ path, body string }{
		{"/api/v1/applications/nope", `{"error":"permission denied","code":7,"message":"permission denied"}`},
		{"/api/v1/applications/nope?project=previews", `{"error":"applications.argoproj.io \"nope\" not found","code":5,"message":"applications.argoproj.io \"nope\" not found"}`},
		{"/api/v1/applications/pr-1?project=other", `{"error":"applications.argoproj.io \"pr-1\" not found","code":5,"message":"applications.argoproj.io \"pr-1\" not found"}`},
		{"/api/v1/applications/pr-1?projects=a&projects=b", `{"error":"multiple projects specified - the get endpoint accepts either zero or one project","code":3,"message":"multiple projects specified - the get endpoint accepts either zero or one project"}`},
	} {
		resp, body := get(t, s, tc.path, s.Token())
		var eb ErrorBody
		require.NoError(t, json.Unmarshal(body, &eb))
		require.JSONEq(t, tc.body, string(body), tc.path)
		require.Equal(t, map[int]int{7: 403, 5: 404, 3: 400}[eb.Code], resp.StatusCode)
	}
	// Get is not a list request.
	require.Equal(t, 0, s.Requests())
}

func TestFaults(t *testing.T) {
	s := NewServer(t, WithApps(FixtureApps()...))
	for _, tc := range []struct {
		name        string
		fault       Fault
		status      int
		contentType string
		body        string // exact, when set
		check       func(t *testing.T, body []byte)
	}{
		{name: "500", fault: ServerError("boom"), status: 500, contentType: "application/json",
			body: `{"error":"boom","code":13,"message":"boom"}`},
		{name: "502 plain", fault: ProxyError(502), status: 502, contentType: "text/plain", body: "Bad Gateway"},
		{name: "503 plain", fault: ProxyError(503), status: 503, contentType: "text/plain",
			body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{name: "401", fault: Unauthorized(), status: 401, contentType: "application/json",
			body: `{"error":"invalid session: token has invalid claims: token is expired","code":16,"message":"invalid session: token has invalid claims: token is expired"}`},
		{name: "403 derived code", fault: Fault{Kind: FaultStatus, Status: 403}, status: 403, contentType: "application/json",
			body: `{"error":"forbidden","code":7,"message":"forbidden"}`},
		{name: "not json", fault: NotJSON(), status: 200, contentType: "text/html; charset=utf-8",
			check: func(t *testing.T, body []byte) { require.Contains(t, string(body), "<!DOCTYPE html>") }},
		{name: "empty list", fault: EmptyList(), status: 200, contentType: "application/json",
			body: `{"metadata":{"resourceVersion":"91827"},"items":[]}`},
		{name: "missing items", fault: MissingItems(), status: 200, contentType: "application/json",
			body: `{"metadata":{"resourceVersion":"91827"}}`},
		{name: "slow", fault: Slow(time.Millisecond), status: 200, contentType: "application/json",
			check: func(t *testing.T, body []byte) {
				require.Equal(t, []string{"pr-099", "pr-101", "pr-102", "pr-103"}, names(t, body))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault
			f.Times = 1
			s.SetFault(f)
			resp, body := get(t, s, "/api/v1/applications", s.Token())
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, tc.contentType, resp.Header.Get("Content-Type"))
			if tc.body != "" {
				require.Equal(t, tc.body, string(body))
			}
			if tc.check != nil {
				tc.check(t, body)
			}
			// Times: 1 -> the next request is normal again.
			resp, body = get(t, s, "/api/v1/applications", s.Token())
			require.Equal(t, 200, resp.StatusCode)
			require.Len(t, names(t, body), 4)
		})
	}
}

func TestFaultTimesAndClear(t *testing.T) {
	s := NewServer(t)
	f := ServerError("x")
	f.Times = 2
	s.SetFault(f)
	for _, want := range []int{500, 500, 200} {
		resp, _ := get(t, s, "/api/v1/applications", s.Token())
		require.Equal(t, want, resp.StatusCode)
	}
	s.SetFault(ProxyError(503)) // until cleared
	for range 3 {
		resp, _ := get(t, s, "/api/v1/applications", s.Token())
		require.Equal(t, 503, resp.StatusCode)
	}
	s.ClearFault()
	resp, _ := get(t, s, "/api/v1/applications", s.Token())
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 7, s.Requests())
	require.NoError(t, s.WaitRequests(guard(t), 7))
}

func TestFaultTruncated(t *testing.T) {
	s := NewServer(t, WithApps(FixtureApps()...))
	s.SetFault(Truncated())
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/applications", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.NotEmpty(t, body)
	require.False(t, json.Valid(body))
}

func TestFaultSlowHonoursCancellation(t *testing.T) {
	s := New()
	arrived := make(chan struct{}, 1)
	s.testHookList = func() { arrived <- struct{}{} }
	s.Start()
	t.Cleanup(s.Close)
	s.SetFault(Slow(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/applications", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// The handler notices the cancellation and finishes: the request counts as served.
	require.NoError(t, s.WaitRequests(guard(t), 1))
}

// guard is a context that ends long after any reasonable wait, so that a bug fails the
// test instead of hanging it. It asserts nothing about timing.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestCloseReleasesSlowRequests(t *testing.T) {
	s := New()
	arrived := make(chan struct{}, 1)
	s.testHookList = func() { arrived <- struct{}{} }
	s.Start()
	s.SetFault(Slow(time.Hour))
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/applications", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived // the request is inside the handler: Close must not wait an hour
	s.Close()
	<-done
}

func TestWaitRequestsContext(t *testing.T) {
	s := NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.WaitRequests(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)

	got := make(chan error, 1)
	go func() { got <- s.WaitRequests(guard(t), 2) }()
	get(t, s, "/api/v1/applications", s.Token())
	get(t, s, "/api/v1/applications", "") // unauthorized requests count too
	require.NoError(t, <-got)
}

func TestWorldCopiesAndResourceVersion(t *testing.T) {
	s := NewServer(t, WithResourceVersion(10))
	a := NewApp("a", t0)
	s.Upsert(a)
	a.Metadata.Labels["x"] = "mutated after upsert"
	got, ok := s.Get("a")
	require.True(t, ok)
	require.NotContains(t, got.Metadata.Labels, "x")
	require.Equal(t, "11", got.Metadata.ResourceVersion)
	got.Metadata.Labels["y"] = "mutated copy"
	require.NotContains(t, s.Apps()[0].Metadata.Labels, "y")

	require.True(t, s.Update("a", func(a *Application) { SetHealth(a, HealthHealthy, t0) }))
	require.False(t, s.Update("zzz", func(*Application) {}))
	got, _ = s.Get("a")
	require.Equal(t, "12", got.Metadata.ResourceVersion)
	require.Equal(t, HealthHealthy, got.Status.Health.Status)
	require.Equal(t, "12", s.ResourceVersion())

	require.True(t, s.Delete("a"))
	require.False(t, s.Delete("a"))
	_, ok = s.Get("a")
	require.False(t, ok)
	require.Equal(t, "13", s.ResourceVersion())
	require.Empty(t, s.Apps())
}

func TestWithoutHealthTransitionTime(t *testing.T) {
	s := NewServer(t, WithApps(FixtureApps()...), WithoutHealthTransitionTime())
	_, body := get(t, s, "/api/v1/applications", s.Token())
	require.NotContains(t, string(body), "lastTransitionTime")
	require.Contains(t, string(body), `"health":{"status":"Healthy"}`)
	// The stored apps keep it.
	a, _ := s.Get("pr-102")
	require.NotNil(t, a.Status.Health.LastTransitionTime)
}

func TestConcurrentScripting(t *testing.T) {
	s := NewServer(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 20 {
				name := "app-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
				s.Upsert(NewApp(name, t0))
				s.Update(name, func(a *Application) { StartSync(a, "rev", t0) })
				if j%3 == 0 {
					s.Delete(name)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 10 {
				req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/applications?fields=items.metadata.name", nil)
				req.Header.Set("Authorization", "Bearer "+s.Token())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	require.Len(t, s.Apps(), 4*(20-7))
	require.Equal(t, 40, s.Requests())
}

func TestUnknownPath(t *testing.T) {
	s := NewServer(t)
	resp, body := get(t, s, "/api/v1/projects", s.Token())
	require.Equal(t, 404, resp.StatusCode)
	require.JSONEq(t, `{"error":"Not Found","code":5,"message":"Not Found"}`, string(body))
}

func TestTLS(t *testing.T) {
	s := New(WithApps(NewApp("a", t0)))
	s.StartTLS()
	t.Cleanup(s.Close)
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"))
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/applications", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err) // self-signed
	require.NotNil(t, s.Certificate())
}

func TestTimeJSON(t *testing.T) {
	var v struct {
		T Time  `json:"t"`
		P *Time `json:"p,omitempty"`
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, `{"t":null}`, string(b))
	v.T = NewTime(time.Date(2025, 1, 7, 11, 0, 0, 900, time.FixedZone("CET", 3600)))
	v.P = TimePtr(t0)
	b, err = json.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, `{"t":"2025-01-07T10:00:00Z","p":"2025-01-07T10:00:00Z"}`, string(b))
	require.Error(t, json.Unmarshal([]byte(`{"t":"yesterday"}`), &v))
	require.Nil(t, TimePtr(time.Time{}))
}

// TestNamesListFastPath: the names list (fields=items.metadata.name) is rendered
// without encoding each Application, and says exactly what the whitelist's general path
// says (a path the whitelist does not know is ignored, so asking for one more takes it).
func TestNamesListFastPath(t *testing.T) {
	apps := FixtureApps()
	names, _ := parseFields("items.metadata.name")
	fast, err := encodeWhitelist("7", apps, names, false)
	require.NoError(t, err)
	general, err := encodeWhitelist("7", apps, map[string]bool{"items.metadata.name": true, "items.not.selectable": true}, false)
	require.NoError(t, err)
	require.JSONEq(t, string(general), string(fast))
	empty, err := encodeWhitelist("7", nil, names, false)
	require.NoError(t, err)
	require.JSONEq(t, `{"items":null,"metadata":{"resourceVersion":"7"}}`, string(empty))
}
