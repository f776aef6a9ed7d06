package api

import (
	"fmt"
	"net/http"
	"strings"
)

// probeMethods are the methods NotFound tries on a path to fill in Allow.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete}

// NotFound answers what no route of mux took: 405 with Allow when the path has routes
// for other methods, else 404 with msg. It is the handler of mux's catch-all patterns
// ("/", "/api/"), which otherwise swallow wrong methods as 404s: net/http's own 405
// comes only when no pattern at all matches the path. A route is a pattern with a
// method ("GET /metrics"); the catch-alls have none.
func NotFound(mux *http.ServeMux, msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range probeMethods {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, pat := mux.Handler(r2); strings.Contains(pat, " ") {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s",
				truncate(r.Method, 20), truncate(r.URL.Path, 200), strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, msg+": "+truncate(r.Method, 20)+" "+truncate(r.URL.Path, 200))
	})
}

// bearerToken returns the token of an Authorization header using the Bearer scheme,
// whose name is case-insensitive (RFC 9110 §11.1, RFC 6750 §2.1).
func bearerToken(auth string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Lifecycle protects the lifecycle endpoints (POST /-/reload): with write tokens
// configured they need one; with only read tokens they are closed to HTTP (SIGHUP
// still reloads), since a reader must not change the daemon; with no tokens they are
// open, as in Prometheus.
func Lifecycle(tokens Tokens, h http.Handler) http.Handler {
	guarded := requireToken(tokens, true, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write, read := tokens()
		switch {
		case len(write) > 0:
			guarded.ServeHTTP(w, r)
		case len(read) > 0:
			w.Header().Set("WWW-Authenticate", `Bearer realm="envtrack"`)
			writeError(w, http.StatusUnauthorized, "reloading over HTTP needs a write token: configure api.write_tokens, or send SIGHUP")
		default:
			h.ServeHTTP(w, r)
		}
	})
}
