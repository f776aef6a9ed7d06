package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
)

// runAndStop runs a daemon that New built and stops it at once, as serve does on
// SIGTERM: the store it opened is closed.
func runAndStop(t *testing.T, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, a.Run(ctx))
}

// journalLastSeq is the daemon's envtrack_journal_last_sequence (GET /metrics).
func journalLastSeq(t *testing.T, a *app.App) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "envtrack_journal_last_sequence "); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return uint64(n)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatal("no envtrack_journal_last_sequence in /metrics")
	return 0
}

// waitDelivered waits until the daemon runs its n sinks and none lags, or ctx ends.
func waitDelivered(ctx context.Context, t *testing.T, a *app.App, n int) {
	t.Helper()
	for {
		statuses := a.SinkStatus()
		done := len(statuses) == n
		for _, st := range statuses {
			done = done && st.Lag == 0
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sinks still behind: %+v: %v", statuses, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
