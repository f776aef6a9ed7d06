package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// TLSConfig configures the TLS client of a section.
type TLSConfig struct {
	// CAFile: a PEM bundle trusted in addition to the system roots (Load resolves it
	// against the config file and checks that it holds a certificate).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify: do not verify the server's certificate (testing only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// MinTLSVersion is the oldest TLS version envtrack's clients speak.
const MinTLSVersion = tls.VersionTLS12

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *TLSConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain TLSConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.CAFile != "" && c.InsecureSkipVerify {
		err := nodeErrorf(node, "", "ca_file and insecure_skip_verify are mutually exclusive")
		if k := mappingKey(node, "insecure_skip_verify"); k != nil {
			err.(*nodeError).line = k.Line
		}
		return err
	}
	return nil
}

// ClientConfig returns the *tls.Config of an outgoing client: TLS 1.2 at least, the
// system roots plus CAFile when set, and InsecureSkipVerify. It reads CAFile now, so that
// a client built from it fails at start (or reload), not at its first request.
func (t TLSConfig) ClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         MinTLSVersion,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the user asked for it
	}
	if t.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.ca_file: no PEM certificate found in %s", t.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Transport returns the transport every outgoing client of envtrack (Argo CD, the URL
// probes, InfluxDB, Grafana) starts from: http.DefaultTransport's settings (the proxy
// from HTTP_PROXY/NO_PROXY, HTTP/2, idle connections kept) with ClientConfig's TLS. A
// client adjusts its own needs (dialer keep-alive, idle connections per host) on the
// copy it gets.
func (t TLSConfig) Transport() (*http.Transport, error) {
	tlsConfig, err := t.ClientConfig()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	return tr, nil
}
