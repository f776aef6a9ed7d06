package redact

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	s := New("tok-123456", "admin:pa ss/word", "https://bob:hunter2@example.com/x", "")
	for _, tc := range []struct{ in, want string }{
		{"Authorization: Bearer tok-123456", "Authorization: Bearer <secret>"},
		{"Token admin:pa ss/word", "Token <secret>"},
		{"p=pa+ss%2Fword&u=admin", "p=<secret>&u=admin"},
		{"pa%20ss%2Fword", "<secret>"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pa ss/word")), "Basic <secret>"},
		{"https://bob:hunter2@example.com/x", "https://<secret>@example.com/x"},
		{"password hunter2", "password <secret>"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2")), "Basic <secret>"},
		{"nothing secret here", "nothing secret here"},
	} {
		require.Equal(t, tc.want, s.String(tc.in), tc.in)
	}
	require.Equal(t, "x", (*Secrets)(nil).String("x"))
	require.Equal(t, "tok", New().String("tok"))
	require.Equal(t, "a t", New("t").String("a t"), "too short to be a secret")
}

func TestError(t *testing.T) {
	s := New("tok-123456")
	base := &url.Error{Op: "Get", URL: "http://h/?t=tok-123456", Err: errTimeout{}}
	err := s.Error(base)
	require.NotContains(t, err.Error(), "tok-123456")
	require.ErrorIs(t, err, base)
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout())
	plain := errors.New("no secret")
	require.Same(t, plain, s.Error(plain))
	require.NoError(t, s.Error(nil))
}

type errTimeout struct{}

func (errTimeout) Error() string { return "i/o timeout" }
func (errTimeout) Timeout() bool { return true }

// TestTransport: an error answer echoing the request is scrubbed before the client reads
// it, body and headers; a success passes untouched.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		if r.URL.Path == "/ok" {
			_, _ = io.WriteString(w, "ok tok-123456")
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "bad request: Authorization="+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: New("tok-123456").Transport(nil)}
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok-123456")
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/fail")
	require.Equal(t, "bad request: Authorization=Bearer <secret>", body)
	require.Equal(t, "Bearer <secret>", resp.Header.Get("X-Echo"))
	_, body = get("/ok")
	require.Equal(t, "ok tok-123456", body, "success bodies are the client's business")

	// http.Client wraps the transport's error in a *url.Error quoting the URL: the
	// client scrubs what Do returns too.
	sec := New("pw-secret")
	_, err := (&http.Client{Transport: sec.Transport(nil)}).Get("http://127.0.0.1:1/?p=pw-secret")
	require.Error(t, err)
	require.False(t, strings.Contains(sec.Error(err).Error(), "pw-secret"), err.Error())
}
