package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTLSTransport: the one TLS client every outgoing client (Argo CD, probes, InfluxDB,
// Grafana) is built from, against real TLS servers.
func TestTLSTransport(t *testing.T) {
	quiet := log.New(io.Discard, "", 0) // the refused handshakes
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// An old server: TLS 1.0 and 1.1 only.
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	old.Config.ErrorLog = quiet
	old.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // the server under test is old on purpose
	old.StartTLS()
	t.Cleanup(old.Close)

	dir := t.TempDir()
	serverCA := writePEM(t, dir, "server.pem", srv.Certificate().Raw)
	otherCA := writePEM(t, dir, "other.pem", selfSigned(t))

	for _, tc := range []struct {
		name    string
		tls     TLSConfig
		url     string
		wantErr string // "" means the request succeeds
	}{
		{"system roots only", TLSConfig{}, srv.URL, "certificate signed by unknown authority"},
		{"ca_file signs the server", TLSConfig{CAFile: serverCA}, srv.URL, ""},
		{"ca_file of another CA", TLSConfig{CAFile: otherCA}, srv.URL, "certificate signed by unknown authority"},
		{"insecure_skip_verify", TLSConfig{InsecureSkipVerify: true}, srv.URL, ""},
		{"TLS 1.1 refused", TLSConfig{InsecureSkipVerify: true}, old.URL, "protocol version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tc.tls.Transport()
			require.NoError(t, err)
			t.Cleanup(tr.CloseIdleConnections)
			require.NotNil(t, tr.Proxy, "the proxy from the environment, as http.DefaultTransport")
			resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get(tc.url)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

func TestTLSClientConfig(t *testing.T) {
	c, err := TLSConfig{InsecureSkipVerify: true}.ClientConfig()
	require.NoError(t, err)
	require.True(t, c.InsecureSkipVerify)
	require.Nil(t, c.RootCAs, "the system roots")
	require.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)

	// ca_file adds to the system roots, as config/example.yml says.
	dir := t.TempDir()
	der := selfSigned(t)
	c, err = TLSConfig{CAFile: writePEM(t, dir, "ca.pem", der)}.ClientConfig()
	require.NoError(t, err)
	want, err := x509.SystemCertPool()
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	want.AddCert(cert)
	require.True(t, want.Equal(c.RootCAs))

	// A file that went away or changed since Load checked it fails the client at start.
	_, err = TLSConfig{CAFile: "testdata/nope.pem"}.ClientConfig()
	require.True(t, errors.Is(err, fs.ErrNotExist))
	_, err = TLSConfig{CAFile: "testdata/secrets/not-a-cert.pem"}.ClientConfig()
	require.EqualError(t, err, "tls.ca_file: no PEM certificate found in testdata/secrets/not-a-cert.pem")
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return der
}

func writePEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}
