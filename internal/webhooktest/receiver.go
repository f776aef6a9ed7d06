package webhooktest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Request is one request the receiver took, verified or not.
type Request struct {
	Header   http.Header
	Body     []byte
	Status   int
	Verified error     // nil: a valid signature (or no secret to check)
	Received time.Time // when it arrived
}

// ID is the request's webhook-id.
func (r Request) ID() string { return r.Header.Get("webhook-id") }

// AnswerFunc decides the status (and may set headers) of the n-th request (from 0); r's
// body can be read again.
type AnswerFunc func(n int, r *http.Request, w http.ResponseWriter) int

// Receiver is a real HTTP endpoint: it verifies every request's signature (answering
// 401 to a bad one, or to one without the webhook headers), records everything, and
// answers as its AnswerFunc says (none: 200 "ok").
type Receiver struct {
	t      testing.TB
	secret string // "": no verification (Slack)
	srv    *httptest.Server

	mu     sync.Mutex
	answer AnswerFunc
	reqs   []Request
}

// New starts a receiver, closed at the end of the test.
func New(t testing.TB, secret string) *Receiver {
	rc := &Receiver{t: t, secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// URL is the endpoint's URL.
func (rc *Receiver) URL() string { return rc.srv.URL + "/hooks/envtrack" }

// Server is the underlying server (to close it, or change its handler).
func (rc *Receiver) Server() *httptest.Server { return rc.srv }

// SetAnswer changes how the receiver answers from the next request on.
func (rc *Receiver) SetAnswer(f AnswerFunc) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // for the AnswerFunc
	req := Request{Header: r.Header.Clone(), Body: body, Received: time.Now()}
	if rc.secret != "" {
		req.Verified = Verify(rc.secret, r.Header, body)
		if req.Verified == nil && (req.ID() == "" || r.Header.Get("webhook-timestamp") == "") {
			req.Verified = fmt.Errorf("missing webhook headers")
		}
	}
	rc.mu.Lock()
	n, answer := len(rc.reqs), rc.answer
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	status := http.StatusOK
	switch {
	case req.Verified != nil:
		status = http.StatusUnauthorized
	case answer != nil:
		status = answer(n, r, w)
	}
	rc.mu.Lock()
	rc.reqs[n].Status = status
	rc.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintln(w, "ok")
}

// Requests returns every request so far, in the order they came.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.reqs...)
}

// Accepted returns the webhook-ids of the requests answered 2xx, in the order they came.
func (rc *Receiver) Accepted() []string {
	var out []string
	for _, r := range rc.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r.ID())
		}
	}
	return out
}

// MustAllVerify fails the test unless every request carried a valid signature, dated
// within a minute of its arrival (the attempt's time, not the event's).
func (rc *Receiver) MustAllVerify() {
	rc.t.Helper()
	for i, r := range rc.Requests() {
		if r.Verified != nil {
			rc.t.Fatalf("request %d (%s): %v", i, r.ID(), r.Verified)
		}
		ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if d := r.Received.Sub(time.Unix(ts, 0)); err != nil || d > time.Minute || d < -time.Minute {
			rc.t.Fatalf("request %d: webhook-timestamp %q is not the attempt's time", i, r.Header.Get("webhook-timestamp"))
		}
	}
}
