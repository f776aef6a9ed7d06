package annotate

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// maxAnswer bounds the answer body read from Grafana (an annotation lookup with limit=1
// and a creation answer are tiny; a proxy's page is small).
const maxAnswer = 1 << 20

// exchange is what the transport saw of one request: grafana-tools/sdk keeps the status
// to itself (CreateAnnotation even decodes a 401's {"message":"Unauthorized"} as a
// success with no id), so the transport records it, with the body, for the sink to
// classify the answer.
type exchange struct {
	status int    // 0: no answer (connection failure, timeout, dropped connection)
	body   []byte // the answer body, up to maxAnswer bytes
	header http.Header
}

type exchangeKey struct{}

// withExchange returns a context whose requests record their answer into ex.
func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// transport adds the bearer token to requests for Grafana's origin (never to another
// host) and records each answer into the request context's exchange. It reads the
// answer body whole (bounded) so that a connection dropped in the middle of it is a
// transport error, not a short JSON document.
type transport struct {
	base   http.RoundTripper
	origin string // scheme://host[:port] of grafana.url
	auth   string // "Bearer <token>"
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context()) // a RoundTripper must not modify the request
	if r.URL.Scheme+"://"+r.URL.Host == t.origin {
		r.Header.Set("Authorization", t.auth)
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.status, ex.body, ex.header = resp.StatusCode, body, resp.Header
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
