package sink

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
)

// saved is the sink's cursor as a crash would leave it.
func (f *fixture) saved(t *testing.T, name string) uint64 {
	t.Helper()
	return f.rec.savedCursor(name)
}

// A delivery saves the cursor in memory; it reaches the disk without a commit of its own
// within CursorSaveInterval, and when Run ends.
func TestCursorSavedLazily(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 5)
	s := newSink("influx")
	r := f.runner(s, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return len(s.Delivered()) == 5 }, 10*time.Second, time.Millisecond)
	require.Equal(t, uint64(5), f.cursor(t, "influx"))
	// No commit follows: the runner writes it itself.
	require.Eventually(t, func() bool { return f.saved(t, "influx") == 5 }, 10*time.Second, 5*time.Millisecond)

	f.commit(t, 3)
	require.Eventually(t, func() bool { return len(s.Delivered()) == 8 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, uint64(8), f.saved(t, "influx"), "Run writes the cursor when it ends")
	require.Equal(t, seqRange(1, 8), s.Delivered())
}

// Under sustained load a runner delivers full batches: it lingers only while fewer than
// BatchSize events wait, and never when a full batch is there.
func TestFullBatchesUnderLoad(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 1000)
	s := newSink("influx")
	r := f.runner(s, 250)
	r.linger = time.Hour // a partial batch would wait (and the test hang) if it lingered wrongly
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return len(s.Delivered()) == 1000 }, 10*time.Second, time.Millisecond)

	// A stream in small commits: the runner waits for a full batch.
	for range 25 {
		f.commit(t, 10)
	}
	require.Eventually(t, func() bool { return len(s.Delivered()) == 1250 }, 10*time.Second, time.Millisecond)
	f.commit(t, 7) // fewer than a batch: lingers (an hour here)
	cancel()
	require.NoError(t, <-done)
	calls := s.Calls()
	require.Len(t, calls, 5)
	for _, c := range calls {
		require.Len(t, c, 250)
	}
	require.Equal(t, seqRange(1, 1250), s.Delivered())
}

// When the stream pauses, a partial batch goes without waiting out the linger: a lone
// push, or a stream's last events, reach the sink once no commit came for a tenth of it.
func TestPartialBatchWhenTheStreamPauses(t *testing.T) {
	f := newFixture(t)
	s := newSink("influx")
	r := f.runner(s, 250)
	require.Zero(t, r.quiet, "no linger, no quiet")
	d := config.DefaultDeliveryConfig
	require.Equal(t, time.Duration(d.Linger)/10, NewRunner(newSink("other"), f.rec, f.m, d, Options{}).quiet)

	r.linger, r.quiet = time.Hour, time.Millisecond // lingering for the linger would hang the test
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.commit(t, 7)
	require.Eventually(t, func() bool { return len(s.Delivered()) == 7 }, 10*time.Second, time.Millisecond)
	f.commit(t, 3)
	require.Eventually(t, func() bool { return len(s.Delivered()) == 10 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, seqRange(1, 10), s.Delivered())
}
