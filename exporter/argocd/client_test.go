package argocd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// token is long and distinctive, so that a leak cannot hide.
const token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLWZvci10ZXN0cw.U0VDUkVU"

// clientConfig is New's configuration section and options in one, for the tests' edits.
type clientConfig struct {
	config.ArgoCDConfig
	Options
}

func newTestClient(t *testing.T, server string, edit func(*clientConfig)) (*Client, *prometheus.Registry) {
	t.Helper()
	ac := config.DefaultArgoCDConfig // the mapping's labels and annotations, as the daemon gets them
	ac.Server, ac.Token, ac.Selector = server, token, "blueberry.io/managed=true"
	cfg := clientConfig{ArgoCDConfig: ac}
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := newClient(cfg.ArgoCDConfig, cfg.Options, nil, log.NewNopLogger(), reg)
	require.NoError(t, err)
	return c, reg
}

func evidenceByName(apps []Application) map[string]tracker.Evidence {
	out := map[string]tracker.Evidence{}
	for _, a := range apps {
		out[a.Metadata.Name] = defaultMapping().Evidence(a)
	}
	return out
}

func TestListFixtureFull(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, _ := newTestClient(t, srv.URL(), func(c *clientConfig) { c.FullApplications = true })
	apps, err := c.list(context.Background())
	require.NoError(t, err)
	require.Len(t, apps, 4)
	require.Equal(t, []string{"pr-099", "pr-101", "pr-102", "pr-103"},
		[]string{apps[0].Metadata.Name, apps[1].Metadata.Name, apps[2].Metadata.Name, apps[3].Metadata.Name})
	require.Equal(t, fixtureEvidence(), evidenceByName(apps))
}

// TestListFields: against a v2.14 server (fixed `fields` table) the trimmed answer has no
// status.sync.revision and no operation message; against an older generic filter it has
// everything envtrack reads.
func TestListFields(t *testing.T) {
	t.Run("v2.14 whitelist", func(t *testing.T) {
		srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
		c, _ := newTestClient(t, srv.URL(), nil)
		apps, err := c.list(context.Background())
		require.NoError(t, err)
		want := fixtureEvidence()
		for name, ev := range want {
			ev.Revision, ev.CommitSHA, ev.OpMessage = "", "", "" // the fixture has no syncResult
			ev.History = nil                                     // not selectable: read with History
			want[name] = ev
		}
		require.Equal(t, want, evidenceByName(apps))

		// Apps synced through Argo CD carry a sync result, whose revision survives.
		a := fakeargocd.NewApp("pr-200", t0, fakeargocd.WithType("preview"))
		fakeargocd.StartSync(&a, "c0ffee", t0.Add(5*time.Second))
		srv.SetApps([]fakeargocd.Application{a})
		apps, err = c.list(context.Background())
		require.NoError(t, err)
		ev := defaultMapping().Evidence(apps[0])
		require.Equal(t, "c0ffee", ev.OpRevision)
		require.Equal(t, "c0ffee", ev.CommitSHA)
		require.Equal(t, "Running", ev.OpPhase)
		require.Equal(t, tracker.OpRunning, ev.Op)
		require.Equal(t, tracker.SyncOutOfSync, ev.Sync)
	})
	t.Run("generic filter", func(t *testing.T) {
		srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...),
			fakeargocd.WithFieldsMode(fakeargocd.FieldsGeneric))
		c, _ := newTestClient(t, srv.URL(), nil)
		apps, err := c.list(context.Background())
		require.NoError(t, err)
		want := fixtureEvidence()
		for name, ev := range want {
			ev.History = nil // not asked for: read with History when needed
			want[name] = ev
		}
		require.Equal(t, want, evidenceByName(apps))
	})
	t.Run("older server without lastTransitionTime", func(t *testing.T) {
		srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...),
			fakeargocd.WithoutHealthTransitionTime())
		c, _ := newTestClient(t, srv.URL(), nil)
		apps, err := c.list(context.Background())
		require.NoError(t, err)
		for _, ev := range evidenceByName(apps) {
			require.True(t, ev.HealthSince.IsZero())
			require.NotEmpty(t, ev.HealthStatus)
		}
	})
}

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func TestListRequest(t *testing.T) {
	reqs := make(chan *http.Request, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"metadata":{},"items":[]}`))
	}))
	t.Cleanup(srv.Close)

	c, _ := newTestClient(t, srv.URL+"/argocd/", func(c *clientConfig) {
		c.Projects = []string{"previews", "team a"}
		c.UserAgent = "envtrack/1.2.3"
	})
	apps, err := c.list(context.Background())
	require.NoError(t, err)
	require.NotNil(t, apps)
	require.Empty(t, apps)
	r := <-reqs
	require.Equal(t, http.MethodGet, r.Method)
	require.Equal(t, "/argocd/api/v1/applications", r.URL.Path)
	q := r.URL.Query()
	require.Equal(t, []string{"blueberry.io/managed=true"}, q["selector"])
	require.Equal(t, []string{"previews", "team a"}, q["projects"])
	require.Equal(t, []string{strings.Join(listFields, ",")}, q["fields"])
	require.Equal(t, "Bearer "+token, r.Header.Get("Authorization"))
	require.Equal(t, "application/json", r.Header.Get("Accept"))
	require.Equal(t, "envtrack/1.2.3", r.Header.Get("User-Agent"))

	// Whole Applications, no selector, no projects: no query at all; default user agent.
	c, _ = newTestClient(t, srv.URL, func(c *clientConfig) { c.FullApplications = true; c.Selector = "" })
	_, err = c.list(context.Background())
	require.NoError(t, err)
	r = <-reqs
	require.Empty(t, r.URL.RawQuery)
	require.Equal(t, "envtrack", r.Header.Get("User-Agent"))
}

// TestListFieldsAreHonoured checks the whitelist against the fake v2.14 server: every
// path the fake supports that envtrack reads is requested.
func TestListFieldsAreHonoured(t *testing.T) {
	requested := map[string]bool{}
	for _, f := range listFields {
		requested[f] = true
	}
	for _, f := range fakeargocd.SupportedFields() {
		switch f {
		case "items.status.resources", "items.operation.sync":
			require.False(t, requested[f], f) // heavy or irrelevant
		default:
			require.True(t, requested[f], "envtrack should request %s", f)
		}
	}
}

func TestListEmpty(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token))
	for _, full := range []bool{false, true} { // "items":null and "items":[]
		c, reg := newTestClient(t, srv.URL(), func(c *clientConfig) { c.FullApplications = full })
		apps, err := c.list(context.Background())
		require.NoError(t, err)
		require.NotNil(t, apps)
		require.Empty(t, apps)
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_argocd_applications Applications in the last successful Argo CD list.
# TYPE envtrack_argocd_applications gauge
envtrack_argocd_applications 0
`), "envtrack_argocd_applications"))
	}
}

func TestListFaults(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	for _, tc := range []struct {
		name      string
		fault     fakeargocd.Fault
		timeout   time.Duration
		code      string // requests_total label
		decode    bool   // counts as a decode error
		retryable bool
		check     func(t *testing.T, err error)
	}{
		{name: "500", fault: fakeargocd.ServerError("etcdserver: request timed out"), code: "500", retryable: true,
			check: func(t *testing.T, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, APIError{StatusCode: 500, Code: 13, Message: "etcdserver: request timed out"}, *ae)
				require.Equal(t, "argocd: list applications: 500 Internal Server Error: etcdserver: request timed out (code 13)", err.Error())
			}},
		{name: "502 plain text", fault: fakeargocd.ProxyError(502), code: "502", retryable: true,
			check: func(t *testing.T, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, APIError{StatusCode: 502, Message: "Bad Gateway"}, *ae)
			}},
		{name: "503 plain text", fault: fakeargocd.ProxyError(503), code: "503", retryable: true,
			check: func(t *testing.T, err error) {
				require.Contains(t, err.Error(), "503 Service Unavailable: upstream connect error")
			}},
		{name: "401", fault: fakeargocd.Unauthorized(), code: "401", retryable: false,
			check: func(t *testing.T, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, 401, ae.StatusCode)
				require.Equal(t, 16, ae.Code)
				require.Equal(t, "invalid session: token has invalid claims: token is expired", ae.Message)
			}},
		{name: "403", fault: fakeargocd.Fault{Kind: fakeargocd.FaultStatus, Status: 403, Message: "permission denied"}, code: "403", retryable: false},
		{name: "slow beyond the request timeout", fault: fakeargocd.Slow(time.Hour), timeout: 50 * time.Millisecond, code: "error", retryable: true,
			check: func(t *testing.T, err error) {
				var te *TransportError
				require.ErrorAs(t, err, &te)
				require.True(t, te.Timeout)
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}},
		{name: "truncated", fault: fakeargocd.Truncated(), code: "error", retryable: true,
			check: func(t *testing.T, err error) {
				var te *TransportError
				require.ErrorAs(t, err, &te)
				require.False(t, te.Timeout)
				require.Contains(t, err.Error(), "unexpected EOF")
			}},
		{name: "HTML 200", fault: fakeargocd.NotJSON(), code: "200", decode: true, retryable: true,
			check: func(t *testing.T, err error) {
				var re *ResponseError
				require.ErrorAs(t, err, &re)
				require.Equal(t, "not JSON", re.Reason)
				require.Equal(t, "text/html; charset=utf-8", re.ContentType)
			}},
		{name: "missing items", fault: fakeargocd.MissingItems(), code: "200", decode: true, retryable: true,
			check: func(t *testing.T, err error) {
				var re *ResponseError
				require.ErrorAs(t, err, &re)
				require.Equal(t, `no "items" in the answer`, re.Reason)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault
			f.Times = 1
			srv.SetFault(f)
			c, reg := newTestClient(t, srv.URL(), func(c *clientConfig) {
				if tc.timeout > 0 {
					c.RequestTimeout = model.Duration(tc.timeout)
				}
			})
			apps, err := c.list(context.Background())
			require.Error(t, err)
			require.Nil(t, apps)
			require.NotContains(t, err.Error(), token)
			require.Equal(t, tc.retryable, retryable(err))
			if tc.check != nil {
				tc.check(t, err)
			}
			require.Equal(t, 1.0, testutil.ToFloat64(c.m.requests.WithLabelValues(tc.code)))
			decodeErrors := 0.0
			if tc.decode {
				decodeErrors = 1
			}
			require.Equal(t, decodeErrors, testutil.ToFloat64(c.m.decodeErrors))
			require.Equal(t, 0.0, testutil.ToFloat64(c.m.lastSuccess))
			require.Equal(t, uint64(1), durationCount(t, reg))

			// The fault was for one request: the next list works.
			apps, err = c.list(context.Background())
			require.NoError(t, err)
			require.Len(t, apps, 4)
			require.Positive(t, testutil.ToFloat64(c.m.lastSuccess))
		})
	}
}

// TestListBadBodies feeds 200 answers that are not application lists.
func TestListBadBodies(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, reason string
	}{
		{"array", "application/json", `[]`, "not an application list"},
		{"string", "application/json", `"items"`, "not an application list"},
		{"null", "application/json", `null`, `no "items" in the answer`},
		{"empty object", "application/json", `{}`, `no "items" in the answer`},
		{"empty body", "application/json", ``, "malformed JSON"},
		{"items object", "application/json", `{"items":{}}`, "not an application list"},
		{"item not an object", "application/json", `{"items":[1]}`, "not an application list"},
		{"bad timestamp", "application/json", `{"items":[{"metadata":{"name":"a","creationTimestamp":"yesterday"}}]}`, "not an application list"},
		{"cut JSON with a clean end", "application/json", `{"items":[{"metadata":{"name":"a"}`, "malformed JSON"},
		{"trailing garbage", "application/json", `{"items":[]} {}`, "malformed JSON"},
		{"HTML labelled JSON", "application/json", `<html><body>Sign in</body></html>`, "malformed JSON"},
		{"plain text", "text/plain", `upstream connect error`, "not JSON"},
		{"no content type", "", `<html></html>`, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				} else {
					w.Header()["Content-Type"] = nil
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, _ := newTestClient(t, srv.URL, nil)
			apps, err := c.list(context.Background())
			require.Nil(t, apps)
			var re *ResponseError
			require.ErrorAs(t, err, &re, "%v", err)
			require.Equal(t, tc.reason, re.Reason, err.Error())
			require.Equal(t, 1.0, testutil.ToFloat64(c.m.decodeErrors))
			require.Equal(t, 1.0, testutil.ToFloat64(c.m.requests.WithLabelValues("200")))
		})
	}

	// Valid JSON with an unexpected Content-Type is still accepted.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(`{"items":[{"metadata":{"name":"a"},"unknown":{"x":1}}]}`))
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL, nil)
	apps, err := c.list(context.Background())
	require.NoError(t, err)
	require.Equal(t, "a", apps[0].Metadata.Name)
}

func TestListBodyLimit(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, _ := newTestClient(t, srv.URL(), nil)
	c.maxBody = 1000
	_, err := c.list(context.Background())
	var re *ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "answer larger than 1000 bytes", re.Reason)
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.decodeErrors))
}

func TestListAuth(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken("the-right-token"))
	c, _ := newTestClient(t, srv.URL(), nil)
	_, err := c.list(context.Background())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 401, ae.StatusCode)
	require.Equal(t, "invalid session: token signature is invalid: signature is invalid", ae.Message)
	require.False(t, retryable(err))
	require.NotContains(t, err.Error(), token)
}

// TestErrorsNeverContainToken makes servers echo the token back in every way they can.
func TestErrorsNeverContainToken(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"json error": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"error":"bad token ` + token + `","code":13,"message":"bad token ` + token + `"}`))
		},
		"plain error": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("got " + r.Header.Get("Authorization")))
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://sso.example.com/login?t="+token, http.StatusFound)
		},
		"html 200": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>" + token + "</html>"))
		},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			c, _ := newTestClient(t, srv.URL, nil)
			_, err := c.list(context.Background())
			require.Error(t, err)
			require.NotContains(t, err.Error(), token)
			require.NotContains(t, err.Error(), "c2VjcmV0LXRva2VuLWZvci10ZXN0cw") // not even a part of it
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c, reg := newTestClient(t, srv.URL, nil)
		_, err := c.list(context.Background())
		var te *TransportError
		require.ErrorAs(t, err, &te)
		require.False(t, te.Timeout)
		require.True(t, retryable(err))
		require.NotContains(t, err.Error(), token)
		require.NotContains(t, err.Error(), "fields=", "the long query string stays out of messages")
		require.Contains(t, err.Error(), "argocd: list applications from "+srv.URL)
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_argocd_requests_total Argo CD requests (lists, and single Applications read for their history) by HTTP status code ("error": no complete answer: connection failure, timeout, cut body). The stream counts in envtrack_argocd_stream_connections_total.
# TYPE envtrack_argocd_requests_total counter
envtrack_argocd_requests_total{code="error"} 1
`), "envtrack_argocd_requests_total"))
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "/login", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.list(context.Background())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 302, ae.StatusCode)
	require.Contains(t, ae.Message, "redirected to /login")
	require.Equal(t, 1, hits)
}

func TestCallerCancellation(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token))
	srv.SetFault(fakeargocd.Slow(time.Hour))
	c, _ := newTestClient(t, srv.URL(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.list(ctx)
		done <- err
	}()
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, retryable(err), "shutting down is not a failure to retry")
	require.False(t, retryable(errors.New("other")))
}

// writeCA writes the server's certificate as a PEM file.
func writeCA(t *testing.T, srv *fakeargocd.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(path, pemBytes, 0o600))
	return path
}

func TestTLS(t *testing.T) {
	srv := fakeargocd.New(fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := writeCA(t, srv)

	c, _ := newTestClient(t, srv.URL(), func(c *clientConfig) { c.TLS.CAFile = ca })
	apps, err := c.list(context.Background())
	require.NoError(t, err)
	require.Len(t, apps, 4)

	// Neither a CA nor insecure_skip_verify: the self-signed certificate is refused.
	c, _ = newTestClient(t, srv.URL(), nil)
	_, err = c.list(context.Background())
	var te *TransportError
	require.ErrorAs(t, err, &te)
	require.Contains(t, err.Error(), "certificate")

	c, _ = newTestClient(t, srv.URL(), func(c *clientConfig) { c.TLS.InsecureSkipVerify = true })
	apps, err = c.list(context.Background())
	require.NoError(t, err)
	require.Len(t, apps, 4)

	// A CA that did not sign the server's certificate.
	c, _ = newTestClient(t, srv.URL(), func(c *clientConfig) { c.TLS.CAFile = otherCA(t) })
	_, err = c.list(context.Background())
	require.ErrorAs(t, err, &te)
	require.Contains(t, err.Error(), "certificate")
}

// otherCA writes a fresh self-signed CA certificate as a PEM file.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "other.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

// TestNewValidation: New takes its section as config.Load validated it (the server URL,
// the token, the selector, the timeout and the TLS settings are checked there once:
// config/testdata/invalid-argocd-*.yml); what can still fail is the CA file, read again
// when the client is built.
func TestNewValidation(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for _, tc := range []struct {
		name string
		tls  config.TLSConfig
		err  string
	}{
		{"missing ca", config.TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}, "argocd: tls.ca_file: open "},
		{"ca not PEM", config.TLSConfig{CAFile: notPEM}, "argocd: tls.ca_file: no PEM certificate found in " + notPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.DefaultArgoCDConfig
			cfg.Server, cfg.Token, cfg.TLS = "https://argocd.example.com", token, tc.tls
			c, err := newClient(cfg, Options{}, nil, nil, nil)
			require.Nil(t, c)
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), token)
		})
	}
	cfg := config.DefaultArgoCDConfig
	cfg.Server, cfg.Token = "http://127.0.0.1:8080/", "t"
	c, err := newClient(cfg, Options{}, nil, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.timeout, "config's default request timeout")
	u, err := url.Parse(c.listURL)
	require.NoError(t, err)
	require.Equal(t, "/api/v1/applications", u.Path)
}

func TestMetrics(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, reg := newTestClient(t, srv.URL(), nil)
	_, err := c.list(context.Background())
	require.NoError(t, err)
	srv.SetFault(fakeargocd.ServerError("boom"))
	_, err = c.list(context.Background())
	require.Error(t, err)
	srv.SetFault(fakeargocd.NotJSON())
	_, err = c.list(context.Background())
	require.Error(t, err)
	srv.ClearFault()
	srv.Delete("pr-099")
	_, err = c.list(context.Background())
	require.NoError(t, err)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_argocd_applications Applications in the last successful Argo CD list.
# TYPE envtrack_argocd_applications gauge
envtrack_argocd_applications 3
# HELP envtrack_argocd_decode_errors_total Argo CD answers with status 200 that were not a usable application list or Application.
# TYPE envtrack_argocd_decode_errors_total counter
envtrack_argocd_decode_errors_total 1
# HELP envtrack_argocd_requests_total Argo CD requests (lists, and single Applications read for their history) by HTTP status code ("error": no complete answer: connection failure, timeout, cut body). The stream counts in envtrack_argocd_stream_connections_total.
# TYPE envtrack_argocd_requests_total counter
envtrack_argocd_requests_total{code="200"} 3
envtrack_argocd_requests_total{code="500"} 1
`), "envtrack_argocd_applications", "envtrack_argocd_decode_errors_total", "envtrack_argocd_requests_total"))
	require.Equal(t, uint64(4), durationCount(t, reg))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	names := []string{}
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	require.ElementsMatch(t, []string{
		"envtrack_argocd_applications", "envtrack_argocd_bad_annotations_total", "envtrack_argocd_decode_errors_total",
		"envtrack_argocd_polls_total",
		"envtrack_argocd_last_success_timestamp_seconds", "envtrack_argocd_request_duration_seconds",
		"envtrack_argocd_requests_total", "envtrack_argocd_stream_events_total", "envtrack_argocd_stream_read_bytes_total",
		"envtrack_argocd_stream_session_events", "envtrack_argocd_watch_evaluations_total", "envtrack_argocd_watch_sessions_total",
		metric.ArgoCDBlindSeconds.Name, metric.ArgoCDConfirmations.Name,
	}, names)
	require.InDelta(t, float64(time.Now().Unix()), testutil.ToFloat64(c.m.lastSuccess), 3600)

	// A reload builds a new client on the same registry: same series, no panic.
	ac := config.DefaultArgoCDConfig
	ac.Server, ac.Token = srv.URL(), token
	c2, err := newClient(ac, Options{}, nil, nil, reg)
	require.NoError(t, err)
	_, err = c2.list(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4.0, testutil.ToFloat64(c.m.requests.WithLabelValues("200")))

	m := defaultMapping()
	m.BadAnnotations = c2.m.badAnnotations
	m.Evidence(Application{Metadata: Metadata{Annotations: map[string]string{"blueberry.io/requested-at": "soon"}}})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP envtrack_argocd_bad_annotations_total Application annotations envtrack could not parse (e.g. a requested-at that is not RFC 3339).
# TYPE envtrack_argocd_bad_annotations_total counter
envtrack_argocd_bad_annotations_total 1
`), "envtrack_argocd_bad_annotations_total"))
}

// durationCount is the number of observations of the request duration histogram.
func durationCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "envtrack_argocd_request_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
