package argocd

import (
	"context"
	"net"
	"net/http/httptrace"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

// TestConnectionsProbeForHalfOpen: the client's connections to Argo CD (the stream's
// among them) carry TCP keepalive probes that give up on a silent peer within about
// 30 s, read back from the socket as the kernel holds them.
func TestConnectionsProbeForHalfOpen(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, _ := newTestClient(t, srv.URL(), nil)
	var conn net.Conn
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { conn = info.Conn },
	})
	_, err := c.list(ctx)
	require.NoError(t, err)
	tcp, ok := conn.(*net.TCPConn)
	require.True(t, ok, "a TCP connection, got %T", conn)
	raw, err := tcp.SyscallConn()
	require.NoError(t, err)
	opt := func(level, name int) int {
		var v int
		var gerr error
		require.NoError(t, raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, name) }))
		require.NoError(t, gerr)
		return v
	}
	require.Equal(t, 1, opt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
	idle := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
	interval := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
	count := opt(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	require.Equal(t, []int{15, 5, 3}, []int{idle, interval, count})
	require.LessOrEqual(t, idle+interval*count, 30, "seconds until a silent peer is given up")
}
