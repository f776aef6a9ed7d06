// Package redact is the one way secrets are kept out of what envtrack says: every
// outgoing client (Argo CD, InfluxDB and its Flux queries, Grafana, the URL probes, any
// future webhook) builds a Secrets from its credentials, sends its requests through
// Secrets.Transport, and passes its error messages through Secrets.String.
//
// A remote system may echo a request back: a proxy or a Grafana answering 400 with the
// request headers, an error quoting the URL with its password. Transport therefore
// scrubs the answers that become error messages (status 400 and above) before the
// client reads them, and the errors of the round trip itself.
package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces every secret.
const Mask = "<secret>"

// MinLength is the shortest value removed: a shorter one (a test's "t") would mangle
// every message, and is no secret anyway.
const MinLength = 4

// MaxErrorBody bounds how much of an error answer Transport reads (and scrubs); the rest
// is dropped. Clients bound what they quote far below this.
const MaxErrorBody = 1 << 20

// Secrets removes a fixed set of secret values, and the forms they travel in, from text.
// The zero value and a nil *Secrets remove nothing.
type Secrets struct {
	r *strings.Replacer
}

// New returns the Secrets for the given credentials: tokens, passwords, "user:password"
// pairs (InfluxDB 1.8's token), and URLs (their password and the values of their secret
// parameters, as URL masks them). Values shorter than MinLength are ignored. For
// each it removes the value itself, its URL-escaped forms, the password of a pair, and
// the Basic and Bearer Authorization values made from it.
func New(secrets ...string) *Secrets {
	var forms []string
	add := func(v string) {
		if len(v) < MinLength {
			return
		}
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v),
			base64.StdEncoding.EncodeToString([]byte(v)))
	}
	for _, s := range secrets {
		if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
			// A URL: its password and its secret parameters (those URL masks), not
			// the URL itself, which error messages may name.
			if p, ok := u.User.Password(); ok {
				add(p)
				add(u.User.Username() + ":" + p)
			}
			for _, v := range secretParamValues(u) {
				add(v)
			}
			continue
		}
		add(s)
		if user, pass, ok := strings.Cut(s, ":"); ok {
			add(pass)
			add(user + ":" + pass)
		}
	}
	if len(forms) == 0 {
		return &Secrets{}
	}
	// Longest first, so that a secret containing another is removed whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	forms = slices.Compact(forms)
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Mask)
	}
	return &Secrets{r: strings.NewReplacer(pairs...)}
}

// String returns s without the secrets.
func (s *Secrets) String(v string) string {
	if s == nil || s.r == nil {
		return v
	}
	return s.r.Replace(v)
}

// Bytes returns b without the secrets.
func (s *Secrets) Bytes(b []byte) []byte {
	if s == nil || s.r == nil {
		return b
	}
	return []byte(s.r.Replace(string(b)))
}

// Error returns err with its message scrubbed; nil stays nil. The original stays
// reachable through errors.Is and errors.As (timeouts, context cancellation), so callers
// must log the returned error, never what they unwrap from it.
func (s *Secrets) Error(err error) error {
	if err == nil || s == nil || s.r == nil {
		return err
	}
	msg := err.Error()
	clean := s.r.Replace(msg)
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Timeout keeps net.Error's question answerable.
func (e *scrubbed) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// Transport returns base (http.DefaultTransport when nil) with its errors and its error
// answers scrubbed.
func (s *Secrets) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, s: s}
}

type transport struct {
	base http.RoundTripper
	s    *Secrets
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, t.s.Error(err)
	}
	if resp.StatusCode < 300 || t.s == nil || t.s.r == nil {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, t.s.Error(err)
	}
	body = t.s.Bytes(body)
	for k, vs := range resp.Header {
		for i, v := range vs {
			resp.Header[k][i] = t.s.String(v)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
