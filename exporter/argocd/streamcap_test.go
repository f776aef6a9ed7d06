package argocd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// streamEvent is one application stream chunk for Application name.
func streamEvent(name string) []byte {
	return fmt.Appendf(nil, `{"result":{"type":"ADDED","application":{"metadata":{"name":%q,"creationTimestamp":"2025-01-07T10:00:00Z"}}}}`+"\n", name)
}

// hugeEventServer streams the events before, then one ADDED event whose annotation
// never ends (written until the client hangs up), as an Application with an annotation
// of any size would.
func hugeEventServer(t *testing.T, before ...[]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, b := range before {
			_, _ = w.Write(b)
		}
		_, _ = w.Write([]byte(`{"result":{"type":"ADDED","application":{"metadata":{"name":"huge","annotations":{"blueberry.io/url":"`))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWatchEventCap: a stream event is capped as a list answer is. Events up to the cap
// pass, one after the other; an event beyond it ends Watch with ErrEventTooLarge after
// reading at most the cap past the last event, so the decoder never buffers more.
func TestWatchEventCap(t *testing.T) {
	const limit = 256 << 10
	// Events each close to the cap, one after the other: the cap is per event.
	var near [][]byte
	for i := range 5 {
		pad := strings.Repeat("p", limit-300)
		near = append(near, fmt.Appendf(nil, `{"result":{"type":"ADDED","application":{"metadata":{"name":"near-%d","annotations":{"pad":%q}}}}}`+"\n", i, pad))
	}
	before := append([][]byte{streamEvent("a"), streamEvent("b")}, near...)
	srv := hugeEventServer(t, before...)
	c, _ := newTestClient(t, srv.URL, nil)
	c.maxBody = limit

	var got []string
	err := c.Watch(context.Background(), StreamHandler{Event: func(e *WatchEvent, _ bool) error {
		got = append(got, e.Application.Metadata.Name)
		return nil
	}})
	require.ErrorIs(t, err, ErrEventTooLarge)
	var re *ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, fmt.Sprintf("an event larger than %d bytes (the limit of a list answer)", limit), re.Reason)
	require.Equal(t, []string{"a", "b", "near-0", "near-1", "near-2", "near-3", "near-4"}, got)
	sent := 0
	for _, b := range before {
		sent += len(b)
	}
	read := testutil.ToFloat64(c.wm.bytes)
	require.LessOrEqual(t, read, float64(sent+limit), "read at most the cap past the last event")
	require.Greater(t, read, float64(sent+limit/2))
	require.Equal(t, 1.0, testutil.ToFloat64(c.m.decodeErrors))
}

// TestWatchEventCapMemory: an event of unbounded size (the server never ends it) costs a
// bounded allocation, a few times the cap (the decoder's buffer doubles as it grows):
// the decoder stops at the cap. Before the cap, one 300 MB annotation took envtrack's
// peak RSS to 1,132 MiB. The cap is 64 MiB as shipped; the test reads 8 MiB to stay fast
// under -race.
func TestWatchEventCapMemory(t *testing.T) {
	srv := hugeEventServer(t, streamEvent("a"))
	c, _ := newTestClient(t, srv.URL, nil)
	require.Equal(t, int64(maxBodyBytes), c.maxBody, "a stream event has the cap of a list answer")
	const limit = 8 << 20
	c.maxBody = limit
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := c.Watch(context.Background(), StreamHandler{Event: func(*WatchEvent, bool) error { return nil }})
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrEventTooLarge)
	require.LessOrEqual(t, testutil.ToFloat64(c.wm.bytes), float64(len(streamEvent("a"))+limit))
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MiB while refusing the event", allocated>>20)
	require.Less(t, allocated, uint64(6*limit), "bounded by the cap, not by the event")
}
