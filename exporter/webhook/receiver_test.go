package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// verify is the receiver's side of the Standard Webhooks specification ("Verifying
// signatures"), written from the specification, apart from Sign: the signed content is
// webhook-id "." webhook-timestamp "." body, the key the base64-decoded secret after
// "whsec_", and webhook-signature a space-separated list of "v1,<base64 HMAC-SHA256>"
// of which one must match, compared in constant time.
func verify(secret string, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing webhook headers")
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, vs := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(vs, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no matching signature")
}

// request is one request the receiver took, verified or not.
type request struct {
	header   http.Header
	body     []byte
	status   int
	verified error
}

// receiver is a real HTTP endpoint: it verifies every request's signature (answering
// 401 to a bad one), records everything, and answers from answer (nil: 200 "ok").
type receiver struct {
	t      testing.TB
	secret string // "" : no verification (Slack)
	srv    *httptest.Server
	// answer decides the status (and headers) of the n-th request (from 0).
	answer func(n int, r *http.Request, w http.ResponseWriter) int

	mu   sync.Mutex
	reqs []request
}

func newReceiver(t testing.TB, secret string) *receiver {
	rc := &receiver{t: t, secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hooks/envtrack" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := request{header: r.Header.Clone(), body: body}
	if rc.secret != "" {
		req.verified = verify(rc.secret, r.Header, body)
	}
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	status := http.StatusOK
	switch {
	case req.verified != nil:
		status = http.StatusUnauthorized
	case rc.answer != nil:
		status = rc.answer(n, r, w)
	}
	rc.mu.Lock()
	rc.reqs[n].status = status
	rc.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintln(w, "ok")
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// accepted returns the ids of the requests answered 2xx, in the order they came.
func (rc *receiver) accepted() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.status >= 200 && r.status < 300 {
			out = append(out, r.header.Get("webhook-id"))
		}
	}
	return out
}

// mustAllVerify fails unless every request carried a valid signature, dated within a
// minute of now.
func (rc *receiver) mustAllVerify() {
	rc.t.Helper()
	for i, r := range rc.requests() {
		if r.verified != nil {
			rc.t.Fatalf("request %d (%s): %v", i, r.header.Get("webhook-id"), r.verified)
		}
		ts, _ := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
		if d := time.Since(time.Unix(ts, 0)); d > time.Minute || d < -time.Minute {
			rc.t.Fatalf("request %d: webhook-timestamp %d is not the attempt's time", i, ts)
		}
	}
}
