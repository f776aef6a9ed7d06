package fakeargocd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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
//     result.application.<path>); an event whose filtered encoding equals the last one
//     sent for that Application name is dropped (NewStreamForwarder's dataByKey).
//   - No header is written before the first event: the status line arrives with it. An
//     error before any event is that HTTP status with an error chunk as the body; an
//     error after is an error chunk on the open 200 stream:
//     {"error":{"grpc_code":16,"http_code":401,"message":"...","http_status":"Unauthorized"}}.

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

// streams is the stream side of a Server.
type streams struct {
	mu      sync.Mutex
	mode    StreamMode
	changed chan struct{} // closed and replaced when the world changes or a break comes
	breakTo StreamBreak
	breakID uint64 // incremented by BreakStreams
	version uint64 // world version
	open    map[*stream]bool
	idle    chan struct{} // closed and replaced whenever a stream catches up

	chunks atomic.Int64 // events written, all streams
	conns  atomic.Int64 // stream requests served
}

type stream struct {
	seen uint64       // world version this stream has sent
	sent atomic.Int64 // events written on this stream
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

// OpenStreamChunks returns, for every open stream, the number of events written on it.
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
		if x.seen != st.version {
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
	switch mode {
	case StreamNotFound:
		writeError(w, http.StatusNotFound, 5, "Not Found")
		return
	case StreamUnimplemented:
		writeStreamError(w, http.StatusNotImplemented, "unknown service application.ApplicationService")
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
		writeStreamError(w, f.Status, msg)
		return
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(loginPage))
		return
	case FaultTruncated:
		// The stream's FaultTruncated: the status line and half of the first event,
		// then the connection drops (the list's Content-Length cut, chunk-framed).
		s.breakStream(w, StreamCut, func(b []byte) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			return true
		}, false)
		return
	}
	if !s.authorizeStream(w, r) {
		return
	}
	q := r.URL.Query()
	sel, err := ParseSelector(q.Get("selector"))
	if err != nil {
		writeStreamError(w, http.StatusInternalServerError, "error parsing labels with selectors: "+err.Error())
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

	x := &stream{}
	st.mu.Lock()
	st.open[x] = true
	breakID := st.breakID
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.open, x)
		st.mu.Unlock()
	}()

	var buffered bytes.Buffer // StreamBuffered: what a buffering proxy holds back
	wroteHeader := false
	write := func(b []byte) bool {
		if mode == StreamBuffered {
			buffered.Write(b)
			return true
		}
		if !wroteHeader {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Transfer-Encoding", "chunked")
			wroteHeader = true
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
		return write(append(b, '\n'))
	}

	// Snapshot and subscription happen under one look at the world, so nothing falls
	// between them (the real server lists, then subscribes).
	first := true
	for {
		st.mu.Lock()
		changed := st.changed
		brk, newBreak := st.breakTo, st.breakID != breakID
		st.mu.Unlock()
		if newBreak {
			s.breakStream(w, brk, write, wroteHeader || mode == StreamBuffered)
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
		st.mu.Lock()
		x.seen = version
		st.mu.Unlock()

		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// breakStream ends one stream as how says.
func (s *Server) breakStream(w http.ResponseWriter, how StreamBreak, write func([]byte) bool, started bool) {
	switch how {
	case StreamCut:
		// Half of an event, then the connection drops.
		b, _ := encodeEvent("MODIFIED", Application{Metadata: ObjectMeta{Name: "cut-in-the-middle"}}, nil, false)
		write(b[:len(b)/2])
		panic(http.ErrAbortHandler)
	case StreamUnauthorized:
		ss := streamStatus(http.StatusUnauthorized, "invalid session: token has invalid claims: token is expired")
		b, _ := json.Marshal(streamChunk{Error: &ss})
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
		}
		write(b)
	case StreamServerError:
		ss := streamStatus(http.StatusInternalServerError, "rpc error: code = Internal desc = etcdserver: leader changed")
		ss.GRPCCode = 13
		b, _ := json.Marshal(streamChunk{Error: &ss})
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
		}
		write(b)
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

// writeStreamError answers an error before any event: the status, and an error chunk.
func writeStreamError(w http.ResponseWriter, status int, msg string) {
	ss := streamStatus(status, msg)
	b, _ := json.Marshal(streamChunk{Error: &ss})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authorizeStream is authorize with the stream's error framing (the gRPC auth
// interceptor fails the call before any event).
func (s *Server) authorizeStream(w http.ResponseWriter, r *http.Request) bool {
	rec := &statusRecorder{header: http.Header{}}
	if s.authorize(rec, r) {
		return true
	}
	var eb ErrorBody
	_ = json.Unmarshal(rec.body.Bytes(), &eb)
	writeStreamError(w, rec.status, eb.Message)
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
