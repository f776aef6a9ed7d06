// Package api is envtrack's HTTP API (DESIGN §3): environments, timelines, performance
// insights and pushed events. Handlers are constructors; every error leaves through
// writeError as {"error": "..."} with the right status.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/model"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Environments gives the tracker's current view.
type Environments interface {
	States() []tracker.State
	Get(id string) (tracker.State, bool)
}

// Recorder records pushed events in the journal.
type Recorder interface {
	// Push applies a pushed lifecycle event; it returns the stored events (none when the
	// push repeats what is already known, or its Idempotency-Key), or a
	// *tracker.RejectedError when it contradicts what is known (422), or a
	// *tracker.FullError for a new environment beyond api.max_environments (429).
	Push(id string, p tracker.Push) ([]event.Event, error)
	// Mark appends a deployment marker and returns it as stored; the zero event when it
	// repeats a recorded marker or Idempotency-Key.
	Mark(e event.Event) (event.Event, error)
	// Record commits the items of one request (a push, or a batch) in one transaction,
	// all or nothing, and returns the stored events of each item (none for an item that
	// repeats what is known). An *ItemError refuses the batch because of one item. With
	// an Idempotency-Key, a retry of the request that recorded the key stores nothing,
	// and another request with the key is a *KeyReusedError.
	Record(items []Item, key Key) ([][]event.Event, error)
}

// Tokens returns the tokens in force (they change on reload).
type Tokens func() (write, read []string)

// Options wire the API.
type Options struct {
	Environments Environments
	Query        func() *query.Service // the service in force (it changes on reload)
	Recorder     Recorder
	Tokens       Tokens
	MaxBodyBytes int64 // api.max_body_bytes, as config.Load validated it
	MaxBatch     int   // events per batch push: api.max_batch, as config.Load validated it
	Logger       log.Logger
	Now          func() time.Time
}

// Register adds the API routes to mux. The route table is this one block.
func Register(mux *http.ServeMux, o Options) {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	read := func(h http.Handler) http.Handler { return requireToken(o.Tokens, false, h) }
	write := func(h http.Handler) http.Handler { return requireToken(o.Tokens, true, h) }
	mux.Handle("GET /api/environments", read(ListEnvironments(o.Environments)))
	mux.Handle("GET /api/environments/{id}", read(GetEnvironment(o.Environments)))
	mux.Handle("GET /api/environments/{id}/timeline", read(Timeline(o.Query, o.Logger)))
	mux.Handle("GET /api/insights/performance-detailed", read(Performance(o.Query, o.Logger)))
	mux.Handle("POST /api/events", write(PostEvents(o.Recorder, o.MaxBodyBytes, o.MaxBatch, o.Now, o.Logger)))
	mux.Handle("/api/", NotFound(mux, "no such API endpoint"))
}

// WriteJSON writes v as JSON with the status, compact (one line, as Prometheus' API
// answers): indenting a long timeline took longer than encoding it (docs/benchmarks.md);
// `| jq` indents for people.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteError is the one way an error leaves the HTTP surface.
func WriteError(w http.ResponseWriter, status int, msg string) { writeError(w, status, msg) }

// requireToken checks the bearer token in constant time. Writes always need a write
// token; reads need a read (or write) token only when read tokens are configured.
func requireToken(tokens Tokens, forWrite bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write, read := tokens()
		allowed := write
		if !forWrite {
			if len(read) == 0 {
				h.ServeHTTP(w, r)
				return
			}
			allowed = append(append([]string{}, read...), write...)
		}
		if forWrite && len(write) == 0 {
			writeError(w, http.StatusUnauthorized, "writes are disabled: no api.write_tokens configured")
			return
		}
		tok, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="envtrack"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		if !tokenMatches(tok, allowed) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="envtrack", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// tokenMatches reports whether tok is one of allowed, in time that depends on neither
// which one matched nor their lengths: it compares SHA-256 digests, all of the same
// length, with subtle.ConstantTimeCompare (which returns at once on a length
// mismatch), and compares every token.
func tokenMatches(tok string, allowed []string) bool {
	d := sha256.Sum256([]byte(tok))
	match := 0
	for _, a := range allowed {
		da := sha256.Sum256([]byte(a))
		match |= subtle.ConstantTimeCompare(d[:], da[:])
	}
	return match == 1
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// FromState describes a tracker state for the API.
func FromState(s tracker.State) apitypes.Environment {
	e := apitypes.Environment{
		EnvironmentID: s.ID, EnvironmentName: s.Name, Type: s.Type, Phase: string(s.Phase), Source: s.Source,
		Repository: s.Repository, Branch: s.Branch, CommitSHA: s.CommitSHA, URL: redact.URL(s.URL),
		CreatedAt: tp(s.CreatedAt), ProvisioningStartedAt: tp(s.ProvisioningStartedAt), ReadyAt: tp(s.ReadyAt),
		FailedAt: tp(s.FailedAt), FailureReason: s.FailureReason, FailureClass: s.FailureClass, FailureMatcher: s.FailureMatcher, TerminationStartedAt: tp(s.TerminationStartedAt),
		TerminationStuckAt: tp(s.TerminationStuckAt), TerminatedAt: tp(s.TerminatedAt), Timeline: "/api/environments/" + s.ID + "/timeline",
	}
	if e.EnvironmentName == "" {
		e.EnvironmentName = s.ID
	}
	if !s.ReadyAt.IsZero() && !s.ProvisioningStartedAt.IsZero() {
		d := s.ReadyAt.Sub(s.ProvisioningStartedAt).Seconds()
		e.ProvisioningDurationSeconds = &d
	}
	return e
}

// Paging of GET /api/environments: DefaultListLimit environments per answer unless
// ?limit= says otherwise, and never more than MaxListLimit, so an answer stays a few MiB
// however many environments the store holds.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// ListEnvironments is GET /api/environments[?phase=P&type=T&limit=N&after=ID]: the
// environments in id order, at most limit of them, starting after the id after. When more
// follow, "next" holds the cursor to pass as after.
func ListEnvironments(envs Environments) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		phase, typ, after := q.Get("phase"), q.Get("type"), q.Get("after")
		if phase != "" && !validPhase(phase) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown phase %q", truncate(phase, 40)))
			return
		}
		limit := DefaultListLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxListLimit {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid limit %q: must be an integer from 1 to %d", truncate(v, 40), MaxListLimit))
				return
			}
			limit = n
		}
		if after != "" && !event.ValidEnvironmentID(after) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid after %q: must be an environment id (%s)", truncate(after, 140), event.EnvironmentIDPattern))
			return
		}
		var page []tracker.State
		for _, s := range envs.States() {
			if s.ID > after && (phase == "" || string(s.Phase) == phase) && (typ == "" || s.Type == typ) {
				page = append(page, s)
			}
		}
		sort.Slice(page, func(i, j int) bool { return page[i].ID < page[j].ID })
		body := map[string]any{}
		if len(page) > limit {
			page = page[:limit]
			body["next"] = page[limit-1].ID
		}
		out := make([]apitypes.Environment, 0, len(page))
		for _, s := range page {
			out = append(out, FromState(s))
		}
		body["environments"], body["count"] = out, len(out)
		WriteJSON(w, http.StatusOK, body)
	})
}

func validPhase(p string) bool {
	for _, v := range tracker.Phases {
		if string(v) == p {
			return true
		}
	}
	return false
}

func envID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !event.ValidEnvironmentID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid environment id %q: must match %s", truncate(id, 140), event.EnvironmentIDPattern))
		return "", false
	}
	return id, true
}

// GetEnvironment is GET /api/environments/{id}.
func GetEnvironment(envs Environments) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := envID(w, r)
		if !ok {
			return
		}
		s, ok := envs.Get(id)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown environment %q", id))
			return
		}
		WriteJSON(w, http.StatusOK, FromState(s))
	})
}

// queryError maps a query failure to its status (query.HTTPStatus): a TSDB that
// refused the read answers 502 with its reason, one that is unreachable 503.
func queryError(w http.ResponseWriter, logger log.Logger, err error) {
	status := query.HTTPStatus(err)
	switch status {
	case http.StatusNotFound:
		writeError(w, status, err.Error())
		return
	case 499:
		writeError(w, status, "request cancelled")
		return
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		level.Warn(logger).Log("msg", "query failed", "status", status, "err", err)
		writeError(w, status, err.Error())
		return
	}
	level.Error(logger).Log("msg", "query failed", "err", err)
	writeError(w, status, "query failed: "+err.Error())
}

// Timeline is GET /api/environments/{id}/timeline.
func Timeline(q func() *query.Service, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := envID(w, r)
		if !ok {
			return
		}
		tl, err := q().TimelineRaw(r.Context(), id) // only written: metadata as stored
		if err != nil {
			queryError(w, logger, err)
			return
		}
		writeTimeline(w, tl)
	})
}

// MaxWindow bounds ?window= (a year of events is plenty for percentiles).
const MaxWindow = 366 * 24 * time.Hour

// Performance is GET /api/insights/performance-detailed?window=7d&type=T.
func Performance(q func() *query.Service, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		win := r.URL.Query().Get("window")
		if win == "" {
			win = "7d"
		}
		d, err := model.ParseDuration(win)
		if err != nil || d <= 0 || time.Duration(d) > MaxWindow {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid window %q: want a duration like 24h, 7d or 30d, at most 366d", truncate(win, 40)))
			return
		}
		typ := r.URL.Query().Get("type")
		if typ != "" && !event.ValidEnvironmentID(typ) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid type %q", truncate(typ, 140)))
			return
		}
		p, err := q().Performance(r.Context(), time.Duration(d), win, typ)
		if err != nil {
			queryError(w, logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, p)
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
