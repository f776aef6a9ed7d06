package testinfra

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// Prometheus is a running Prometheus server.
type Prometheus struct {
	*server

	URL        string // http://127.0.0.1:<port>
	ConfigFile string // rewrite it and POST /-/reload (with --web.enable-lifecycle)
}

// StartPrometheus starts the prometheus binary with configYAML as its configuration, its
// TSDB in t.TempDir() and the web server on a free 127.0.0.1 port, plus extraArgs (for
// example --web.enable-lifecycle), and waits for /-/ready. t.Cleanup stops it.
func StartPrometheus(t testing.TB, configYAML string, extraArgs ...string) *Prometheus {
	t.Helper()
	bin := Tool(t, "prometheus")
	dir := t.TempDir()
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(configYAML), 0o600); err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	p := &Prometheus{ConfigFile: confPath}
	startOnFreePorts(t, func() *server {
		addr := freeAddr(t)
		args := append([]string{
			"--config.file=" + confPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
		}, extraArgs...)
		p.URL = "http://" + addr
		p.server = newServer(t, "prometheus", bin, args, p.URL+"/-/ready", http.StatusOK)
		return p.server
	})
	return p
}

// Stop stops Prometheus (SIGTERM, then wait).
func (p *Prometheus) Stop() {
	p.t.Helper()
	if err := p.server.stop(); err != nil {
		p.t.Fatalf("testinfra: %v", err)
	}
}

// Alertmanager is a running Alertmanager, clustering disabled.
type Alertmanager struct {
	*server

	URL        string // http://127.0.0.1:<port>
	ConfigFile string
}

// StartAlertmanager starts the alertmanager binary with configYAML as its configuration,
// its storage in t.TempDir(), the web server on a free 127.0.0.1 port and clustering
// off, and waits for /-/ready. t.Cleanup stops it.
func StartAlertmanager(t testing.TB, configYAML string) *Alertmanager {
	t.Helper()
	bin := Tool(t, "alertmanager")
	dir := t.TempDir()
	confPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(confPath, []byte(configYAML), 0o600); err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	a := &Alertmanager{ConfigFile: confPath}
	startOnFreePorts(t, func() *server {
		addr := freeAddr(t)
		args := []string{
			"--config.file=" + confPath,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--cluster.listen-address=",
		}
		a.URL = "http://" + addr
		a.server = newServer(t, "alertmanager", bin, args, a.URL+"/-/ready", http.StatusOK)
		return a.server
	})
	return a
}

// Stop stops Alertmanager (SIGTERM, then wait).
func (a *Alertmanager) Stop() {
	a.t.Helper()
	if err := a.server.stop(); err != nil {
		a.t.Fatalf("testinfra: %v", err)
	}
}
