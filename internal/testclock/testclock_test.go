package testclock

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// TestSetRunsLoops: Set runs each loop due by then once, in the order of deadlines then
// names, with the clock at the time set, and returns once each waits again.
func TestSetRunsLoops(t *testing.T) {
	c := New(t0)
	var (
		mu  sync.Mutex
		log []string
	)
	note := func(s string) {
		mu.Lock()
		log = append(log, s+" "+c.Now().Format(time.TimeOnly))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Every(ctx, "probe", 10*time.Second, func() { note("probe") }) })
	wg.Go(func() {
		// A poll loop: 15 s between two polls.
		for wait := time.Duration(0); c.Sleep(ctx, "argocd", wait); wait = 15 * time.Second {
			note("argocd")
		}
	})
	c.Await("argocd", "probe")
	c.Set(t0)
	c.Set(t0.Add(12 * time.Second))
	c.Set(t0.Add(60 * time.Second)) // each overdue loop runs once, at the time set
	c.Set(t0.Add(70 * time.Second))
	cancel()
	wg.Wait()
	require.Equal(t, []string{
		"argocd 10:00:00", "probe 10:00:00", // same instant: by name
		"probe 10:00:12",
		"argocd 10:01:00", "probe 10:01:00",
		"probe 10:01:10",
	}, log)
}

// TestSetLoopThatStops: a loop that stops instead of waiting again does not hold Set.
func TestSetLoopThatStops(t *testing.T) {
	c := New(t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.Sleep(ctx, "once", 0) {
			cancel() // stops during its work
		}
	}()
	c.Await("once")
	c.Set(t0)
	<-done
	require.Error(t, ctx.Err())
	require.False(t, c.Sleep(ctx, "late", time.Second), "a loop whose ctx ended does not sleep")
	c.Set(t0.Add(time.Hour)) // nothing waits
}
