package annotate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is a non-2xx answer other than 401 and 403: from Grafana itself (Message is
// the "message" of its JSON body) or from a proxy in front of it (Message is a snippet
// of the body).
type APIError struct {
	Op         string // "create annotation", "find annotation"
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("grafana: %s: %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		msg += " (redirected: is grafana.url Grafana's own address, with its sub-path?)"
	}
	return msg
}

// Retryable reports whether the failure may go away by itself: 5xx, 408 and 429 may, as
// may a redirect or a 404 (Grafana's annotation API never answers 404 itself: it means
// grafana.url misses a sub-path, a configuration problem that must not cost
// annotations). Other 4xx (400 invalid annotation, 413, 422 ...) are permanent: the
// same request will be refused again, so the runner sets the event aside.
func (e *APIError) Retryable() bool {
	switch {
	case e.StatusCode >= 500, e.StatusCode < 400, e.StatusCode == http.StatusNotFound,
		e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests:
		return true
	}
	return false
}

// AuthError is a 401 (the token is missing, wrong, expired or revoked) or a 403 (the
// service account lacks annotations:create, e.g. it has the Viewer role).
//
// It is retryable on purpose, although no retry fixes it by itself: a refused token is
// a configuration problem of the whole sink, not a defect of the events, and treating it
// as permanent would make the runner set every event aside, losing the annotations for
// good until someone replays them by hand. Retried with backoff, the events wait in the
// journal (the sink's lag grows, envtrack_grafana_auth_failures_total counts, and the
// sink logs the first failure of each burst at error level) and are all delivered once
// the token is fixed.
type AuthError struct {
	StatusCode int // 401 or 403
	Message    string
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("grafana: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.StatusCode == http.StatusForbidden {
		return msg + " (the service account needs the annotations:create permission, e.g. the Editor role)"
	}
	return msg + " (check grafana.token: missing, expired or revoked?)"
}

// Retryable is true: see AuthError.
func (e *AuthError) Retryable() bool { return true }

// retryable reports whether Deliver should ask for the batch to be tried again. Errors
// without a verdict (transport failures, timeouts, unusable answers) are retryable.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return true
}

// maxSnippet bounds the part of a non-JSON body quoted in an error.
const maxSnippet = 200

// answerMessage is Grafana's "message" from a JSON error body, else a one-line snippet
// of the body (a proxy's page).
func answerMessage(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	return truncate(s, maxSnippet)
}
