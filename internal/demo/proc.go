package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/blueberry-idp/envtrack/internal/proc"
)

// Hang guards: bounds on waiting for a server, not expectations of its speed.
const (
	readyTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
)

// startProcess starts bin with args, its stdout and stderr appended to logPath.
func startProcess(name, bin string, args []string, logPath string) (*proc.Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	p, err := proc.Start(name, bin, args, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() { <-p.Done(); f.Close() }()
	return p, nil
}

// waitReady is proc's WaitReady with the log file named in the error.
func waitReady(ctx context.Context, p *proc.Process, url string, want int, logPath string) error {
	if err := p.WaitReady(ctx, url, want, readyTimeout); err != nil {
		return fmt.Errorf("%w; see %s", err, logPath)
	}
	return nil
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
