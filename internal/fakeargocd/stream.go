package fakeargocd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The application stream, GET /api/v1/stream/applications, as argocd-server serves it
// (argoproj/argo-cd server/application/application.go, func (s *Server) Watch, and
// pkg/apiclient/application/forwarder_overwrite.go; the HTTP framing is grpc-gateway
// v1.16's runtime.ForwardResponseStream, the version Argo CD pins in go.mod, through
// argoproj/pkg grpc/http/forwarders.go NewStreamForwarder):
//
//   - Without resourceVersion the stream starts with every matching Application as an
//     ADDED event, sorted by qualified name, then sends what the broadcaster sees
//     (ADDED, MODIFIED, DELETED). Nothing marks the end of that snapshot. With
//     resourceVersion=N there is no snapshot, and Applications whose resourceVersion
//     is below N are not sent (isApplicationPermitted).
//   - Each event is one line: {"result":{"type":"ADDED","application":{...}}}\n,
//     flushed at once. `fields` is argoproj/pkg's generic filter applied to the whole
//     {"result":...} object (so Argo CD's UI asks for result.type and
//     result.application.<path>, any path of the whole Application, status.history
//     included, into arrays); an event whose filtered encoding equals the last one
//     sent for that Application name is dropped (NewStreamForwarder's dataByKey).
//   - No header is written before the first event: the status line arrives with it. An
//     error before any event is that HTTP status with an error chunk as the body; an
//     error after is an error chunk on the open 200 stream:
//     {"error":{"grpc_code":16,"http_code":401,"message":"...","http_status":"Unauthorized"}}.
//   - The SSE form: a request with the header `Accept: text/event-stream` (exactly: the
//     forwarder compares the whole header) is answered with Content-Type
//     text/event-stream, each event framed as `data: {"result":...} \n\n` followed by the
//     stream's "\n" delimiter, an error chunk as `data: {"error":...} \n\n`, and a
//     keepalive line ":\n" every 15 seconds from the moment the forwarder starts (when
//     the first event releases the gRPC header): argoproj/pkg grpc/http/forwarders.go
//     (NewStreamForwarder, withKeepalive, messageMarshaler.Marshal) and grpc-gateway
//     v1.16 runtime/handler.go (ForwardResponseStream). The plain form sends nothing
//     while nothing changes; the SSE form's keepalives tell an idle stream from a
//     stalled one. This is the form Argo CD's own UI reads (an EventSource).

// StreamBreak says how Server.BreakStreams ends the open streams.
type StreamBreak int

const (
	// StreamClose ends the streams cleanly (EOF after a complete event), as
	// argocd-server shutting down does.
	StreamClose StreamBreak = iota
	// StreamCut writes the first half of an event and drops the connection (a restart
	// or a proxy timeout in the middle of a write).
	StreamCut
	// StreamUnauthorized writes a 401 error chunk and ends the streams.
	StreamUnauthorized
	// StreamServerError writes a 500 error chunk (gRPC Internal, as an etcd leader
	// change fails the informer behind the broadcaster) and ends the streams.
	StreamServerError
)

// StreamMode says how the stream endpoint answers new requests (Server.SetStreamMode).
type StreamMode int

const (
	// StreamNormal serves the stream.
	StreamNormal StreamMode = iota
	// StreamNotFound answers 404: a server or proxy without the stream endpoint.
	StreamNotFound
	// StreamUnimplemented answers 501 with a gRPC Unimplemented error chunk.
	StreamUnimplemented
	// StreamBuffered is a proxy that buffers responses: nothing reaches the client
	// until the stream ends (which, for a watch, is never).
	StreamBuffered
)

// defaultKeepalive is the SSE form's keepalive interval (argoproj/pkg
// grpc/http/forwarders.go keepalive: time.Second * 15).
const defaultKeepalive = 15 * time.Second

// WithKeepaliveInterval sets the SSE form's keepalive interval, on the real clock
// (default 15 s, as Argo CD); 0 sends keepalives only when Server.Keepalive says so,
// which tests playing their own clock use.
func WithKeepaliveInterval(d time.Duration) Option { return func(s *Server) { s.keepalive = d } }

// streams is the stream side of a Server.
type streams struct {
	mu      sync.Mutex
	mode    StreamMode
	changed chan struct{} // closed and replaced when the world changes or a break comes
	breakTo StreamBreak
	breakID uint64 // incremented by BreakStreams
	version uint64 // world version
	stalled bool   // StallStreams: nothing reaches the clients until ResumeStreams
	open    map[*stream]bool
	idle    chan struct{} // closed and replaced whenever a stream catches up

	chunks atomic.Int64 // events written, all streams
	conns  atomic.Int64 // stream requests served
}

type stream struct {
	seen       uint64       // world version this stream has sent
	sse        bool         // the SSE form
	started    bool         // the first event went out: the forwarder (and its keepalives) runs
	keepOwed   bool         // Keepalive asked for one that is not written yet
	sent       atomic.Int64 // events written on this stream
	keepalives atomic.Int64 // keepalives written on this stream
}

func newStreams() *streams {
	return &streams{changed: make(chan struct{}), open: map[*stream]bool{}, idle: make(chan struct{})}
}

// worldChanged is called (under Server.mu) on every change of the world.
func (st *streams) worldChanged() {
	st.mu.Lock()
	st.version++
	close(st.changed)
	st.changed = make(chan struct{})
	st.mu.Unlock()
}

// SetStreamMode sets how new stream requests are answered.
func (s *Server) SetStreamMode(m StreamMode) {
	s.streams.mu.Lock()
	s.streams.mode = m
	s.streams.mu.Unlock()
}

// BreakStreams ends every open stream as how says; new requests are served normally.
func (s *Server) BreakStreams(how StreamBreak) {
	st := s.streams
	st.mu.Lock()
	st.breakTo = how
	st.breakID++
	close(st.changed)
	st.changed = make(chan struct{})
	st.mu.Unlock()
}

// StallStreams stalls every stream, open or opened later: each stays open and writes
// nothing (events and keepalives are held, in order) until ResumeStreams, as a busy API
// server or a proxy holding answers does. A client sees only silence.
func (s *Server) StallStreams() { s.streams.setStalled(true) }

// ResumeStreams ends a stall: what was held is written at once.
func (s *Server) ResumeStreams() { s.streams.setStalled(false) }

func (st *streams) setStalled(v bool) {
	st.mu.Lock()
	st.stalled = v
	st.wakeLocked()
	st.mu.Unlock()
}

// wakeLocked wakes every stream's loop (st.mu held).
func (st *streams) wakeLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// Keepalive makes every open stream of the SSE form that has started (its first event
// went out) write a keepalive now (held, like the rest, while stalled), as its 15-second
// ticker does: StreamsCaughtUp is false until they did. It returns how many streams owe
// one.
func (s *Server) Keepalive() int {
	st := s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for x := range st.open {
		if x.sse && x.started {
			x.keepOwed = true
			n++
		}
	}
	st.wakeLocked()
	return n
}

// OpenStreamKeepalives returns, for every open stream, the keepalives written on it (in
// the order of OpenStreamChunks).
func (s *Server) OpenStreamKeepalives() []int64 {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	var out []int64
	for x := range s.streams.open {
		out = append(out, x.keepalives.Load())
	}
	return out
}

// StreamChunks is the number of events written on all streams so far.
func (s *Server) StreamChunks() int64 { return s.streams.chunks.Load() }

// StreamRequests is the number of stream requests received.
func (s *Server) StreamRequests() int64 { return s.streams.conns.Load() }

// OpenStreams is the number of streams being served.
func (s *Server) OpenStreams() int {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	return len(s.streams.open)
}

// OpenStreamChunks returns, for every open stream, the number of events written on it
// (held ones included: a stalled or buffered stream has not delivered them).
func (s *Server) OpenStreamChunks() []int64 {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	var out []int64
	for x := range s.streams.open {
		out = append(out, x.sent.Load())
	}
	return out
}

// StreamsCaughtUp reports whether at least one stream is open and every open stream has
// written everything the world's last change calls for.
func (s *Server) StreamsCaughtUp() bool {
	st := s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.open) == 0 {
		return false
	}
	for x := range st.open {
		if x.seen != st.version || x.keepOwed {
			return false
		}
	}
	return true
}

// streamChunk is one line of the stream.
type streamChunk struct {
	Result *watchEvent   `json:"result,omitempty"`
	Error  *StreamStatus `json:"error,omitempty"`
}

type watchEvent struct {
	Type        string      `json:"type"`
	Application Application `json:"application"`
}

// StreamStatus is grpc-gateway v1's runtime.StreamError, the body of an error chunk.
type StreamStatus struct {
	GRPCCode   int    `json:"grpc_code"`
	HTTPCode   int    `json:"http_code"`
	Message    string `json:"message"`
	HTTPStatus string `json:"http_status"`
	Details    []any  `json:"details"`
}

func streamStatus(status int, msg string) StreamStatus {
	return StreamStatus{GRPCCode: grpcCode(status), HTTPCode: status, Message: msg, HTTPStatus: http.StatusText(status), Details: []any{}}
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	st := s.streams
	st.conns.Add(1)
	st.mu.Lock()
	mode := st.mode
	st.mu.Unlock()
	// forwarders.go: isSSE := req.Header.Get("Accept") == "text/event-stream"
	sse := r.Header.Get("Accept") == "text/event-stream"
	switch mode {
	case StreamNotFound:
		writeError(w, http.StatusNotFound, 5, "Not Found")
		return
	case StreamUnimplemented:
		writeStreamError(w, sse, http.StatusNotImplemented, "unknown service application.ApplicationService")
		return
	}
	// The list faults apply to the stream's connection as well (the same server).
	switch f := s.takeFault(); f.Kind {
	case FaultStatus:
		if f.Plain {
			writeFault(w, f)
			return
		}
		msg := f.Message
		if msg == "" {
			msg = http.StatusText(f.Status)
		}
		writeStreamError(w, sse, f.Status, msg)
		return
	case FaultHeld:
		if !s.hold(r, f) {
			return
		}
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(loginPage))
		return
	case FaultTruncated:
		// The stream's FaultTruncated: the status line and half of the first event,
		// then the connection drops (the list's Content-Length cut, chunk-framed).
		s.breakStream(w, StreamCut, func(b []byte) bool {
			w.Header().Set("Content-Type", contentType(sse))
			_, _ = w.Write(b)
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			return true
		}, false, sse)
		return
	}
	if !s.authorizeStream(w, r, sse) {
		return
	}
	q := r.URL.Query()
	sel, err := ParseSelector(q.Get("selector"))
	if err != nil {
		writeStreamError(w, sse, http.StatusInternalServerError, "error parsing labels with selectors: "+err.Error())
		return
	}
	projects := q["projects"]
	minVersion := int64(0)
	if v := q.Get("resourceVersion"); v != "" {
		minVersion, _ = strconv.ParseInt(v, 10, 64) // Argo CD: strconv.Atoi, 0 on error
	}
	fields, exclude := map[string]bool(nil), false
	if f := q.Get("fields"); f != "" {
		fields, exclude = parseFields(f)
	}
	rvGiven := q.Get("resourceVersion") != ""
	matches := func(a Application) bool {
		if len(projects) > 0 && !contains(projects, a.Project()) {
			return false
		}
		return sel.Matches(a.Metadata.Labels)
	}
	belowMin := func(a Application) bool {
		n, err := strconv.ParseInt(a.Metadata.ResourceVersion, 10, 64)
		return err == nil && n < minVersion
	}

	x := &stream{sse: sse}
	st.mu.Lock()
	st.open[x] = true
	breakID := st.breakID
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.open, x)
		st.mu.Unlock()
	}()

	// held is what reaches no client yet: all of it behind a buffering proxy
	// (StreamBuffered), what comes during a stall (StallStreams) until it ends.
	var held bytes.Buffer
	wroteHeader := false
	stalled := func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.stalled
	}
	write := func(b []byte) bool {
		if mode == StreamBuffered || stalled() {
			held.Write(b)
			return true
		}
		if !wroteHeader {
			w.Header().Set("Content-Type", contentType(sse))
			w.Header().Set("Transfer-Encoding", "chunked")
			if sse {
				w.Header().Set("X-Content-Type-Options", "nosniff")
			}
			wroteHeader = true
		}
		if held.Len() > 0 {
			b = append(held.Bytes(), b...)
			held.Reset()
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		return true
	}

	sentData := map[string][]byte{}     // last data per name (NewStreamForwarder's dataByKey)
	sentRV := map[string]string{}       // resourceVersion behind sentData, to skip re-encoding
	lastApp := map[string]Application{} // for the DELETED event
	send := func(typ string, a Application) bool {
		b, err := encodeEvent(typ, s.present(a), fields, exclude)
		if err != nil {
			return false
		}
		name := a.Metadata.Name
		if typ != "DELETED" && bytes.Equal(sentData[name], b) {
			return true
		}
		sentData[name] = b
		st.chunks.Add(1)
		x.sent.Add(1)
		if !x.started {
			st.mu.Lock()
			x.started = true
			st.mu.Unlock()
		}
		return write(frameEvent(b, sse))
	}
	// The SSE form's keepalives, from the first event on (the forwarder starts when the
	// first event releases the gRPC header).
	var tick <-chan time.Time
	keepalive := func() bool {
		x.keepalives.Add(1)
		return write([]byte(":\n"))
	}

	// Snapshot and subscription happen under one look at the world, so nothing falls
	// between them (the real server lists, then subscribes).
	first := true
	for {
		st.mu.Lock()
		changed := st.changed
		brk, newBreak := st.breakTo, st.breakID != breakID
		owed := x.keepOwed
		st.mu.Unlock()
		if newBreak {
			s.breakStream(w, brk, write, wroteHeader || mode == StreamBuffered, sse)
			return
		}
		if held.Len() > 0 && !write(nil) { // a stall ended: what it held goes out
			return
		}
		s.mu.Lock()
		apps := s.sortedLocked()
		st.mu.Lock()
		version := st.version
		st.mu.Unlock()
		s.mu.Unlock()

		current := make(map[string]bool, len(apps))
		for _, a := range apps {
			if !matches(a) {
				continue
			}
			name := a.Metadata.Name
			current[name] = true
			prev, known := sentRV[name]
			if known && prev == a.Metadata.ResourceVersion && a.Metadata.ResourceVersion != "" {
				continue
			}
			typ := "MODIFIED"
			if !known {
				typ = "ADDED"
			}
			// With a resourceVersion: no snapshot, and nothing below it.
			if !(first && rvGiven) && !belowMin(a) {
				if !send(typ, a) {
					return
				}
			}
			sentRV[name] = a.Metadata.ResourceVersion
			lastApp[name] = a
		}
		var gone []string
		for name := range sentRV {
			if !current[name] {
				gone = append(gone, name)
			}
		}
		sort.Strings(gone)
		for _, name := range gone {
			if !send("DELETED", lastApp[name]) {
				return
			}
			delete(sentRV, name)
			delete(sentData, name)
			delete(lastApp, name)
		}
		first = false
		if owed { // after the events of this instant: everything before it went out
			if !keepalive() {
				return
			}
		}
		st.mu.Lock()
		x.seen = version
		if owed {
			x.keepOwed = false // once written: StreamsCaughtUp waits for it
		}
		st.mu.Unlock()
		if sse && x.started && tick == nil && s.keepalive > 0 {
			t := time.NewTicker(s.keepalive)
			defer t.Stop()
			tick = t.C
		}

		select {
		case <-changed:
		case <-tick:
			if !keepalive() {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

func contentType(sse bool) string {
	if sse {
		return "text/event-stream"
	}
	return "application/json"
}

// frameEvent frames one event: a line of JSON, or, in the SSE form, messageMarshaler's
// "data: %s \n\n" followed by ForwardResponseStream's "\n" delimiter.
func frameEvent(b []byte, sse bool) []byte {
	if sse {
		return []byte("data: " + string(b) + " \n\n\n")
	}
	return append(b, '\n')
}

// frameError frames an error chunk: without the delimiter (handleForwardResponseStreamError
// writes none).
func frameError(b []byte, sse bool) []byte {
	if sse {
		return []byte("data: " + string(b) + " \n\n")
	}
	return b
}

// breakStream ends one stream as how says.
func (s *Server) breakStream(w http.ResponseWriter, how StreamBreak, write func([]byte) bool, started, sse bool) {
	switch how {
	case StreamCut:
		// Half of an event, then the connection drops.
		b, _ := encodeEvent("MODIFIED", Application{Metadata: ObjectMeta{Name: "cut-in-the-middle"}}, nil, false)
		f := frameEvent(b, sse)
		write(f[:len(f)/2])
		panic(http.ErrAbortHandler)
	case StreamUnauthorized:
		ss := streamStatus(http.StatusUnauthorized, "invalid session: token has invalid claims: token is expired")
		b, _ := json.Marshal(streamChunk{Error: &ss})
		if !started {
			w.Header().Set("Content-Type", contentType(sse))
			w.WriteHeader(http.StatusUnauthorized)
		}
		write(frameError(b, sse))
	case StreamServerError:
		ss := streamStatus(http.StatusInternalServerError, "rpc error: code = Internal desc = etcdserver: leader changed")
		ss.GRPCCode = 13
		b, _ := json.Marshal(streamChunk{Error: &ss})
		if !started {
			w.Header().Set("Content-Type", contentType(sse))
			w.WriteHeader(http.StatusInternalServerError)
		}
		write(frameError(b, sse))
	}
}

// encodeEvent renders one event as the stream forwarder does.
func encodeEvent(typ string, a Application, fields map[string]bool, exclude bool) ([]byte, error) {
	b, err := json.Marshal(streamChunk{Result: &watchEvent{Type: typ, Application: a}})
	if err != nil || fields == nil {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	processItem(nil, m, fields, exclude)
	return json.Marshal(m)
}

// writeStreamError answers an error before any event: the status, and an error chunk
// (framed as the form asked for says).
func writeStreamError(w http.ResponseWriter, sse bool, status int, msg string) {
	ss := streamStatus(status, msg)
	b, _ := json.Marshal(streamChunk{Error: &ss})
	w.Header().Set("Content-Type", contentType(sse))
	w.WriteHeader(status)
	_, _ = w.Write(frameError(b, sse))
}

// authorizeStream is authorize with the stream's error framing (the gRPC auth
// interceptor fails the call before any event).
func (s *Server) authorizeStream(w http.ResponseWriter, r *http.Request, sse bool) bool {
	rec := &statusRecorder{header: http.Header{}}
	if s.authorize(rec, r) {
		return true
	}
	var eb ErrorBody
	_ = json.Unmarshal(rec.body.Bytes(), &eb)
	writeStreamError(w, sse, rec.status, eb.Message)
	return false
}

type statusRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }
func (r *statusRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// countingWriter counts the response bytes (BytesSent: what a client downloads).
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// BytesSent is the number of response body bytes written on every endpoint.
func (s *Server) BytesSent() int64 { return s.bytesSent.Load() }
