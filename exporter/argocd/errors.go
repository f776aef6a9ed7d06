package argocd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// APIError is a non-200 answer: from Argo CD itself ({"error","code","message"}, Code is
// the gRPC code) or from a proxy in front of it (Code 0, Message a snippet of the body).
type APIError struct {
	Op         string // "" (list applications) or "watch" (the application stream)
	StatusCode int
	Code       int
	Message    string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("argocd: %s: %d %s", opName(e.Op), e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	return msg
}

// retryable reports whether the failure may go away by itself: 5xx, 408 and 429 may;
// 401 and 403 are configuration problems (a bad or expired token, missing RBAC) that a
// retry does not fix. The poller keeps polling with backoff either way; this tells it
// how to report the failure. A 401 or 403 never means that Applications are gone.
func (e *APIError) retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests
}

// ResponseError is a 200 answer that is not a usable application list: not JSON (an HTML
// login page of a proxy), malformed or cut JSON, a JSON value that is not an object with
// an "items" key, or an answer over the size limit.
type ResponseError struct {
	Op          string // as APIError.Op
	Reason      string // what is wrong, short
	ContentType string
	Err         error // the decoding error, if any
}

func (e *ResponseError) Error() string {
	msg := "argocd: " + opName(e.Op) + ": unusable answer: " + e.Reason
	if e.ContentType != "" {
		msg += fmt.Sprintf(" (Content-Type %q)", e.ContentType)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ResponseError) Unwrap() error { return e.Err }

// retryable is true: the next answer may be fine (a proxy hiccup, a restart).
func (e *ResponseError) retryable() bool { return true }

// TransportError is a request that got no complete answer: connection refused, TLS
// failure, the request timeout, or a connection dropped in the middle of the body.
type TransportError struct {
	Timeout bool // the per-request timeout expired
	msg     string
	err     error
}

func (e *TransportError) Error() string { return e.msg }

func (e *TransportError) Unwrap() error { return e.err }

// retryable is true unless the caller cancelled the request (shutdown).
func (e *TransportError) retryable() bool { return !errors.Is(e.err, context.Canceled) }

// retryable reports whether err, from a request, may go away by itself (see the
// retryable methods of APIError, ResponseError and TransportError). Unknown errors are
// not.
func retryable(err error) bool {
	var r interface{ retryable() bool }
	if errors.As(err, &r) {
		return r.retryable()
	}
	return false
}

func opName(op string) string {
	if op == "watch" {
		return "watch applications"
	}
	return "list applications"
}
