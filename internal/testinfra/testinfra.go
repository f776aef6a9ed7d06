// Package testinfra starts the real servers that envtrack's tests run against (DESIGN
// §11): InfluxDB 1.8.10, Prometheus and Alertmanager, built by `make tools` into
// .cache/bin. Every server binds 127.0.0.1 on free ports, keeps its data in t.TempDir()
// and is stopped by t.Cleanup, so a test leaves no process behind.
//
// When a binary is absent the test is skipped with a message naming `make tools`, except
// with CI=true, where a missing binary fails the test.
package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/internal/proc"
)

// EnvToolsDir names the environment variable that points at the tools directory (the
// Makefile exports it).
const EnvToolsDir = "ENVTRACK_TOOLS_DIR"

// Hang guards: bounds on waiting for a server, not assertions about its speed.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// ToolsDir returns the directory holding the server binaries: $ENVTRACK_TOOLS_DIR when
// set, else .cache/bin in the module root (the first directory above the working
// directory that holds go.mod).
func ToolsDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(EnvToolsDir); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testinfra: no go.mod above the working directory; set %s", EnvToolsDir)
		}
		dir = parent
	}
}

// Tool returns the path of the named binary in the tools directory. When it is absent
// the test is skipped (failed with CI=true) with a message naming `make tools`.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(ToolsDir(t), name)
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode().Perm()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testinfra: %s is required in CI (%v); run `make tools`", name, err)
		}
		t.Skipf("testinfra: %s not available (%v); run `make tools` to build it", name, err)
	}
	return path
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: it binds port 0
// and closes the listener.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testinfra: free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testinfra: free port: %v", err)
	}
	return port
}

// freeAddr returns "127.0.0.1:<free port>".
func freeAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTailBuffer() *tailBuffer { return &tailBuffer{max: 64 << 10} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}

// server is what the three starters share: a binary, its arguments, the current process,
// and a cleanup that stops it and reports its output when the test failed.
type server struct {
	t         testing.TB
	name      string
	bin       string
	args      []string
	readyURL  string
	readyWant int
	out       *tailBuffer

	mu sync.Mutex
	p  *proc.Process
}

func newServer(t testing.TB, name, bin string, args []string, readyURL string, readyWant int) *server {
	s := &server{t: t, name: name, bin: bin, args: args, readyURL: readyURL, readyWant: readyWant, out: newTailBuffer()}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("testinfra: %v", err)
		}
		if t.Failed() {
			t.Logf("testinfra: %s output (tail):\n%s", name, s.out.String())
		}
	})
	return s
}

// start starts the process and waits until it is ready: its own log says it listens on
// readyURL's address, and readyURL answers readyWant.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil && !s.p.Exited() {
		return fmt.Errorf("%s is already running", s.name)
	}
	p, err := proc.Start(s.name, s.bin, s.args, s.out)
	if err != nil {
		return err
	}
	s.p = p
	if err := p.WaitReady(context.Background(), s.readyURL, s.readyWant, readyTimeout); err != nil {
		_ = p.Stop(stopTimeout)
		return fmt.Errorf("%w\n%s output (tail):\n%s", err, s.name, s.out.String())
	}
	return nil
}

// startOnFreePorts starts the server that build makes on fresh free ports, and builds
// it again on other ports when another process took one first (rare, but a long test
// run binds thousands of ports).
func startOnFreePorts(t testing.TB, build func() *server) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := build().start()
		if err == nil {
			return
		}
		if !errors.Is(err, proc.ErrPortTaken) || attempt == 3 {
			t.Fatalf("testinfra: %v", err)
		}
		t.Logf("testinfra: %v; trying other ports", err)
	}
}

func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil
	}
	return s.p.Stop(stopTimeout)
}

// Output returns the tail of the server's output (stdout and stderr).
func (s *server) Output() string { return s.out.String() }

// Pid returns the running server's process id, for benchmarks that read its CPU time
// and memory (/proc/<pid>/stat); 0 when it is not running.
func (s *server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || s.p.Exited() {
		return 0
	}
	return s.p.Pid()
}
