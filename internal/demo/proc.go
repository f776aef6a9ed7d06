package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Hang guards: bounds on waiting for a server, not expectations of its speed.
const (
	readyTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
)

// process is one running server binary, in its own process group, its output appended
// to a log file. It is testinfra's starter without testing.TB.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{} // closed once the process has exited and was reaped
	err     error         // Wait's result, valid after done
}

// startProcess starts bin with args, its stdout and stderr going to logPath.
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id (also its process group id).
func (p *process) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process is gone.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group and waits for the process to exit; after
// stopTimeout it kills the group.
func (p *process) stop() error {
	pgid := p.cmd.Process.Pid
	if p.exited() {
		return nil
	}
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

// kill kills the process group at once (a second Ctrl-C).
func (p *process) kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// waitReady polls url until it answers want, the process exits, or the hang guard
// expires.
func (p *process) waitReady(ctx context.Context, url string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
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
			return fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, p.err, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%v); see %s", p.name, readyTimeout, last, p.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pickPort returns want when 127.0.0.1:want can be bound now, else a free port (the
// kernel's choice). want 0 means any free port.
func pickPort(want int) (int, error) {
	if want > 0 {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want))); err == nil {
			_ = l.Close()
			return want, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// listen binds 127.0.0.1:want, or a free port when it is taken (want 0: any).
func listen(want int) (net.Listener, error) {
	if want > 0 {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want))); err == nil {
			return l, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.New("no free port on 127.0.0.1: " + err.Error())
	}
	return l, nil
}
