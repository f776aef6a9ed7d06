// Package proc runs the real server binaries (InfluxDB, Prometheus, Alertmanager) for
// tests and the demo: each in its own process group, stopped with SIGTERM and, past a
// bound, killed with the whole group, so nothing outlives its owner.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one running binary.
type Process struct {
	Name string
	cmd  *exec.Cmd
	log  *logWatch
	done chan struct{} // closed once the process has exited and was reaped
	err  error         // Wait's result, valid after done
}

// Start starts bin with args in its own process group, stdout and stderr to out. On
// Linux the process is also killed should its parent die without cleaning up.
func Start(name, bin string, args []string, out io.Writer) (*Process, error) {
	cmd := exec.Command(bin, args...)
	log := &logWatch{out: out}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	return run(name, cmd, log)
}

// run starts cmd, whose output goes to log, and reaps it when it exits.
func run(name string, cmd *exec.Cmd, log *logWatch) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited is the error of a process that ended before it was ready.
func (p *Process) exited() error {
	if p.log.portTaken() {
		return fmt.Errorf("%s exited before it was ready: %w", p.Name, ErrPortTaken)
	}
	return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.err)
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited; Err is then Wait's result.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is Wait's result, once Done is closed.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process is gone.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group and waits for the process to exit; after
// timeout (a hang guard) it kills the group.
func (p *Process) Stop(timeout time.Duration) error {
	return p.StopWith(syscall.SIGTERM, timeout)
}

// StopWith is Stop with another signal than SIGTERM (PostgreSQL's fast shutdown is
// SIGINT; its SIGTERM waits for every client to leave).
func (p *Process) StopWith(sig syscall.Signal, timeout time.Duration) error {
	if p.Exited() {
		return nil // already gone (it crashed, or was stopped)
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	_ = syscall.Kill(-pgid, syscall.SIGCONT) // a stopped process cannot act on it
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %s of %s; killed", p.Name, timeout, sig)
	}
}

// Signal sends sig to the process group (SIGSTOP and SIGCONT pause and resume it).
func (p *Process) Signal(sig syscall.Signal) error { return syscall.Kill(-p.cmd.Process.Pid, sig) }

// Kill kills the process group at once.
func (p *Process) Kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// ErrPortTaken: the process could not bind its address because another process holds
// it (a port that was free a moment ago can be taken before the server binds it).
var ErrPortTaken = errors.New("address already in use")

// WaitReady waits until the process's own log says it listens on url's host:port and
// then until url answers want; or until the process exits, ctx ends or timeout (a hang
// guard, not an expectation of speed) passes. Asking url alone is not enough: the
// port may meanwhile belong to another process that answers too.
func (p *Process) WaitReady(ctx context.Context, rawURL string, want int, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := fmt.Errorf("%s has not said it listens on %s", p.Name, u.Host)
	for {
		if p.log.listening(u.Host) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == want {
					return nil
				}
				last = fmt.Errorf("GET %s: %s", rawURL, resp.Status)
			} else {
				last = err
			}
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v", p.Name, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitLog waits until the process's output held a line containing line (one of the
// lines StartAs was told to watch for), or until the process exits, ctx ends or timeout (a hang guard)
// passes: the readiness of a server that speaks no HTTP (PostgreSQL).
func (p *Process) WaitLog(ctx context.Context, line string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if p.log.saw(line) {
			return nil
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: no line %q in its output", p.Name, timeout, line)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (w *logWatch) saw(line string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, want := range w.wants {
		if want == line {
			return w.seen[i]
		}
	}
	return false
}

// logWatch passes a process's output on and remembers the addresses it says it listens
// on: the lines with "Listening on" (Prometheus's, Alertmanager's and influxd's logs,
// the address a field of the line), and whether a bind failed.
type logWatch struct {
	out io.Writer

	mu     sync.Mutex
	line   []byte
	listen []string // the "Listening on" lines, the first few
	taken  bool
	wants  []string // lines WaitLog waits for (a fixed list, set before the process starts)
	seen   []bool
}

const maxLine = 64 << 10

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(w.line)+len(rest) <= maxLine {
				w.line = append(w.line, rest...)
			}
			break
		}
		if len(w.line)+i <= maxLine {
			w.line = append(w.line, rest[:i]...)
		}
		w.see(string(w.line))
		w.line, rest = w.line[:0], rest[i+1:]
	}
	w.mu.Unlock()
	return w.out.Write(p)
}

func (w *logWatch) see(line string) {
	if strings.Contains(line, "address already in use") || strings.Contains(line, "Address already in use") {
		w.taken = true
	}
	for i, want := range w.wants {
		if !w.seen[i] && strings.Contains(line, want) {
			w.seen[i] = true
		}
	}
	if strings.Contains(line, "Listening on") && len(w.listen) < 16 {
		w.listen = append(w.listen, line)
	}
}

func (w *logWatch) listening(addr string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.listen {
		if mentions(l, addr) {
			return true
		}
	}
	return false
}

func (w *logWatch) portTaken() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.taken
}

// mentions reports whether line holds addr as a whole token: a line about
// 127.0.0.1:37673 does not mention 127.0.0.1:3767.
func mentions(line, addr string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], addr)
		if j < 0 {
			return false
		}
		end := i + j + len(addr)
		if end == len(line) || line[end] < '0' || line[end] > '9' {
			return true
		}
		i = end
	}
}
