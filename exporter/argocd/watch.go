package argocd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// The application stream, GET /api/v1/stream/applications (argoproj/argo-cd
// server/application/application.go, func (s *Server) Watch): without resourceVersion it
// starts with every Application the token may see as an ADDED event (sorted by
// qualified name, with no marker at the end of that snapshot), then sends ADDED,
// MODIFIED and DELETED as they happen. grpc-gateway v1.16 (the version Argo CD pins)
// frames it as newline-delimited JSON, {"result":{"type":..,"application":{..}}}, with
// errors as {"error":{"grpc_code":..,"http_code":..,"message":..,"http_status":..}}
// (runtime.ForwardResponseStream / handleForwardResponseStreamError): as the body of a
// non-200 answer before any event, or as the last chunk of a 200 stream. No header is
// sent before the first event. `fields` is argoproj/pkg's generic filter over the whole
// {"result":..} object, so the paths carry the "result.application." prefix and
// "result.type" must be asked for (as Argo CD's UI does, ui/src/app/applications/
// components/applications-list/applications-list.tsx APP_WATCH_FIELDS); unlike the
// list's fixed table it keeps every path, status.sync.revision and status.history
// included: the server sends the whole Application (sendIfPermitted, status.history
// with it) and the forwarder's messageMarshaler (argoproj/pkg grpc/http/forwarders.go,
// no field processor for the stream, unlike the list's processApplicationListField)
// keeps what `fields` names, into arrays too. status.history is omitted when empty
// (`json:"history,omitempty"`, pkg/apis/application/v1alpha1/types.go).

// Event types of the stream.
const (
	EventAdded    = "ADDED"
	EventModified = "MODIFIED"
	EventDeleted  = "DELETED"
)

// WatchEvent is one event of the application stream.
type WatchEvent struct {
	Type        string      `json:"type"`
	Application Application `json:"application"`
}

// streamStatus is grpc-gateway v1's runtime.StreamError.
type streamStatus struct {
	GRPCCode   int    `json:"grpc_code"`
	HTTPCode   int    `json:"http_code"`
	Message    string `json:"message"`
	HTTPStatus string `json:"http_status"`
}

type streamChunk struct {
	Result *WatchEvent   `json:"result"`
	Error  *streamStatus `json:"error"`
}

// historyFields are the paths of status.history that History and DeploymentsOf read,
// under result.application.: what a session asks the stream for when it expects to
// read many histories (StreamHandler.History).
var historyFields = []string{"status.history.id", "status.history.revision", "status.history.revisions",
	"status.history.deployedAt", "status.history.deployStartedAt"}

// StreamFields is the `fields` whitelist of the stream for the argocd section cfg:
// result.type and, under result.application., what Evidence and RefOf read, each path as
// narrow as the stream's generic filter allows (any path, into arrays and maps too).
// Unlike the list's, a stream event then carries none of the spec's destination and
// sync policy, the summary's images, nor labels and annotations
// envtrack does not read (kubectl's last-applied-configuration alone can be kilobytes):
// a snapshot of 10,000 Applications is read at every new session.
func StreamFields(cfg config.ArgoCDConfig) []string {
	out := []string{"result.type"}
	add := func(paths ...string) {
		for _, p := range paths {
			out = append(out, "result.application."+p)
		}
	}
	add("metadata.name", "metadata.namespace", "metadata.creationTimestamp", "metadata.deletionTimestamp")
	for _, k := range []string{cfg.EnvironmentIDLabel, cfg.EnvironmentTypeLabel, cfg.RepositoryLabel, cfg.BranchLabel, cfg.CommitLabel} {
		if k != "" {
			add("metadata.labels." + k)
		}
	}
	for _, k := range []string{cfg.URLAnnotation, cfg.RequestedAtAnnotation} {
		if k != "" {
			add("metadata.annotations." + k)
		}
	}
	for _, src := range []string{"spec.source", "spec.sources", "spec.sourceHydrator.drySource"} {
		add(src+".repoURL", src+".targetRevision", src+".chart", src+".ref")
	}
	add("status.sync.status", "status.sync.revision", "status.sync.revisions",
		"status.health.status", "status.health.lastTransitionTime", "status.health.message",
		"status.conditions.type", "status.conditions.message",
		"status.summary.externalURLs",
		"status.operationState.phase", "status.operationState.message",
		"status.operationState.startedAt", "status.operationState.finishedAt",
		"status.operationState.syncResult.revision", "status.operationState.syncResult.revisions")
	return out
}

// ErrEventTooLarge is an application stream event over the size limit of a list answer
// (64 MiB): Watch refuses it, unread, and the watch source polls meanwhile, since the
// next session's snapshot would bring it again.
var ErrEventTooLarge = errors.New("application stream event too large")

// Unsupported reports whether err says that the server has no application stream: a
// 404 (an old server, or a proxy that does not route it) or 501 (gRPC Unimplemented).
// Polling is the answer to that, not a retry.
func Unsupported(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusNotImplemented)
}

type watchMetrics struct {
	events        *prometheus.CounterVec
	connects      *prometheus.CounterVec
	bytes         prometheus.Counter
	mode          *prometheus.GaugeVec
	evaluations   prometheus.Counter
	sessions      prometheus.Counter
	sessionEvents prometheus.Gauge
}

// Modes of SetMode (the values of argocd.mode).
const (
	ModeWatch = "watch"
	ModePoll  = "poll"
)

func newWatchMetrics(reg prometheus.Registerer) *watchMetrics {
	m := &watchMetrics{
		events:        metric.ArgoCDStreamEvents.NewCounterVec(reg),
		connects:      metric.ArgoCDStreamConnections.NewCounterVec(reg),
		bytes:         metric.ArgoCDStreamReadBytes.NewCounter(reg),
		mode:          metric.ArgoCDMode.NewGaugeVec(reg),
		evaluations:   metric.ArgoCDWatchEvaluations.NewCounter(reg),
		sessions:      metric.ArgoCDWatchSessions.NewCounter(reg),
		sessionEvents: metric.ArgoCDStreamSessionEvents.NewGauge(reg),
	}
	for _, t := range []string{EventAdded, EventModified, EventDeleted} {
		m.events.WithLabelValues(t)
	}
	return m
}

// SetMode says which mode the source runs in (envtrack_argocd_mode).
func (c *Client) SetMode(mode string) {
	for _, x := range []string{ModeWatch, ModePoll} {
		v := 0.0
		if x == mode {
			v = 1
		}
		c.wm.mode.WithLabelValues(x).Set(v)
	}
}

// SessionStarted counts a watch session and resets its event count.
func (c *Client) SessionStarted() {
	c.wm.sessions.Inc()
	c.wm.sessionEvents.Set(0)
}

// EventHandled counts an event the watch source has handled in its session.
func (c *Client) EventHandled() { c.wm.sessionEvents.Inc() }

// Evaluated counts an evaluation of the watch source's view.
func (c *Client) Evaluated() { c.wm.evaluations.Inc() }

// streamURL is the stream's URL: the list's selector and projects, and StreamFields
// (with status.history's paths when history is set) unless whole Applications were
// asked for.
func (c *Client) streamURL(history bool) string {
	u, _ := url.Parse(c.listURL) // built by New
	q := u.Query()
	u.Path = strings.TrimSuffix(u.Path, "/api/v1/applications") + "/api/v1/stream/applications"
	if q.Has("fields") {
		fields := c.streamFields
		if history {
			fields = slices.Clone(fields)
			for _, p := range historyFields {
				fields = append(fields, "result.application."+p)
			}
		}
		q.Set("fields", strings.Join(fields, ","))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// streamHistory completes what a stream event a says of status.history, on a stream
// that carries it (history: StreamHandler.History was set; or whole Applications).
// Argo CD leaves an empty history out, so an absent one is none, and the tracker needs
// no read (tracker.NeedsHistory). Unless the Application shows a succeeded operation,
// which Argo CD records in status.history (controller/state.go persistRevisionHistory):
// then the history stays unknown (nil), to be read, in case something on the way
// dropped it.
func (c *Client) streamHistory(a *Application, history bool) {
	if a.Status.History != nil || !history && !c.whole {
		return
	}
	if op := a.Status.OperationState; op != nil && op.Phase == opSucceeded {
		return
	}
	a.Status.History = []RevisionHistory{}
}

// StreamHandler is what Watch calls while the stream flows.
type StreamHandler struct {
	// History asks the stream for status.history too (whole Applications carry it
	// anyway): more bytes per event, and no GET /api/v1/applications/{name} per
	// Application whose history is needed. An event then carries Status.History, empty
	// when Argo CD sent none, or nil where it must be read all the same (streamHistory).
	History bool
	// Connected, if set, is called as soon as the answer's header arrives (Argo CD sends
	// it with the first event); sse says that the server answered the SSE form, which
	// sends a keepalive every 15 seconds from then on.
	Connected func(sse bool)
	// Event is called with every event, in order; more says that the next one is already
	// buffered (a burst, such as the snapshot), so the caller can batch its work until
	// more is false. An error ends the stream with it.
	Event func(e *WatchEvent, more bool) error
	// Keepalive, if set, is called for every keepalive of the SSE form.
	Keepalive func()
}

// KeepaliveInterval is how often Argo CD writes a keepalive on the SSE form of the
// stream (argoproj/pkg grpc/http/forwarders.go keepalive, fixed at 15 seconds).
const KeepaliveInterval = 15 * time.Second

// Watch opens the application stream and calls h with every event, in order, until ctx
// ends (nil), the stream ends or breaks, or h.Event fails. It asks for the SSE form
// (Accept: text/event-stream, as Argo CD's UI does), whose keepalives tell an idle
// stream from a stalled one, and reads the plain form when a server or proxy answers it
// instead. It returns an *APIError for an error answer or an error chunk (a 401 in the
// middle of the stream), a *ResponseError for something that is not the stream (a
// proxy's login page, a chunk that is not an event), a *TransportError when the
// connection fails or is cut, and io.EOF when the server ends the stream cleanly. Watch
// has no overall timeout: the caller bounds the wait for the first event, and the
// silence after it. The stream is read ahead of h (readAhead events), so that a slow
// h.Event does not hold Argo CD back; h sees everything in order, in one goroutine.
func (c *Client) Watch(ctx context.Context, h StreamHandler) error {
	resp, err := c.get(ctx, c.streamURL(h.History), sseType)
	if err != nil {
		c.wm.connects.WithLabelValues("error").Inc()
		if ctx.Err() != nil {
			return nil
		}
		return c.streamTransportError(err)
	}
	defer resp.Body.Close()
	c.wm.connects.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	sse := mt == sseType
	if resp.StatusCode != http.StatusOK {
		body, err := readLimited(resp.Body, resp.ContentLength, 64<<10)
		if err != nil && !errors.Is(err, errTooLarge) {
			return c.streamTransportError(err)
		}
		var ch streamChunk
		if json.Unmarshal(sseData(body), &ch) == nil && ch.Error != nil {
			return c.streamAPIError(resp.StatusCode, ch.Error)
		}
		ae := c.apiError(resp, body).(*APIError)
		ae.Op = "watch"
		return ae
	}
	if h.Connected != nil {
		h.Connected(sse)
	}
	// Each event is capped as a list answer is (maxBodyBytes): the reader refuses to read
	// more than that past the end of the last event, so the decoder never buffers an
	// event beyond the cap, however large the stream says it is.
	br := &eventReader{r: resp.Body, end: c.maxBody}
	// The stream is read and decoded ahead, by its own goroutine, up to readAhead
	// events: while h.Event commits a burst, the next is read, and Argo CD is not held
	// back by a full socket buffer. Keepalives come through in order with the events.
	items := make(chan streamItem, readAhead)
	done, exited := make(chan struct{}), make(chan struct{})
	defer func() {
		close(done)
		resp.Body.Close() // a read blocked on the network returns
		<-exited
	}()
	send := func(it streamItem) bool {
		select {
		case items <- it:
			return true
		case <-done:
			return false
		}
	}
	var next func() (*streamChunk, bool, error)
	if sse {
		var keepalive func()
		if h.Keepalive != nil {
			keepalive = func() { send(streamItem{keepalive: true}) }
		}
		next = c.sseChunks(br, ct, keepalive)
	} else {
		next = c.jsonChunks(br, ct)
	}
	go func() {
		defer close(exited)
		var counted int64 // bytes counted in envtrack_argocd_stream_read_bytes_total: as they are read
		defer func() { c.wm.bytes.Add(float64(br.n - counted)) }()
		for {
			ch, more, err := next()
			c.wm.bytes.Add(float64(br.n - counted))
			counted = br.n
			if ctx.Err() != nil {
				send(streamItem{end: true})
				return
			}
			if err = c.chunkError(br, ct, ch, err); err != nil {
				send(streamItem{end: true, err: err})
				return
			}
			c.streamHistory(&ch.Result.Application, h.History)
			if !send(streamItem{e: ch.Result, more: more}) {
				return
			}
		}
	}()
	var ahead *streamItem // the item after the current one, when already decoded
	for {
		it := ahead
		if ahead = nil; it == nil {
			v := <-items
			it = &v
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case it.end:
			return it.err
		case it.keepalive:
			h.Keepalive()
			continue
		}
		more := it.more // the decoder holds the start of the next event
		select {
		case v := <-items:
			ahead, more = &v, v.e != nil
		default:
		}
		c.wm.events.WithLabelValues(it.e.Type).Inc()
		if err := h.Event(it.e, more); err != nil {
			return err
		}
	}
}

// readAhead bounds the stream's events decoded ahead of the one being handled: a
// quarter of a burst (maxBurst), which keeps the stream flowing while one commits.
const readAhead = maxBurst / 4

// streamItem is what the stream's reader hands on: an event (e; more says that the
// decoder already holds the start of the next), a keepalive, or the end (err, nil when
// ctx ended).
type streamItem struct {
	e         *WatchEvent
	more      bool
	keepalive bool
	end       bool
	err       error
}

// chunkError is the error that ends the stream at a chunk (ch, or err reading it), or
// nil for an application event.
func (c *Client) chunkError(br *eventReader, ct string, ch *streamChunk, err error) error {
	switch {
	case errors.Is(br.err, errTooLarge) || errors.Is(err, ErrEventTooLarge):
		c.m.decodeErrors.Inc()
		return c.tooLargeError(ct)
	case br.err != nil:
		return c.streamTransportError(br.err)
	case err != nil:
		return err
	case ch.Error != nil:
		return c.streamAPIError(ch.Error.HTTPCode, ch.Error)
	case ch.Result == nil || ch.Result.Application.Metadata.Name == "":
		return &ResponseError{Op: "watch", Reason: "a chunk that is not an application event", ContentType: ct}
	}
	switch ch.Result.Type {
	case EventAdded, EventModified, EventDeleted:
		return nil
	}
	return &ResponseError{Op: "watch", Reason: fmt.Sprintf("unknown event type %q", snippet([]byte(ch.Result.Type))), ContentType: ct}
}

const sseType = "text/event-stream"

// jsonChunks reads the plain form: one JSON object after the other.
func (c *Client) jsonChunks(br *eventReader, ct string) func() (*streamChunk, bool, error) {
	dec := json.NewDecoder(br)
	n := 0
	return func() (*streamChunk, bool, error) {
		var ch streamChunk // fresh each time: decoding into old maps would merge them
		err := dec.Decode(&ch)
		n++
		switch {
		case err == io.EOF:
			return nil, false, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, false, c.cutError(err)
		case err != nil:
			reason := "malformed JSON"
			if mt, _, _ := mime.ParseMediaType(ct); n == 1 && mt != "application/json" {
				reason = "not JSON"
			}
			return nil, false, &ResponseError{Op: "watch", Reason: reason, ContentType: ct, Err: err}
		}
		br.end = dec.InputOffset() + c.maxBody // the next event's cap
		return &ch, buffered(dec), nil
	}
}

// sseChunks reads the SSE form (the WHATWG event-stream format as Argo CD writes it):
// "data:" lines make an event, an empty line ends it, lines starting with ":" are
// comments (Argo CD's keepalives), "event:", "id:" and "retry:" lines are ignored.
func (c *Client) sseChunks(br *eventReader, ct string, keepalive func()) func() (*streamChunk, bool, error) {
	r := bufio.NewReaderSize(br, 64<<10)
	var data []byte
	return func() (*streamChunk, bool, error) {
		data = data[:0]
		for {
			line, err := readLine(r, c.maxBody)
			switch {
			case err == io.EOF && len(line) == 0 && len(data) == 0:
				return nil, false, io.EOF
			case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
				return nil, false, c.cutError(io.ErrUnexpectedEOF)
			case errors.Is(err, errTooLarge):
				return nil, false, c.tooLargeError(ct)
			case err != nil:
				return nil, false, err // br.err: the caller reports it
			}
			switch field, value, _ := bytes.Cut(line, []byte(":")); {
			case len(line) == 0 && len(data) > 0:
				var ch streamChunk
				if err := json.Unmarshal(data, &ch); err != nil {
					return nil, false, &ResponseError{Op: "watch", Reason: "malformed JSON", ContentType: ct, Err: err}
				}
				br.end = br.n - int64(r.Buffered()) + c.maxBody // the next event's cap
				return &ch, moreEvents(r), nil
			case len(line) == 0:
			case len(field) == 0:
				if len(data) == 0 { // a keepalive between events: the cap counts from here
					br.end = br.n - int64(r.Buffered()) + c.maxBody
				}
				if keepalive != nil {
					keepalive()
				}
			case string(field) == "data":
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, bytes.TrimPrefix(value, []byte(" "))...)
			case string(field) == "event", string(field) == "id", string(field) == "retry":
			default:
				return nil, false, &ResponseError{Op: "watch", Reason: "not an event stream", ContentType: ct,
					Err: fmt.Errorf("line %q", snippet(line))}
			}
		}
	}
}

// readLine reads one line without its end ("\n" or "\r\n"), at most max bytes.
func readLine(r *bufio.Reader, max int64) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if int64(len(line)+len(frag)) > max {
			return nil, errTooLarge
		}
		switch {
		case err == bufio.ErrBufferFull:
			line = append(line, frag...)
			continue
		case err != nil:
			return append(line, frag...), err
		}
		if line == nil {
			line = frag // no copy for the usual short line; valid until the next read
		} else {
			line = append(line, frag...)
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		return line, nil
	}
}

// moreEvents reports whether r already holds the start of another event.
func moreEvents(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	return bytes.Contains(b, []byte("data:"))
}

// sseData is the data of an SSE-framed error body ("data: {...} \n\n"), or b itself.
func sseData(b []byte) []byte {
	if t := bytes.TrimSpace(b); bytes.HasPrefix(t, []byte("data:")) {
		return bytes.TrimSpace(t[len("data:"):])
	}
	return b
}

// tooLargeError is the answer to an event over the cap (ErrEventTooLarge).
func (c *Client) tooLargeError(ct string) error {
	return &ResponseError{Op: "watch", Reason: fmt.Sprintf("an event larger than %d bytes (the limit of a list answer)", c.maxBody),
		ContentType: ct, Err: ErrEventTooLarge}
}

func (c *Client) cutError(err error) error {
	return &TransportError{msg: c.redact(fmt.Sprintf("argocd: watch applications from %s: stream cut in the middle of an event", c.server)), err: err}
}

// eventReader is the stream's body as its decoder reads it: at most end bytes in all. The
// decoder asks for more only while a value is incomplete, so a read at end means an
// event longer than the cap: it fails with errTooLarge (Watch moves end after each
// event). Like bodyReader it remembers the first transport error.
type eventReader struct {
	r      io.Reader
	n, end int64
	err    error
}

func (e *eventReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.n >= e.end {
		e.err = errTooLarge
		return 0, e.err
	}
	if int64(len(p)) > e.end-e.n {
		p = p[:e.end-e.n]
	}
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (c *Client) streamAPIError(status int, s *streamStatus) error {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &APIError{Op: "watch", StatusCode: status, Code: s.GRPCCode, Message: c.redact(snippet([]byte(s.Message)))}
}

func (c *Client) streamTransportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	level.Debug(c.logger).Log("msg", "application stream failed", "err", err)
	return &TransportError{msg: c.redact(fmt.Sprintf("argocd: watch applications from %s: %v", c.server, err)), err: err}
}

// SnapshotTimeout is how long the watch waits for the first event of a stream that must
// start with a snapshot (the request timeout): longer means a proxy buffers the stream.
func (c *Client) SnapshotTimeout() time.Duration { return c.timeout }

// buffered reports whether the decoder holds the start of another value.
func buffered(dec *json.Decoder) bool {
	r := dec.Buffered() // the rest of the decoder's buffer, read without copying it
	var buf [256]byte
	for seen := 0; seen < 4096; {
		n, err := r.Read(buf[:])
		if len(bytes.TrimSpace(buf[:n])) > 0 {
			return true
		}
		if err != nil || n == 0 {
			return false
		}
		seen += n
	}
	return false
}

// Names lists the names of the Applications List would return (`fields` keeps only
// metadata.name: a tenth of a byte per byte of the full list), to know which
// Applications a stream's snapshot must bring.
func (c *Client) Names(ctx context.Context) ([]string, error) {
	u, _ := url.Parse(c.listURL) // built by New
	q := u.Query()
	q.Set("fields", "items.metadata.name")
	u.RawQuery = q.Encode()
	names := []string{}
	_, err := c.each(ctx, u.String(), func(a *Application) error {
		names = append(names, a.Metadata.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}
