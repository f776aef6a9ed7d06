package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// runApp starts a daemon with no external system and the given config lines, serving on
// a free loopback port until the test ends.
func runApp(t *testing.T, extraConfig string, opts Options) (*App, *testinfra.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\n"+extraConfig), 0o600))
	logs := &testinfra.SyncBuffer{}
	opts.ConfigFile, opts.ListenAddress, opts.Sinks = cfg, "127.0.0.1:0", testSinks
	opts.Logger = log.NewLogfmtLogger(logs)
	a, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return a, logs
}

// waitClosedByServer reads from c until the server closes it. The deadline only keeps a
// broken server from hanging the test; the test asserts that the close happened.
func waitClosedByServer(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("still open: the server never closed it")
	}
	return nil // EOF or reset: the server closed it
}

// TestSlowloris: 200 connections trickling their headers or their body, a byte at a
// time, are each closed by the server once its read timeouts pass, while a normal client
// is served.
func TestSlowloris(t *testing.T) {
	a, _ := runApp(t, "api: {write_tokens: [ci-token], read_header_timeout: 1s, read_timeout: 2s}\n", Options{})
	addr := a.Addr()

	const n = 200
	conns := make([]net.Conn, n)
	stop := make(chan struct{})
	var trickling sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns[i] = c
		var start string
		if i%2 == 0 { // headers that never end
			start = "POST /api/events HTTP/1.1\r\nHost: envtrack\r\nX-Slow: "
		} else { // a body that never ends
			start = "POST /api/events HTTP/1.1\r\nHost: envtrack\r\nAuthorization: Bearer ci-token\r\n" +
				"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
		}
		_, err = c.Write([]byte(start))
		require.NoError(t, err)
		trickling.Add(1)
		go func() {
			defer trickling.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("a")); err != nil {
						return // closed by the server
					}
				}
			}
		}()
	}
	defer func() {
		close(stop)
		trickling.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()

	// A normal client is served while the 200 are connected.
	resp, err := http.Post("http://"+addr+"/api/events", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/events",
		strings.NewReader(`{"environment_id":"pr-1","event":"created"}`))
	req.Header.Set("Authorization", "Bearer ci-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	resp, err = http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Each slow connection is closed by the server.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = waitClosedByServer(c) }()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "connection %d", i)
	}
}

// TestScrapeDuringFlood: with every API connection taken, /metrics and /healthz are still
// served on the reserve connections, and the API answers 503 there instead of waiting.
func TestScrapeDuringFlood(t *testing.T) {
	a, _ := runApp(t, "api: {max_connections: 4, read_header_timeout: 1m, read_timeout: 1m}\n", Options{})
	addr := a.Addr()
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write([]byte("GET /api/environments HTTP/1.1\r\nHost: x\r\n")) // and never more
		require.NoError(t, err)
		held = append(held, c)
	}
	// The server accepts in order: once a request on a fifth connection is answered, the
	// four above are counted.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "envtrack_build_info")
	code, _ = get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body = get("/api/environments")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Contains(t, e["error"], "api.max_connections")

	for _, c := range held {
		c.Close()
	}
	// Once the flood is gone, the API is served again.
	require.Eventually(t, func() bool { c, _ := get("/api/environments"); return c == http.StatusOK },
		30*time.Second, 20*time.Millisecond)
}

// TestHandlerPanic: the daemon's own handler chain has exporter/server's guard
// (TestRecoverPanics): a query backend that panics (as bbolt does on a corrupt page)
// answers 500 through the real route, logs, counts, and the server keeps serving.
func TestHandlerPanic(t *testing.T) {
	a, logs := runApp(t, "", Options{})
	var e map[string]string
	a.mu.Lock()
	a.gen.query = query.NewService(panickingBackend{}, config.DefaultTargetsConfig, time.Now)
	a.mu.Unlock()
	_, err := a.pushes.Push("pr-1", tracker.Push{Event: event.Created, Time: time.Now()})
	require.NoError(t, err)
	resp, err := http.Get("http://" + a.Addr() + "/api/environments/pr-1/timeline")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &e))
	require.Contains(t, e["error"], "internal error")
	require.Contains(t, logs.String(), "corrupt page (test)")
	resp, err = http.Get("http://" + a.Addr() + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "envtrack_http_handler_panics_total 1")
}

type panickingBackend struct{}

func (panickingBackend) EnvironmentEvents(context.Context, string) ([]event.Event, error) {
	panic("corrupt page (test)")
}

func (panickingBackend) Range(context.Context, time.Time, time.Time, string, ...event.Name) ([]event.Event, error) {
	panic("corrupt page (test)")
}

// TestWebConfigTLSAndBasicAuth: with --web.config.file holding a self-signed certificate
// and a bcrypt basic-auth user, /metrics, the API and the pages answer over HTTPS to that
// user only, and plain HTTP gets nothing of them.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	require.NoError(t, err)
	webConfig := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(webConfig, fmt.Appendf(nil, `tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  alice: %s
`, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), hash), 0o600))

	a, _ := runApp(t, "", Options{WebConfigFile: webConfig})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	do := func(c *http.Client, scheme, path, user, pass string) (int, string) {
		req, err := http.NewRequest("GET", scheme+"://"+a.Addr()+path, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ path, want string }{
		{"/metrics", "envtrack_build_info"},
		{"/api/environments", `"environments"`},
		{"/", "<html"},
		{"/healthz", `"ok"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := do(tlsClient, "https", tc.path, "alice", "s3cret pass")
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, tc.want)

			for _, cred := range [][2]string{{"", ""}, {"alice", "wrong"}, {"bob", "s3cret pass"}} {
				code, body = do(tlsClient, "https", tc.path, cred[0], cred[1])
				require.Equal(t, http.StatusUnauthorized, code, "user %q", cred[0])
				require.NotContains(t, body, tc.want)
			}

			code, body = do(http.DefaultClient, "http", tc.path, "alice", "s3cret pass")
			require.Equal(t, http.StatusBadRequest, code, "plain HTTP")
			require.Contains(t, body, "HTTP request to an HTTPS server")
			require.NotContains(t, body, tc.want)
		})
	}

	// A client that does not trust the certificate gets no answer at all.
	_, err = http.Get("https://" + a.Addr() + "/metrics")
	require.Error(t, err)
}

// TestWebConfigInvalid: a bad --web.config.file stops start-up with the toolkit's reason.
func TestWebConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\n"), 0o600))
	web := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(web, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600))
	_, err := New(Options{Sinks: testSinks, ConfigFile: cfg, WebConfigFile: web})
	require.ErrorContains(t, err, "web config "+web)
	require.NoFileExists(t, filepath.Join(dir, "data", StoreFile), "nothing opened before the check")
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "envtrack test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
