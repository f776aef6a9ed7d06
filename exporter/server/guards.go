package server

import (
	"fmt"
	"math"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/blueberry-idp/envtrack/exporter/api"
)

// ContentSecurityPolicy is what every answer allows a browser to do with it: the pages
// are server-rendered HTML with inline styles and inline SVG, and need nothing else (no
// script, no font, no request to anywhere); nothing may frame them (clickjacking).
const ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"

// secureHeaders sets, on every answer (pages, JSON, errors, /metrics), the headers that
// keep a browser from reading a JSON or text answer as HTML (nosniff), running anything
// a page did not mean to carry, or framing a page (CSP, and X-Frame-Options for browsers
// that predate frame-ancestors).
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// ReloadInterval is the least time between two reloads over HTTP: each one rebuilds the
// clients and lists Argo CD again, so a loop of requests must not turn into a loop of
// relists. SIGHUP is not limited (whoever sends it runs the host).
const ReloadInterval = 5 * time.Second

// reloadGuard protects POST /-/reload from browsers and floods. A request a cross-site
// page can make without a CORS preflight is refused: a form's content types (415), and
// any request whose Sec-Fetch-Site or Origin says it comes from another site (403, as
// net/http's CrossOriginProtection decides). Beyond one reload per ReloadInterval it
// answers 429 with Retry-After. Tools (curl, a config-reloader sidecar) send neither
// header nor a form body, and are unaffected.
func reloadGuard(next http.Handler, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	csrf := http.NewCrossOriginProtection()
	var (
		mu   sync.Mutex
		last time.Time
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := csrf.Check(r); err != nil {
			api.WriteError(w, http.StatusForbidden, "reload refused: a cross-origin request (Origin or Sec-Fetch-Site): reload with a tool such as curl, or send SIGHUP")
			return
		}
		if formContentType(r.Header.Get("Content-Type")) {
			api.WriteError(w, http.StatusUnsupportedMediaType, "reload refused: a form content type; send no body (curl -X POST)")
			return
		}
		mu.Lock()
		t := now()
		if wait := last.Add(ReloadInterval).Sub(t); !last.IsZero() && wait > 0 {
			mu.Unlock()
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			api.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("reload refused: at most one reload every %s over HTTP", ReloadInterval))
			return
		}
		last = t
		mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// formContentType reports whether ct is one a cross-site HTML form (or a no-cors fetch)
// can send without a preflight: the CORS-safelisted request content types.
func formContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return true // unparsable: browsers send it as a simple request too
	}
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return true
	}
	return false
}

// withoutExemplars is g with every exemplar removed (classic buckets, native histograms,
// counters) when keep says so: exemplars carry environment ids, which /metrics must not
// show when the API hides them behind read tokens. Deciding at each scrape covers a
// reload that adds read tokens, and exemplars recorded before it.
func withoutExemplars(g prometheus.Gatherer, keep func() bool) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		if keep() {
			return mfs, err
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if c := m.GetCounter(); c != nil {
					c.Exemplar = nil
				}
				if h := m.GetHistogram(); h != nil {
					h.Exemplars = nil
					for _, b := range h.GetBucket() {
						b.Exemplar = nil
					}
				}
			}
		}
		return mfs, err
	})
}
