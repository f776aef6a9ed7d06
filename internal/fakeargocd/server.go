package fakeargocd

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultToken is the bearer token a Server accepts unless WithToken says otherwise.
const DefaultToken = "fake-argocd-token"

// maxCached bounds the rendered answers kept between two changes of the world.
const maxCached = 16

// Server is a fake Argo CD API server. It serves
//
//	GET /api/v1/applications          ?selector= &projects= (repeatable) &fields=
//	GET /api/v1/applications/{name}   ?project=
//
// with Argo CD's authentication, JSON shapes and error bodies, from a scriptable world of
// Applications, and fails on demand (SetFault). It is an http.Handler, so a demo command
// can serve it on its own listener; tests use Start/StartTLS/Close or NewServer(t).
// All methods are safe for concurrent use.
type Server struct {
	token              string
	fieldsMode         FieldsMode
	noHealthTransition bool
	keepalive          time.Duration // the SSE form's keepalive interval; 0: only Keepalive

	mu        sync.Mutex
	apps      map[string]Application
	rv        int64
	cache     map[string][]byte
	fault     Fault
	faultLeft int           // remaining faulted requests; <0: until cleared
	getFault  Fault         // for GET /api/v1/applications/{name} (SetGetFault)
	released  chan struct{} // closed and replaced when the list's fault changes (FaultHeld)
	getFreed  chan struct{} // the same for the get's fault
	held      atomic.Int64  // requests held now
	requests  int
	changed   chan struct{} // closed and replaced at each served list request
	gets      atomic.Int64  // GET /api/v1/applications/{name} requests (GetRequests)

	handler      http.Handler
	streams      *streams     // GET /api/v1/stream/applications (stream.go)
	bytesSent    atomic.Int64 // response bytes written, every endpoint
	testHookList func()       // called when a list request arrives (tests only)
	ts           *httptest.Server
	done         chan struct{}
	once         sync.Once
}

// Option configures New.
type Option func(*Server)

// WithToken sets the bearer token the server accepts.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithFieldsMode selects how `fields` is honoured (default FieldsWhitelist, as v2.14).
func WithFieldsMode(m FieldsMode) Option { return func(s *Server) { s.fieldsMode = m } }

// WithoutHealthTransitionTime strips status.health.lastTransitionTime from every answer,
// as servers older than v2.14 (or older CRDs) do.
func WithoutHealthTransitionTime() Option { return func(s *Server) { s.noHealthTransition = true } }

// WithResourceVersion sets the current resourceVersion counter.
func WithResourceVersion(rv int64) Option { return func(s *Server) { s.rv = rv } }

// WithApps starts the world with apps (as SetApps).
func WithApps(apps ...Application) Option { return func(s *Server) { s.setApps(apps) } }

// New returns an unstarted Server.
func New(opts ...Option) *Server {
	s := &Server{
		token:     DefaultToken,
		apps:      map[string]Application{},
		cache:     map[string][]byte{},
		changed:   make(chan struct{}),
		released:  make(chan struct{}),
		getFreed:  make(chan struct{}),
		done:      make(chan struct{}),
		streams:   newStreams(),
		keepalive: defaultKeepalive,
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/applications", s.handleList)
	mux.HandleFunc("GET /api/v1/applications/{name}", s.handleGet)
	mux.HandleFunc("GET /api/v1/stream/applications", s.handleStream)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 5, "Not Found")
	})
	s.handler = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(&countingWriter{ResponseWriter: w, n: &s.bytesSent}, r)
}

// Start serves on a random port of 127.0.0.1 over HTTP.
func (s *Server) Start() {
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Start()
}

// StartTLS serves on a random port of 127.0.0.1 over HTTPS with a self-signed
// certificate for 127.0.0.1 (see Certificate).
func (s *Server) StartTLS() {
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.StartTLS()
}

// URL is the base URL (http://127.0.0.1:port), to use as argocd.server.
func (s *Server) URL() string { return s.ts.URL }

// Certificate is the TLS certificate of a server started with StartTLS.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// HTTPClient returns a client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client { return s.ts.Client() }

// Token is the bearer token the server accepts.
func (s *Server) Token() string { return s.token }

// Close stops the server; requests held by a Slow fault end at once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// --- the world ---

// SetApps replaces every Application. Apps without metadata.resourceVersion get a new one;
// the server's resourceVersion is at least the highest one given.
func (s *Server) SetApps(apps []Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setApps(apps)
}

func (s *Server) setApps(apps []Application) {
	old := s.apps
	s.apps = make(map[string]Application, len(apps))
	for _, a := range apps {
		c := a.DeepCopy()
		if prev, ok := old[c.Metadata.Name]; ok && c.Metadata.ResourceVersion == "" {
			// Kubernetes keeps the resourceVersion of an object a write did not change.
			prev.Metadata.ResourceVersion = ""
			if reflect.DeepEqual(prev, c) {
				c.Metadata.ResourceVersion = old[c.Metadata.Name].Metadata.ResourceVersion
			}
		}
		if c.Metadata.ResourceVersion == "" {
			s.rv++
			c.Metadata.ResourceVersion = strconv.FormatInt(s.rv, 10)
		} else if n, err := strconv.ParseInt(c.Metadata.ResourceVersion, 10, 64); err == nil && n > s.rv {
			s.rv = n
		}
		s.apps[c.Metadata.Name] = c
	}
	s.invalidate()
}

// Upsert creates or replaces the Application named a.Metadata.Name and gives it a new
// resourceVersion, as any write to Kubernetes does.
func (s *Server) Upsert(a Application) {
	c := a.DeepCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	c.Metadata.ResourceVersion = strconv.FormatInt(s.rv, 10)
	s.apps[c.Metadata.Name] = c
	s.invalidate()
}

// Update applies fn to the named Application atomically (use the mutators: StartSync,
// SyncSucceeded, SetHealth, MarkDeleting, ...). It reports whether the app exists.
func (s *Server) Update(name string, fn func(*Application)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[name]
	if !ok {
		return false
	}
	c := a.DeepCopy()
	fn(&c)
	c = c.DeepCopy() // fn may have kept references
	delete(s.apps, name)
	s.rv++
	c.Metadata.ResourceVersion = strconv.FormatInt(s.rv, 10)
	s.apps[c.Metadata.Name] = c
	s.invalidate()
	return true
}

// Delete removes the Application for good (the finalizers ran). It reports whether it
// existed.
func (s *Server) Delete(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[name]; !ok {
		return false
	}
	delete(s.apps, name)
	s.rv++
	s.invalidate()
	return true
}

// Get returns a copy of the named Application.
func (s *Server) Get(name string) (Application, bool) {
	s.mu.Lock()
	a, ok := s.apps[name]
	s.mu.Unlock()
	if !ok {
		return Application{}, false
	}
	return a.DeepCopy(), true
}

// Apps returns copies of every Application, sorted by name.
func (s *Server) Apps() []Application {
	s.mu.Lock()
	apps := s.sortedLocked()
	s.mu.Unlock()
	for i := range apps {
		apps[i] = apps[i].DeepCopy()
	}
	return apps
}

// SetResourceVersion sets the list resourceVersion.
func (s *Server) SetResourceVersion(rv int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv = rv
	s.invalidate()
}

// ResourceVersion returns the list resourceVersion.
func (s *Server) ResourceVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatInt(s.rv, 10)
}

func (s *Server) invalidate() {
	clear(s.cache)
	if s.streams != nil {
		s.streams.worldChanged()
	}
}

func (s *Server) sortedLocked() []Application {
	apps := make([]Application, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Metadata.Name < apps[j].Metadata.Name })
	return apps
}

// --- faults and request accounting ---

// SetFault makes the next list requests (all of them, or f.Times) fail as f says. The
// stream's requests meet the same fault.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
	s.fault = f
	s.faultLeft = f.Times
	if f.Times <= 0 {
		s.faultLeft = -1
	}
}

// ClearFault makes the server answer normally again.
func (s *Server) ClearFault() { s.SetFault(Fault{}) }

// releaseLocked ends the holds of the list's FaultHeld (s.mu held).
func (s *Server) releaseLocked() {
	close(s.released)
	s.released = make(chan struct{})
}

// hold holds a request that met FaultHeld until the fault changes, and reports whether
// it may be answered (false: the client or the server went away meanwhile).
func (s *Server) hold(r *http.Request, f Fault) bool {
	s.held.Add(1)
	defer s.held.Add(-1)
	select {
	case <-f.release:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// HeldRequests is the number of requests FaultHeld holds now.
func (s *Server) HeldRequests() int { return int(s.held.Load()) }

// takeFault returns the fault for this request, consuming one use.
func (s *Server) takeFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	f.release = s.released
	if f.Kind == FaultNone || s.faultLeft == 0 {
		return Fault{}
	}
	if s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.fault = Fault{}
		}
	}
	return f
}

// Requests returns how many list requests were served (answered, failed or abandoned).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// WaitRequests blocks until at least n list requests were served, or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	s.mu.Lock()
	for s.requests < n {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakeargocd: waiting for %d list requests (served %d): %w", n, s.Requests(), ctx.Err())
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) served() {
	s.mu.Lock()
	s.requests++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// --- handlers ---

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	defer s.served()
	if s.testHookList != nil {
		s.testHookList()
	}
	f := s.takeFault()
	switch f.Kind {
	case FaultStatus:
		writeFault(w, f)
		return
	case FaultHeld:
		if !s.hold(r, f) {
			return
		}
	case FaultSlow:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(loginPage))
		return
	}
	if !s.authorize(w, r) {
		return
	}
	q := r.URL.Query()
	sel, err := ParseSelector(q.Get("selector"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, 2, "error parsing the selector: "+err.Error())
		return
	}
	projects := append(append([]string(nil), q["projects"]...), q["project"]...)
	body, err := s.renderList(sel, q.Get("selector"), projects, q.Get("fields"), f.Kind == FaultEmptyList)
	if err != nil {
		writeError(w, http.StatusInternalServerError, 13, err.Error())
		return
	}
	switch f.Kind {
	case FaultMissingItems:
		body = []byte(`{"metadata":{"resourceVersion":"` + s.ResourceVersion() + `"}}`)
	case FaultTruncated:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body, silently
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// renderList encodes the matching Applications, from the cache when the world did not
// change since the same query.
func (s *Server) renderList(sel Selector, rawSel string, projects []string, fields string, empty bool) ([]byte, error) {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%t", rawSel, strings.Join(projects, "\x01"), fields, empty)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.cache[key]; ok {
		return b, nil
	}
	items := make([]Application, 0, len(s.apps))
	if !empty {
		for _, a := range s.sortedLocked() {
			if !sel.Matches(a.Metadata.Labels) {
				continue
			}
			if len(projects) > 0 && !contains(projects, a.Project()) {
				continue
			}
			items = append(items, s.present(a))
		}
	}
	rv := strconv.FormatInt(s.rv, 10)
	var (
		b   []byte
		err error
	)
	switch {
	case fields == "":
		b, err = json.Marshal(ApplicationList{Metadata: ListMeta{ResourceVersion: rv}, Items: items})
	case s.fieldsMode == FieldsGeneric:
		fs, exclude := parseFields(fields)
		b, err = encodeGeneric(ApplicationList{Metadata: ListMeta{ResourceVersion: rv}, Items: items}, fs, exclude)
	default:
		fs, exclude := parseFields(fields)
		b, err = encodeWhitelist(rv, items, fs, exclude)
	}
	if err != nil {
		return nil, err
	}
	if len(s.cache) >= maxCached {
		s.invalidate()
	}
	s.cache[key] = b
	return b, nil
}

// present applies server-wide presentation options to an Application (shallowly: the
// stored copy is never modified).
func (s *Server) present(a Application) Application {
	if s.noHealthTransition && a.Status.Health.LastTransitionTime != nil {
		a.Status.Health.LastTransitionTime = nil
	}
	return a
}

// handleGet is argocd-server's Get (server/application/application.go Get and
// getAppEnforceRBAC): the whole Application, status.history included (envtrack reads it
// there, as the list's `fields` leave it out); an absent Application is 403 "permission
// denied" without a project (so existence does not leak) and 404 with one.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.gets.Add(1)
	if s.failGet(w, r) {
		return
	}
	if !s.authorize(w, r) {
		return
	}
	name := r.PathValue("name")
	q := r.URL.Query()
	projects := append(append([]string(nil), q["project"]...), q["projects"]...)
	if len(projects) > 1 {
		writeError(w, http.StatusBadRequest, 3, "multiple projects specified - the get endpoint accepts either zero or one project")
		return
	}
	notFound := fmt.Sprintf("applications.argoproj.io %q not found", name)
	s.mu.Lock()
	a, ok := s.apps[name]
	if ok {
		a = s.present(a)
	}
	s.mu.Unlock()
	switch {
	case !ok && len(projects) == 1:
		writeError(w, http.StatusNotFound, 5, notFound)
		return
	case !ok:
		// Argo CD does not tell "absent" from "not allowed" without a project.
		writeError(w, http.StatusForbidden, 7, "permission denied")
		return
	case len(projects) == 1 && a.Project() != projects[0]:
		writeError(w, http.StatusNotFound, 5, notFound)
		return
	}
	b, err := json.Marshal(a)
	if err != nil {
		writeError(w, http.StatusInternalServerError, 13, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// authorize checks the session token as argocd-server does: a bearer token in the
// Authorization header, else the argocd.token cookie.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	} else if c, err := r.Cookie("argocd.token"); err == nil {
		tok = c.Value
	}
	if tok == "" {
		writeError(w, http.StatusUnauthorized, 16, "no session information")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		reason := "token signature is invalid: signature is invalid"
		if strings.Count(tok, ".") != 2 {
			reason = "token is malformed: token contains an invalid number of segments"
		}
		writeError(w, http.StatusUnauthorized, 16, "invalid session: "+reason)
		return false
	}
	return true
}

// ErrorBody is the JSON error body of argocd-server (grpc-gateway).
type ErrorBody struct {
	Error   string `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: msg, Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.Plain {
		msg := f.Message
		if msg == "" {
			msg = proxyText(f.Status)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(msg))
		return
	}
	code := f.Code
	if code == 0 {
		code = grpcCode(f.Status)
	}
	msg := f.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(f.Status))
	}
	writeError(w, f.Status, code, msg)
}

// proxyText is what an Envoy-style proxy answers when argocd-server is not reachable.
func proxyText(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	case http.StatusGatewayTimeout:
		return "upstream request timeout"
	default:
		return http.StatusText(status)
	}
}
