package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// TestReloadGuard: a reload a browser could be made to send from another site is
// refused (a form's content types, a foreign Origin or Sec-Fetch-Site), what tools send
// goes through, and beyond one reload per ReloadInterval the answer is 429 with
// Retry-After.
func TestReloadGuard(t *testing.T) {
	now := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	reloads := 0
	h := reloadGuard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reloads++
		w.WriteHeader(http.StatusOK)
	}), func() time.Time { return now })
	send := func(header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://envtrack.example:9465/-/reload", strings.NewReader(""))
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"a form", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"a multipart form", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415},
		{"text/plain (a no-cors fetch)", []string{"Content-Type", "text/plain;charset=UTF-8"}, 415},
		{"a foreign Origin", []string{"Origin", "http://evil.example"}, 403},
		{"a foreign Origin, no body", []string{"Origin", "http://evil.example", "Content-Type", ""}, 403},
		{"the null Origin", []string{"Origin", "null"}, 403},
		{"cross-site by Sec-Fetch-Site", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site, other origin", []string{"Sec-Fetch-Site", "same-site"}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := send(c.header...)
			require.Equal(t, c.status, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), `"error"`)
		})
	}
	require.Zero(t, reloads, "nothing refused was reloaded")

	require.Equal(t, 200, send().Code, "curl -X POST")
	require.Equal(t, 1, reloads)
	w := send("Origin", "http://envtrack.example:9465", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, 429, w.Code, "a second reload at once")
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	now = now.Add(3 * time.Second)
	w = send("Content-Type", "application/json")
	require.Equal(t, 429, w.Code)
	require.Equal(t, "2", w.Header().Get("Retry-After"))
	now = now.Add(2 * time.Second)
	require.Equal(t, 200, send("Origin", "http://envtrack.example:9465", "Content-Type", "application/json").Code, "a same-origin page, after the interval")
	require.Equal(t, 2, reloads)
}

// TestSecureHeaders: every answer, errors included, carries nosniff, the CSP and
// X-Frame-Options.
func TestSecureHeaders(t *testing.T) {
	h := secureHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusTeapot)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusTeapot, w.Code)
	require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'", w.Header().Get("Content-Security-Policy"))
	require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
}

// TestWithoutExemplars: exemplars are left out when keep says so, of buckets and
// counters, and the registry's own exemplars stay (the next scrape may keep them).
func TestWithoutExemplars(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h", Buckets: []float64{1},
		NativeHistogramBucketFactor: 1.1})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "c"})
	reg.MustRegister(h, c)
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(0.5, prometheus.Labels{"environment_id": "pr-1"})
	c.(prometheus.ExemplarAdder).AddWithExemplar(1, prometheus.Labels{"environment_id": "pr-1"})
	keep := false
	g := withoutExemplars(reg, func() bool { return keep })
	count := func() int {
		mfs, err := g.Gather()
		require.NoError(t, err)
		n := 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				n += countExemplars(m)
			}
		}
		return n
	}
	require.Zero(t, count())
	keep = true
	require.Equal(t, 3, count(), "bucket, native histogram and counter exemplars")
}

func countExemplars(m *dto.Metric) int {
	n := 0
	if m.GetCounter().GetExemplar() != nil {
		n++
	}
	if h := m.GetHistogram(); h != nil {
		n += len(h.GetExemplars())
		for _, b := range h.GetBucket() {
			if b.GetExemplar() != nil {
				n++
			}
		}
	}
	return n
}
