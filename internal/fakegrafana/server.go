package fakegrafana

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the service account token a Server accepts unless WithToken says
// otherwise. It has the shape of a real one (glsa_<32 characters>_<8 hex digits>).
const DefaultToken = "glsa_fAkEgRaFaNaTeStSeRvIcEaCcOuNt_0a1b2c3d"

// DefaultIdentity is the service account DefaultToken (or WithToken's token)
// authenticates as: an Editor, allowed to create annotations.
var DefaultIdentity = Identity{UserID: 2, Login: "sa-1-envtrack", Email: "sa-1-envtrack"}

// DefaultMaxTagsLength is Grafana's default [annotations] tags_length: the JSON-encoded
// length of an annotation's tags may not exceed it.
const DefaultMaxTagsLength = 500

// maxBody bounds a POST body the fake reads.
const maxBody = 1 << 20

// Server is a fake Grafana HTTP API for annotations. It serves
//
//	POST /api/annotations   {dashboardUID?, dashboardId?, panelId?, time, timeEnd?, tags, text, data?}
//	GET  /api/annotations   ?tags= (repeatable) &matchAny= &from= &to= &limit= &type= &dashboardUID=
//	                        &dashboardId= &panelId= &userId= &alertId=
//	DELETE /api/annotations/{id}
//
// with Grafana's authentication (Authorization: Bearer <service account token or API
// key>, or Basic api_key:<token>), validation, storage semantics, JSON shapes and error
// bodies (pkg/api/annotations.go, pkg/services/annotations, pkg/services/tag of Grafana
// 10-12), and fails on demand (SetFault). It records every request (Log) and every
// annotation (Annotations). It is an http.Handler, so a demo command can serve it on its
// own listener; tests use Start/Close or NewServer(t). All methods are safe for
// concurrent use.
type Server struct {
	token         string
	identities    map[string]Identity
	dashboards    map[string]int64 // uid -> id
	now           func() time.Time
	maxTagsLength int

	mu        sync.Mutex
	anns      []Annotation // by id
	nextID    int64
	fault     Fault
	faultSkip int
	faultLeft int // <0: until cleared
	arrivals  int
	requests  int
	log       []Request
	changed   chan struct{} // closed and replaced at each arrival and each served request
	aceSeq    int

	handler http.Handler
	ts      *httptest.Server
	done    chan struct{}
	once    sync.Once
}

// Option configures New.
type Option func(*Server)

// WithToken replaces DefaultToken: token authenticates as DefaultIdentity.
func WithToken(token string) Option {
	return func(s *Server) {
		delete(s.identities, s.token)
		s.token = token
		s.identities[token] = DefaultIdentity
	}
}

// WithReadOnlyToken adds a token of a Viewer service account ("sa-1-viewer"): it may
// read annotations, and POST answers 403.
func WithReadOnlyToken(token string) Option {
	return WithIdentity(token, Identity{UserID: 3, Login: "sa-1-viewer", Email: "sa-1-viewer", ReadOnly: true})
}

// WithIdentity adds a token that authenticates as id.
func WithIdentity(token string, id Identity) Option {
	return func(s *Server) { s.identities[token] = id }
}

// WithDashboard makes a dashboard with this uid and id exist. An annotation posted with
// an unknown dashboardUID becomes an organization annotation, as in Grafana; a GET with
// an unknown dashboardUID answers 400.
func WithDashboard(uid string, id int64) Option {
	return func(s *Server) { s.dashboards[uid] = id }
}

// WithClock sets the clock that stamps created/updated (and time, when a POST has none).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithMaxTagsLength sets [annotations] tags_length (default DefaultMaxTagsLength).
func WithMaxTagsLength(n int) Option { return func(s *Server) { s.maxTagsLength = n } }

// New returns an unstarted Server.
func New(opts ...Option) *Server {
	s := &Server{
		token:         DefaultToken,
		identities:    map[string]Identity{DefaultToken: DefaultIdentity},
		dashboards:    map[string]int64{},
		now:           time.Now,
		maxTagsLength: DefaultMaxTagsLength,
		changed:       make(chan struct{}),
		done:          make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/annotations", s.handle)
	mux.HandleFunc("GET /api/annotations", s.handle)
	mux.HandleFunc("DELETE /api/annotations/{id}", s.handle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	})
	s.handler = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Start serves on a random port of 127.0.0.1 over HTTP.
func (s *Server) Start() {
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Start()
}

// URL is the base URL (http://127.0.0.1:port), to use as grafana.url.
func (s *Server) URL() string { return s.ts.URL }

// Token is the service account token of DefaultIdentity.
func (s *Server) Token() string { return s.token }

// Close stops the server; requests held by a Hang fault end at once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// --- the stored annotations ---

// Annotations returns copies of every stored annotation, by id, as GET would encode
// them.
func (s *Server) Annotations() []Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Annotation, len(s.anns))
	for i, a := range s.anns {
		out[i] = a.clone()
	}
	return out
}

// Add stores a as if it had been posted before (a previous run of the program): it
// gets the next id, normalized tags, and created/updated from the clock unless set. It
// returns the id.
func (s *Server) Add(a Annotation) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	a = a.clone()
	a.Tags = NormalizeTags(a.Tags)
	if a.Created == 0 {
		a.Created = s.now().UnixMilli()
	}
	if a.Updated == 0 {
		a.Updated = a.Created
	}
	if a.TimeEnd == 0 {
		a.TimeEnd = a.Time
	}
	return s.storeLocked(a)
}

func (s *Server) storeLocked(a Annotation) int64 {
	s.nextID++
	a.ID = s.nextID
	s.anns = append(s.anns, a)
	return a.ID
}

// --- faults and request accounting ---

// SetFault makes the next requests fail as f says (see Fault).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.faultSkip = f.Skip
	s.faultLeft = f.Times
	if f.Times <= 0 {
		s.faultLeft = -1
	}
}

// ClearFault makes the server answer normally again.
func (s *Server) ClearFault() { s.SetFault(Fault{}) }

// takeFault returns the fault for a request with this method at this stage (before
// handling, or after it stored an annotation), consuming one use.
func (s *Server) takeFault(method string, afterStore bool) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f.Kind == FaultNone || s.faultLeft == 0 || f.AfterStore != afterStore ||
		(f.Method != "" && f.Method != method) {
		return Fault{}, false
	}
	if s.faultSkip > 0 {
		s.faultSkip--
		return Fault{}, false
	}
	if s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.fault = Fault{}
		}
	}
	return f, true
}

// Requests returns how many requests were served (answered, failed, dropped or
// abandoned by the client) on /api/annotations. A request is counted before its answer
// is written, so a client that has its answer finds its request counted.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Log returns every served request, in the order they ended.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// WaitRequests blocks until at least n requests were served, or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	return s.wait(ctx, n, "served", func() int { return s.requests })
}

// WaitArrivals blocks until at least n requests reached the handler (served or not
// yet: a request held by a Hang fault has arrived), or ctx ends.
func (s *Server) WaitArrivals(ctx context.Context, n int) error {
	return s.wait(ctx, n, "arrived", func() int { return s.arrivals })
}

func (s *Server) wait(ctx context.Context, n int, what string, count func() int) error {
	s.mu.Lock()
	for count() < n {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			got := count()
			s.mu.Unlock()
			return fmt.Errorf("fakegrafana: waiting for %d requests (%s %d): %w", n, what, got, ctx.Err())
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) arrived() {
	s.mu.Lock()
	s.arrivals++
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) served(rec *Request) {
	s.mu.Lock()
	s.requests++
	s.log = append(s.log, *rec)
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// --- handlers ---

// answer is a response not yet written.
type answer struct {
	status int
	ctype  string
	body   []byte
	stored int64 // id of the annotation the request stored
}

func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the fake's own types always encode
	}
	return answer{status: status, ctype: "application/json", body: b}
}

// apiError is response.Error's body for an error with a cause: the message plus the
// trace id Grafana adds when it logs the cause (empty without tracing).
func apiError(status int, message string) answer {
	return jsonAnswer(status, map[string]any{"message": message, "traceID": ""})
}

// publicError is the body of an errutil.Error written by the context handler.
func publicError(status int, messageID, message string) answer {
	return jsonAnswer(status, map[string]any{
		"extra": nil, "message": message, "messageId": messageID, "statusCode": status, "traceID": "",
	})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.arrived()
	rec := &Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			s.served(rec) // the client went away
			return
		}
		body = b
		rec.Body = string(b)
	}
	if f, ok := s.takeFault(r.Method, false); ok {
		if s.strike(w, r, f, rec) {
			return
		}
	}
	var a answer
	if id, deny := s.authenticate(r); deny != nil {
		a = *deny
	} else if r.Method == http.MethodPost {
		a = s.post(body, id)
	} else if r.Method == http.MethodDelete {
		a = s.delete(r.PathValue("id"), id)
	} else {
		a = s.find(r)
	}
	rec.Stored = a.stored
	if a.stored != 0 {
		if f, ok := s.takeFault(r.Method, true); ok {
			if s.strike(w, r, f, rec) {
				return
			}
		}
	}
	s.respond(w, a, rec)
}

// respond records the request, then writes the answer: once a client has its answer,
// Requests and Log include its request.
func (s *Server) respond(w http.ResponseWriter, a answer, rec *Request) {
	rec.Status = a.status
	s.served(rec)
	write(w, a)
}

// strike applies f. It reports whether the request is finished (and recorded); false
// means a Slow fault let it through, to be answered normally.
func (s *Server) strike(w http.ResponseWriter, r *http.Request, f Fault, rec *Request) bool {
	switch f.Kind {
	case FaultStatus:
		s.respond(w, s.faultAnswer(f), rec)
		return true
	case FaultHang:
		var timeout <-chan time.Time
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-timeout:
			return false
		case <-r.Context().Done():
		case <-s.done:
		}
		s.served(rec)
		return true
	case FaultDrop:
		s.served(rec)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	return false
}

func (s *Server) faultAnswer(f Fault) answer {
	if f.Body != "" {
		ct := f.ContentType
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		return answer{status: f.Status, ctype: ct, body: []byte(f.Body)}
	}
	switch f.Status {
	case http.StatusUnauthorized:
		return publicError(http.StatusUnauthorized, "api-key.invalid", "Invalid API key")
	case http.StatusForbidden:
		return s.accessDenied("annotations:create")
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	return apiError(f.Status, msg)
}

func write(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", a.ctype)
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func writeJSON(w http.ResponseWriter, status int, v any) { write(w, jsonAnswer(status, v)) }

// authenticate finds the identity of the request's token, or returns the 401 Grafana
// answers: {"message":"Unauthorized"} without credentials, the errutil bodies of the
// API key and password clients for wrong ones.
func (s *Server) authenticate(r *http.Request) (Identity, *answer) {
	h := r.Header.Get("Authorization")
	token := ""
	if scheme, rest, ok := strings.Cut(h, " "); ok {
		switch scheme {
		case "Bearer":
			token = rest
		case "Basic":
			user, pass, ok := decodeBasic(rest)
			if ok && user != "api_key" {
				a := publicError(http.StatusUnauthorized, "password-auth.failed", "Invalid username or password")
				return Identity{}, &a
			}
			token = pass
		}
	}
	if token == "" {
		a := jsonAnswer(http.StatusUnauthorized, map[string]any{"message": "Unauthorized"})
		return Identity{}, &a
	}
	for tok, id := range s.identities {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(token)) == 1 {
			return id, nil
		}
	}
	a := publicError(http.StatusUnauthorized, "api-key.invalid", "Invalid API key")
	return Identity{}, &a
}

func decodeBasic(v string) (user, pass string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// accessDenied is the body of Grafana's access-control middleware (accesscontrol.deny).
func (s *Server) accessDenied(permission string) answer {
	s.mu.Lock()
	s.aceSeq++
	id := fmt.Sprintf("ACE%010d", s.aceSeq)
	s.mu.Unlock()
	return jsonAnswer(http.StatusForbidden, map[string]any{
		"accessErrorId": id,
		"message":       "You'll need additional permissions to perform this action. Permissions needed: " + permission,
		"title":         "Access denied",
	})
}

// post is HTTPServer.PostAnnotation and the store's Add.
func (s *Server) post(body []byte, id Identity) answer {
	var cmd PostBody
	if err := json.Unmarshal(body, &cmd); err != nil {
		return apiError(http.StatusBadRequest, "bad request data")
	}
	if id.ReadOnly {
		return s.accessDenied("annotations:create")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Annotation{
		DashboardID: cmd.DashboardID,
		PanelID:     cmd.PanelID,
		UserID:      id.UserID,
		Time:        cmd.Time,
		TimeEnd:     cmd.TimeEnd,
		Text:        cmd.Text,
		Login:       id.Login,
		Email:       id.Email,
		AvatarURL:   gravatarURL(id.Email),
		Data:        cmd.Data,
	}
	// An unknown dashboardUID is ignored: the annotation is for the organization.
	if dashID, ok := s.dashboards[cmd.DashboardUID]; ok && cmd.DashboardUID != "" {
		a.DashboardID = dashID
	}
	a.DashboardUID = s.dashboardUIDLocked(a.DashboardID)
	if cmd.Text == "" {
		return apiError(http.StatusBadRequest, "Failed to save annotation")
	}
	a.Tags = NormalizeTags(cmd.Tags)
	a.Created = s.now().UnixMilli()
	a.Updated = a.Created
	if a.Time == 0 {
		a.Time = a.Created
	}
	// validateTimeRange: a point annotation ends when it starts; a reversed range is
	// swapped, not refused.
	if a.TimeEnd == 0 {
		a.TimeEnd = a.Time
	}
	if a.TimeEnd < a.Time {
		a.Time, a.TimeEnd = a.TimeEnd, a.Time
	}
	if n := tagsLength(a.Tags); n > s.maxTagsLength {
		return publicError(http.StatusBadRequest, "annotations.tag-limit-exceeded", "Tags length exceeds the maximum allowed.")
	}
	if a.Data == nil {
		a.Data = map[string]any{}
	}
	newID := s.storeLocked(a)
	ans := jsonAnswer(http.StatusOK, map[string]any{"message": "Annotation added", "id": newID})
	ans.stored = newID
	return ans
}

// delete is HTTPServer.DeleteAnnotationByID (Grafana's pkg/api/annotations.go, route
// DELETE /api/annotations/:annotationId in pkg/api/api.go, guarded by
// annotations:delete): an id that is not a number answers 400 "annotationId is
// invalid", an unknown one 404 "Annotation not found" (findAnnotationByID), success 200
// {"message":"Annotation deleted"}.
func (s *Server) delete(rawID string, id Identity) answer {
	if id.ReadOnly {
		return s.accessDenied("annotations:delete")
	}
	annID, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil {
		return apiError(http.StatusBadRequest, "annotationId is invalid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, a := range s.anns {
		if a.ID == annID {
			s.anns = append(s.anns[:i], s.anns[i+1:]...)
			return jsonAnswer(http.StatusOK, map[string]any{"message": "Annotation deleted"})
		}
	}
	return apiError(http.StatusNotFound, "Annotation not found")
}

// tagsLength is the store's estimate of the tags' JSON length (validateTagsLength).
func tagsLength(tags []string) int {
	n := 1
	for i, t := range tags {
		if i == 0 {
			n += len(t) + 2
		} else {
			n += len(t) + 3
		}
	}
	return n + 1
}

func (s *Server) dashboardUIDLocked(dashboardID int64) *string {
	if dashboardID == 0 {
		return nil
	}
	for uid, id := range s.dashboards {
		if id == dashboardID {
			u := uid
			return &u
		}
	}
	return nil
}

// find is HTTPServer.GetAnnotations and the SQL store's Get.
func (s *Server) find(r *http.Request) answer {
	q := r.URL.Query()
	from, to := queryInt(q.Get("from")), queryInt(q.Get("to"))
	dashboardID := queryInt(q.Get("dashboardId"))
	panelID, userID, alertID := queryInt(q.Get("panelId")), queryInt(q.Get("userId")), queryInt(q.Get("alertId"))
	limit := queryInt(q.Get("limit"))
	if limit == 0 {
		limit = 100
	}
	matchAny, _ := strconv.ParseBool(q.Get("matchAny"))
	filters := parseTagPairs(q["tags"])
	typ := q.Get("type")

	s.mu.Lock()
	defer s.mu.Unlock()
	if uid := q.Get("dashboardUID"); uid != "" {
		id, ok := s.dashboards[uid]
		if !ok {
			return apiError(http.StatusBadRequest, "Invalid dashboard UID in annotation request")
		}
		dashboardID = id
	}
	out := []Annotation{}
	for _, a := range s.anns {
		switch {
		case alertID != 0 && a.AlertID != alertID,
			dashboardID != 0 && a.DashboardID != dashboardID,
			panelID != 0 && a.PanelID != panelID,
			userID != 0 && a.UserID != userID,
			from > 0 && to > 0 && (a.Time > to || a.TimeEnd < from),
			typ == "alert" && a.AlertID == 0,
			typ == "annotation" && a.AlertID != 0:
			continue
		}
		if len(filters) > 0 {
			n := matchingTags(a.Tags, filters)
			if (matchAny && n == 0) || (!matchAny && n != len(filters)) {
				continue
			}
		}
		out = append(out, a.clone())
	}
	// ORDER BY epoch_end DESC, epoch DESC (then the newest first, for a stable order).
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].TimeEnd != out[j].TimeEnd {
			return out[i].TimeEnd > out[j].TimeEnd
		}
		if out[i].Time != out[j].Time {
			return out[i].Time > out[j].Time
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && int64(len(out)) > limit {
		out = out[:limit]
	}
	return jsonAnswer(http.StatusOK, out)
}

// matchingTags counts the annotation's tags that match one of the filters, as the SQL
// sub-query does: a filter without a value matches any value of its key.
func matchingTags(tags []string, filters []tagPair) int {
	n := 0
	for _, t := range parseTagPairs(tags) {
		for _, f := range filters {
			if t.key == f.key && (f.value == "" || t.value == f.value) {
				n++
				break
			}
		}
	}
	return n
}

// queryInt is macaron's QueryInt64: anything unparseable is 0.
func queryInt(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
