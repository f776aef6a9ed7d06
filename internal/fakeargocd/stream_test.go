package fakeargocd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
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
