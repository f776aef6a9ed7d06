package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"
)

// daemon is an envtrack started in-process with its own config and no external
// system: what a user reaches with curl.
type daemon struct {
	t    testing.TB
	app  *App
	url  string
	cfg  string
	logs *testinfra.SyncBuffer
	stop func() // stops it (idempotent; also at the test's end)
}

// quietSources is the readiness section of the daemons that tests drive by pushing
// events: the sources run their loops as in production, but change nothing a test pushes
// (no provisioning deadline passes, and after the first round at start no URL is probed).
const quietSources = "readiness: {provisioning_timeout: 876000h, url: {interval: 1h}}\n"

type daemonOpts struct {
	config          string // YAML after state_dir
	dir             string // state and config directory; "" means a new one
	enableLifecycle bool
}

func startDaemon(t testing.TB, o daemonOpts) *daemon {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "data")+"\n"+o.config+quietSources), 0o600))
	logs := &testinfra.SyncBuffer{}
	a, err := New(Options{Sinks: testSinks, ConfigFile: cfg, ListenAddress: "127.0.0.1:0",
		Logger: log.NewLogfmtLogger(logs), EnableLifecycle: o.enableLifecycle})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return &daemon{t: t, app: a, url: "http://" + a.Addr(), cfg: cfg, logs: logs, stop: stop}
}

// do sends a request and returns the status, the headers and the body.
func (d *daemon) do(method, path, body string, header ...string) (int, http.Header, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
	require.NoError(d.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(d.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	return resp.StatusCode, resp.Header, string(b)
}
