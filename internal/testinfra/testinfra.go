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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
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

// process is one run of a server binary, in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// startProcess starts bin with args. Its output goes to out (kept for failure reports).
func startProcess(name, bin string, args []string, out *tailBuffer) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so that Stop reaches any child it might start; on Linux
	// also killed should the test binary die without cleaning up.
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and waits for the process to exit; after
// stopTimeout it kills the group.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil // already gone (it crashed, or was stopped)
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, stopTimeout)
	}
}

// waitReady polls url until it answers want, the process exits, or the hang guard
// expires.
func (p *process) waitReady(url string, want int) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v", p.name, readyTimeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
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

	mu   sync.Mutex
	proc *process
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

// start starts the process and waits until it is ready.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.done:
		default:
			return fmt.Errorf("%s is already running", s.name)
		}
	}
	p, err := startProcess(s.name, s.bin, s.args, s.out)
	if err != nil {
		return err
	}
	s.proc = p
	if err := p.waitReady(s.readyURL, s.readyWant); err != nil {
		_ = p.stop()
		return fmt.Errorf("%w\n%s output (tail):\n%s", err, s.name, s.out.String())
	}
	return nil
}

func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return s.proc.stop()
}

// Output returns the tail of the server's output (stdout and stderr).
func (s *server) Output() string { return s.out.String() }
