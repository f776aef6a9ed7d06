package fakeargocd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// openStream opens the stream with the query q and returns the answer.
func openStream(t *testing.T, ctx context.Context, s *Server, q string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/stream/applications"+q, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type chunk struct {
	Result *struct {
		Type        string         `json:"type"`
		Application map[string]any `json:"application"`
	} `json:"result"`
	Error *StreamStatus `json:"error"`
}

func readChunk(t *testing.T, r *bufio.Reader) chunk {
	t.Helper()
	line, err := r.ReadBytes('\n')
	require.NoError(t, err, "partial line %q", line)
	var c chunk
	require.NoError(t, json.Unmarshal(line, &c), "%s", line)
	return c
}

func name(c chunk) string {
	return c.Result.Application["metadata"].(map[string]any)["name"].(string)
}

func TestStreamSnapshotThenEvents(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("b", t0), NewApp("a", t0), NewApp("other", t0, WithoutLabel(LabelManaged))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := openStream(t, ctx, s, "?selector="+LabelManaged+"%3Dtrue&fields=result.type,result.application.metadata.name,result.application.status.sync.status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	// The snapshot: every matching Application as ADDED, sorted.
	for _, want := range []string{"a", "b"} {
		c := readChunk(t, r)
		require.Equal(t, "ADDED", c.Result.Type)
		require.Equal(t, want, name(c))
		// fields keeps only what was asked for.
		require.Equal(t, map[string]any{"metadata": map[string]any{"name": want}, "status": map[string]any{"sync": map[string]any{"status": ""}}}, c.Result.Application)
	}
	// The forwarder drops an event whose filtered encoding (type included) equals the
	// last one sent for that name: the first MODIFIED of "a" goes out, a second change
	// outside the fields does not; a change inside them does.
	s.Update("a", func(a *Application) { a.Metadata.Annotations = map[string]string{"x": "y"} })
	c := readChunk(t, r)
	require.Equal(t, "MODIFIED", c.Result.Type)
	require.Equal(t, "a", name(c))
	s.Update("a", func(a *Application) { a.Metadata.Annotations = map[string]string{"x": "z"} })
	s.Update("b", func(a *Application) { SyncSucceeded(a, "abc", t0.Add(time.Minute)) })
	c = readChunk(t, r)
	require.Equal(t, "MODIFIED", c.Result.Type)
	require.Equal(t, "b", name(c))
	s.Upsert(NewApp("c", t0))
	c = readChunk(t, r)
	require.Equal(t, "ADDED", c.Result.Type)
	require.Equal(t, "c", name(c))
	s.Delete("a")
	c = readChunk(t, r)
	require.Equal(t, "DELETED", c.Result.Type)
	require.Equal(t, "a", name(c))
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
}

// TestStreamFieldsHistory: the stream's `fields` keep paths into status.history, an
// array, as Argo CD's do (the whole Application goes through argoproj/pkg
// grpc/http/forwarders.go messageMarshaler.processItem, which walks arrays with the
// array's own path; the list's fixed table, forwarder_overwrite.go appFields, has no
// status.history); an Application without history has none in the event (omitempty).
func TestStreamFieldsHistory(t *testing.T) {
	a := NewApp("a", t0)
	StartSync(&a, "abc", t0.Add(time.Second))
	SyncSucceeded(&a, "abc", t0.Add(time.Minute))
	SyncSucceeded(&a, "def", t0.Add(2*time.Minute))
	s := NewServer(t, WithApps(a, NewApp("b", t0)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := openStream(t, ctx, s, "?fields=result.type,result.application.metadata.name,"+
		"result.application.status.history.revision,result.application.status.history.deployedAt")
	r := bufio.NewReader(resp.Body)
	c := readChunk(t, r)
	require.Equal(t, map[string]any{"metadata": map[string]any{"name": "a"}, "status": map[string]any{"history": []any{
		map[string]any{"revision": "abc", "deployedAt": t0.Add(time.Minute).Format(time.RFC3339)},
		map[string]any{"revision": "def", "deployedAt": t0.Add(2 * time.Minute).Format(time.RFC3339)},
	}}}, c.Result.Application)
	c = readChunk(t, r)
	require.Equal(t, map[string]any{"metadata": map[string]any{"name": "b"}, "status": map[string]any{}}, c.Result.Application)
}

func TestStreamResourceVersion(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rv := s.ResourceVersion()
	done := make(chan *http.Response, 1)
	go func() { done <- openStream(t, ctx, s, "?resourceVersion="+rv) }()
	require.Eventually(t, func() bool { return s.OpenStreams() == 1 && s.StreamsCaughtUp() }, 10*time.Second, time.Millisecond)
	s.Upsert(NewApp("b", t0))
	resp := <-done // the status line comes with the first event
	c := readChunk(t, bufio.NewReader(resp.Body))
	require.Equal(t, "ADDED", c.Result.Type)
	require.Equal(t, "b", name(c), "no snapshot with a resourceVersion")
}

func TestStreamErrors(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)))
	ctx := context.Background()

	// No token: 401 with an error chunk as the body.
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v1/stream/applications", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.JSONEq(t, `{"error":{"grpc_code":16,"http_code":401,"message":"no session information","http_status":"Unauthorized","details":[]}}`, string(b))

	s.SetStreamMode(StreamNotFound)
	resp = openStream(t, ctx, s, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	s.SetStreamMode(StreamUnimplemented)
	resp = openStream(t, ctx, s, "")
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	s.SetStreamMode(StreamNormal)

	// The list's faults hit the stream's connection too.
	s.SetFault(Unauthorized())
	resp = openStream(t, ctx, s, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	s.SetFault(ServerError("rpc error: code = Internal desc = etcdserver: leader changed"))
	resp = openStream(t, ctx, s, "")
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	s.SetFault(Truncated())
	resp = openStream(t, ctx, s, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cut, err := io.ReadAll(resp.Body)
	require.Error(t, err, "the connection drops mid-event")
	require.NotEmpty(t, cut)
	require.False(t, json.Valid(cut))
	s.ClearFault()

	// 500 mid-stream: an Internal error chunk, then the end.
	resp = openStream(t, ctx, s, "")
	r500 := bufio.NewReader(resp.Body)
	require.Equal(t, "ADDED", readChunk(t, r500).Result.Type)
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	s.BreakStreams(StreamServerError)
	var c500 chunk
	require.NoError(t, json.NewDecoder(r500).Decode(&c500))
	require.Equal(t, 500, c500.Error.HTTPCode)
	require.Equal(t, 13, c500.Error.GRPCCode)

	// 401 mid-stream: an error chunk on the open stream, then the end.
	resp = openStream(t, ctx, s, "")
	r := bufio.NewReader(resp.Body)
	require.Equal(t, "ADDED", readChunk(t, r).Result.Type)
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	s.BreakStreams(StreamUnauthorized)
	var c chunk
	require.NoError(t, json.NewDecoder(r).Decode(&c))
	require.Equal(t, 401, c.Error.HTTPCode)
	require.Equal(t, 16, c.Error.GRPCCode)

	// Cut mid-chunk: half a line, then the connection drops.
	resp = openStream(t, ctx, s, "")
	r = bufio.NewReader(resp.Body)
	readChunk(t, r)
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	s.BreakStreams(StreamCut)
	rest, err := io.ReadAll(r)
	require.Error(t, err)
	require.NotEmpty(t, rest)
	require.False(t, json.Valid(rest))
}

func TestStreamBuffered(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)))
	s.SetStreamMode(StreamBuffered)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/stream/applications", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// The snapshot was "sent" into the proxy's buffer; the client got nothing, not even
	// the status line.
	require.Eventually(t, func() bool { return s.StreamChunks() == 1 && s.StreamsCaughtUp() }, 10*time.Second, time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("the client got an answer through a buffering proxy: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
}

// openSSE opens the SSE form of the stream (Accept: text/event-stream, as Argo CD's UI
// asks for it).
func openSSE(t *testing.T, ctx context.Context, s *Server, q string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/stream/applications"+q, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// startSSE opens the SSE form in the background; the channel gets the answer (or
// nothing, when the request fails).
func startSSE(t *testing.T, ctx context.Context, s *Server) <-chan *http.Response {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/v1/stream/applications", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	req.Header.Set("Accept", "text/event-stream")
	out := make(chan *http.Response, 1)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			out <- resp
		}
	}()
	t.Cleanup(func() {
		select {
		case resp := <-out:
			resp.Body.Close()
		default:
		}
	})
	return out
}

// readLine reads one line of the SSE form, without its newline.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	require.NoError(t, err, "partial line %q", line)
	return line[:len(line)-1]
}

// TestStreamSSE: the SSE form frames each event as `data: {...} \n\n` plus the stream's
// delimiter, writes a keepalive ":" line every interval once the first event went out
// (and when Keepalive says so), and frames error chunks the same way.
func TestStreamSSE(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)), WithKeepaliveInterval(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := openSSE(t, ctx, s, "?fields=result.type,result.application.metadata.name")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	r := bufio.NewReader(resp.Body)
	require.Equal(t, `data: {"result":{"application":{"metadata":{"name":"a"}},"type":"ADDED"}} `, readLine(t, r))
	require.Equal(t, "", readLine(t, r))
	require.Equal(t, "", readLine(t, r), "the stream's delimiter")
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	require.Equal(t, 1, s.Keepalive())
	require.Equal(t, ":", readLine(t, r))
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	require.Equal(t, []int64{1}, s.OpenStreamKeepalives())
	s.BreakStreams(StreamUnauthorized)
	line := readLine(t, r)
	require.True(t, strings.HasPrefix(line, `data: {"error":{"grpc_code":16,"http_code":401,`), line)
	require.Equal(t, "", readLine(t, r))
	_, err := r.ReadByte()
	require.ErrorIs(t, err, io.EOF)

	// Before any event, an error answer is its status with the error chunk, framed.
	s.SetFault(ServerError("etcdserver: leader changed"))
	resp = openSSE(t, ctx, s, "")
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.True(t, strings.HasPrefix(string(b), `data: {"error":`) && strings.HasSuffix(string(b), "} \n\n"), "%q", b)
	s.ClearFault()

	// The plain form never gets a keepalive; an idle SSE stream (nothing sent yet) neither.
	empty := NewServer(t, WithKeepaliveInterval(0))
	startSSE(t, ctx, empty)
	require.Eventually(t, func() bool { return empty.OpenStreams() == 1 && empty.StreamsCaughtUp() }, 10*time.Second, time.Millisecond)
	require.Equal(t, 0, empty.Keepalive())
	plain := openStream(t, ctx, s, "")
	readChunk(t, bufio.NewReader(plain.Body))
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	require.Equal(t, 0, s.Keepalive())
}

// TestStreamSSEKeepaliveTicker: at its interval, on the real clock.
func TestStreamSSEKeepaliveTicker(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)), WithKeepaliveInterval(5*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReader(openSSE(t, ctx, s, "").Body)
	require.True(t, strings.HasPrefix(readLine(t, r), "data: "))
	readLine(t, r)
	readLine(t, r)
	require.Equal(t, ":", readLine(t, r))
	require.Equal(t, ":", readLine(t, r))
}

// TestStreamStall: a stalled stream stays open and delivers nothing, keepalives
// included; when the stall ends, what it held goes out in order. A stream opened during
// the stall gets nothing either, not even its status line.
func TestStreamStall(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)), WithKeepaliveInterval(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReader(openSSE(t, ctx, s, "?fields=result.type,result.application.metadata.name").Body)
	readLine(t, r)
	readLine(t, r)
	readLine(t, r)
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	s.StallStreams()
	s.Upsert(NewApp("b", t0))
	require.Equal(t, 1, s.Keepalive())
	require.Eventually(t, s.StreamsCaughtUp, 10*time.Second, time.Millisecond)
	lines := make(chan string, 10)
	go func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	opened := startSSE(t, ctx, s)
	require.Eventually(t, func() bool { return s.OpenStreams() == 2 && s.StreamsCaughtUp() }, 10*time.Second, time.Millisecond)
	select {
	case l := <-lines:
		t.Fatalf("a stalled stream delivered %q", l)
	case <-opened:
		t.Fatal("a stream opened during the stall got its header")
	default:
	}
	s.ResumeStreams()
	require.Equal(t, `data: {"result":{"application":{"metadata":{"name":"b"}},"type":"ADDED"}} `+"\n", <-lines)
	require.Equal(t, "\n", <-lines)
	require.Equal(t, "\n", <-lines)
	require.Equal(t, ":\n", <-lines)
	resp := <-opened
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestHeldFault: a held request waits until the fault is cleared and is then answered
// with the world as it is then; one whose client gives up is dropped.
func TestHeldFault(t *testing.T) {
	s := NewServer(t, WithApps(NewApp("a", t0)))
	s.SetFault(Held())
	s.SetGetFault(Held())
	get := func(ctx context.Context, path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token())
		return http.DefaultClient.Do(req)
	}
	type answer struct {
		resp *http.Response
		err  error
	}
	list, app := make(chan answer, 1), make(chan answer, 1)
	go func() { r, err := get(context.Background(), "/api/v1/applications"); list <- answer{r, err} }()
	go func() { r, err := get(context.Background(), "/api/v1/applications/a"); app <- answer{r, err} }()
	gone, giveUp := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() { _, err := get(gone, "/api/v1/applications"); abandoned <- err }()
	require.Eventually(t, func() bool { return s.HeldRequests() == 3 }, 10*time.Second, time.Millisecond)
	giveUp()
	require.ErrorIs(t, <-abandoned, context.Canceled)
	require.Eventually(t, func() bool { return s.HeldRequests() == 2 }, 10*time.Second, time.Millisecond)
	s.Upsert(NewApp("b", t0))
	s.ClearFault()
	a := <-list
	require.NoError(t, a.err)
	var l ApplicationList
	require.NoError(t, json.NewDecoder(a.resp.Body).Decode(&l))
	a.resp.Body.Close()
	require.Len(t, l.Items, 2, "answered with the world as it is when released")
	select {
	case <-app:
		t.Fatal("the get's fault is its own")
	default:
	}
	s.ClearGetFault()
	a = <-app
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.resp.StatusCode)
	a.resp.Body.Close()
}
