package fakegrafana

import "testing"

// NewServer returns a started Server (HTTP on 127.0.0.1) that t closes at cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	s.Start()
	t.Cleanup(s.Close)
	return s
}
