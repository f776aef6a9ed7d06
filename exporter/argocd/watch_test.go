package argocd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

// watchAsync runs Watch in the background, sending events to a channel.
func watchAsync(ctx context.Context, c *Client) (<-chan *WatchEvent, <-chan error) {
	evs := make(chan *WatchEvent, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Watch(ctx, StreamHandler{Event: func(e *WatchEvent, _ bool) error { evs <- e; return nil }})
	}()
	return evs, errc
}

func next(t *testing.T, evs <-chan *WatchEvent) *WatchEvent {
	t.Helper()
	select {
	case e := <-evs:
		return e
	case <-time.After(30 * time.Second): // a hang guard, not a speed check
		t.Fatal("no event")
		return nil
	}
}

func TestWatch(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, _ := newTestClient(t, srv.URL(), nil)
	require.Contains(t, c.streamURL(false), "/api/v1/stream/applications?")
	require.Contains(t, c.streamURL(false), "result.type%2Cresult.application.metadata.name%2C")
	require.NotContains(t, c.streamURL(false), "status.history")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, errc := watchAsync(ctx, c)
	want := evidenceByName(fixtureApps(t))
	for range want {
		e := next(t, evs)
		require.Equal(t, EventAdded, e.Type)
		got := defaultMapping().Evidence(e.Application)
		w := want[e.Application.Metadata.Name]
		// The stream keeps what the list's fixed `fields` table drops.
		if got.Revision != w.Revision {
			w.Revision, w.CommitSHA = got.Revision, got.CommitSHA
		}
		w.OpMessage = got.OpMessage
		w.History = got.History // not in the fields: read with GET /api/v1/applications/{name}
		require.Equal(t, w, got)
	}
	name := fakeargocd.FixtureApps()[0].Metadata.Name
	srv.Update(name, func(a *fakeargocd.Application) {
		fakeargocd.SetHealth(a, fakeargocd.HealthDegraded, t0.Add(time.Hour))
	})
	e := next(t, evs)
	require.Equal(t, EventModified, e.Type)
	require.Equal(t, "Degraded", e.Application.Status.Health.Status)
	srv.Delete(name)
	e = next(t, evs)
	require.Equal(t, EventDeleted, e.Type)
	require.Equal(t, name, e.Application.Metadata.Name)

	// A 401 in the middle of the stream ends Watch with that error.
	srv.BreakStreams(fakeargocd.StreamUnauthorized)
	err := <-errc
	var ae *APIError
	require.ErrorAs(t, err, &ae, "%v", err)
	require.Equal(t, 401, ae.StatusCode)
	require.Equal(t, 16, ae.Code)
	require.Contains(t, err.Error(), "argocd: watch applications: 401 Unauthorized: invalid session")
	require.False(t, Unsupported(err))
}

func TestWatchFailures(t *testing.T) {
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(fakeargocd.FixtureApps()...))
	c, _ := newTestClient(t, srv.URL(), nil)
	ctx := context.Background()
	watch := func() error {
		return c.Watch(ctx, StreamHandler{Event: func(*WatchEvent, bool) error { return nil }})
	}

	srv.SetStreamMode(fakeargocd.StreamNotFound)
	require.True(t, Unsupported(watch()))
	srv.SetStreamMode(fakeargocd.StreamUnimplemented)
	err := watch()
	require.True(t, Unsupported(err), "%v", err)
	srv.SetStreamMode(fakeargocd.StreamNormal)

	srv.SetFault(fakeargocd.Unauthorized())
	err = watch()
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 401, ae.StatusCode)
	require.NotContains(t, err.Error(), token)
	srv.SetFault(fakeargocd.ProxyError(503))
	err = watch()
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 503, ae.StatusCode)
	require.True(t, retryable(err))
	srv.SetFault(fakeargocd.NotJSON())
	err = watch()
	var re *ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "not JSON", re.Reason)
	srv.ClearFault()

	// Cut in the middle of an event: a transport error, retryable.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evs, errc := watchAsync(wctx, c)
	for range fakeargocd.FixtureApps() {
		next(t, evs)
	}
	require.Eventually(t, srv.StreamsCaughtUp, 30*time.Second, time.Millisecond)
	srv.BreakStreams(fakeargocd.StreamCut)
	err = <-errc
	var te *TransportError
	require.ErrorAs(t, err, &te, "%v", err)
	require.True(t, retryable(err))

	// A clean end (the server restarting) is io.EOF.
	evs, errc = watchAsync(wctx, c)
	for range fakeargocd.FixtureApps() {
		next(t, evs)
	}
	require.Eventually(t, srv.StreamsCaughtUp, 30*time.Second, time.Millisecond)
	srv.BreakStreams(fakeargocd.StreamClose)
	require.ErrorIs(t, <-errc, io.EOF)

	// Cancelling the context ends Watch without an error.
	_, errc = watchAsync(wctx, c)
	require.Eventually(t, srv.StreamsCaughtUp, 30*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-errc)
}

func TestWatchBadChunks(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not an event", `{"result":{"type":"ADDED"}}` + "\n", "a chunk that is not an application event"},
		{"unknown type", `{"result":{"type":"BOOKMARK","application":{"metadata":{"name":"a"}}}}` + "\n", `unknown event type "BOOKMARK"`},
		{"garbage", "<html>\n", "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.Copy(w, strings.NewReader(tc.body))
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, nil)
			err := c.Watch(context.Background(), StreamHandler{Event: func(*WatchEvent, bool) error { return errors.New("no event expected") }})
			var re *ResponseError
			require.ErrorAs(t, err, &re, "%v", err)
			require.Equal(t, tc.want, re.Reason)
		})
	}
}

// FuzzWatch feeds arbitrary stream bodies to Watch: it never panics, hands out only
// events with a name and a known type, and ends with an error or io.EOF.
func FuzzWatch(f *testing.F) {
	for _, s := range []string{
		`{"result":{"type":"ADDED","application":{"metadata":{"name":"a"}}}}` + "\n",
		`{"error":{"grpc_code":16,"http_code":401,"message":"x","http_status":"Unauthorized"}}`,
		`{"result":{"type":"MODIFIED","application":{"metadata":{"name":"a"}}}}{"result":`,
		"<html>", "", "\n\n",
	} {
		f.Add([]byte(s))
	}
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	ac := config.DefaultArgoCDConfig
	ac.Server, ac.Token = srv.URL, token
	c, err := newClient(ac, Options{}, nil, log.NewNopLogger(), nil)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(b)
		err := c.Watch(context.Background(), StreamHandler{Event: func(e *WatchEvent, _ bool) error {
			require.NotEmpty(t, e.Application.Metadata.Name)
			require.Contains(t, []string{EventAdded, EventModified, EventDeleted}, e.Type)
			return nil
		}})
		require.Error(t, err)
	})
}

// FuzzWatchSSE is FuzzWatch for the SSE form.
func FuzzWatchSSE(f *testing.F) {
	for _, s := range []string{
		"data: " + `{"result":{"type":"ADDED","application":{"metadata":{"name":"a"}}}}` + " \n\n\n:\n",
		"data: " + `{"error":{"grpc_code":16,"http_code":401,"message":"x","http_status":"Unauthorized"}}` + " \n\n",
		"data: {\"result\":\ndata: {}}\n\n", ":\n:\n", "event: x\nid: 1\nretry: 5\n\n", "data: " + `{"result":`, "<html>\n", "", "\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	ac := config.DefaultArgoCDConfig
	ac.Server, ac.Token = srv.URL, token
	c, err := newClient(ac, Options{}, nil, log.NewNopLogger(), nil)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(b)
		err := c.Watch(context.Background(), StreamHandler{Event: func(e *WatchEvent, _ bool) error {
			require.NotEmpty(t, e.Application.Metadata.Name)
			require.Contains(t, []string{EventAdded, EventModified, EventDeleted}, e.Type)
			return nil
		}, Keepalive: func() {}})
		require.Error(t, err)
	})
}

// TestStreamFieldsNarrow: a stream event carries what Evidence reads and nothing else:
// not an annotation of kilobytes envtrack does not read (kubectl's
// last-applied-configuration), other labels, the destination or the sync policy. The
// evidence is the same as from the whole Application; asked for (a first sight),
// status.history too, whose paths the stream's generic filter keeps (Argo CD
// pkg/apiclient/application/forwarder_overwrite.go gives the stream no field processor
// of its own: argoproj/pkg grpc/http/forwarders.go messageMarshaler.processItem).
func TestStreamFieldsNarrow(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 8<<10)
	a := fakeargocd.NewApp("pr-1", start, fakeargocd.WithType("preview"), fakeargocd.WithURL("https://pr-1.example.com"),
		fakeargocd.WithRequestedAt(start.Add(-time.Minute)), fakeargocd.WithLabel("team", "payments"),
		fakeargocd.WithAnnotation("kubectl.kubernetes.io/last-applied-configuration", big))
	fakeargocd.StartSync(&a, "abc123", start.Add(time.Second))
	fakeargocd.SyncSucceeded(&a, "abc123", start.Add(time.Minute))
	fakeargocd.SetHealth(&a, fakeargocd.HealthHealthy, start.Add(2*time.Minute))
	fakeargocd.StartSync(&a, "def456", start.Add(3*time.Minute))
	fakeargocd.SyncSucceeded(&a, "def456", start.Add(4*time.Minute))
	// Never synced by Argo CD: no status.history at all, which the stream leaves out.
	b := fakeargocd.NewApp("pr-2", start)
	b.Status.Sync.Status = fakeargocd.SyncSynced
	fakeargocd.SetHealth(&b, fakeargocd.HealthHealthy, start.Add(time.Minute))
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(a, b))
	c, _ := newTestClient(t, srv.URL(), nil)

	for _, history := range []bool{false, true} {
		t.Run(fmt.Sprintf("history=%v", history), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.streamURL(history), nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			for _, name := range []string{"pr-1", "pr-2"} {
				line, err := r.ReadBytes('\n')
				require.NoError(t, err)
				for _, absent := range []string{"last-applied-configuration", "team", "destination", "syncPolicy"} {
					require.NotContains(t, string(line), absent)
				}
				require.Less(t, len(line), 1500, "one event: %s", line)

				var chunk streamChunk
				require.NoError(t, json.Unmarshal(line, &chunk))
				require.Equal(t, name, chunk.Result.Application.Metadata.Name)
				c.streamHistory(&chunk.Result.Application, history) // as Watch does
				full := fixtureFull(t, srv, name)
				want := defaultMapping().Evidence(full)
				switch {
				case !history:
					want.History = nil // not asked for: Client.History reads it
				case name == "pr-2":
					require.NotContains(t, string(line), "history")
					require.Empty(t, full.Status.History)
					want.History = []tracker.Deployment{} // none, and known to be none: nothing to read
				default:
					require.Len(t, want.History, 2)
				}
				require.Equal(t, want, defaultMapping().Evidence(chunk.Result.Application))
				require.Equal(t, RefOf(&full), RefOf(&chunk.Result.Application))
			}
		})
	}
}

// TestStreamHistoryAbsent: on a stream asked for status.history, an Application without
// one has none (Argo CD leaves an empty history out), unless it shows a succeeded
// operation, which Argo CD always records there: then the history is read, not assumed.
func TestStreamHistoryAbsent(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1", nil)
	for _, tc := range []struct {
		name    string
		history bool
		op      *OperationState
		hist    []RevisionHistory
		want    []RevisionHistory
	}{
		{name: "not asked", history: false, want: nil},
		{name: "asked, none", history: true, want: []RevisionHistory{}},
		{name: "asked, running", history: true, op: &OperationState{Phase: "Running"}, want: []RevisionHistory{}},
		{name: "asked, failed", history: true, op: &OperationState{Phase: "Failed"}, want: []RevisionHistory{}},
		{name: "asked, succeeded without one", history: true, op: &OperationState{Phase: "Succeeded"}, want: nil},
		{name: "asked, given", history: true, op: &OperationState{Phase: "Succeeded"},
			hist: []RevisionHistory{{ID: 1, Revision: "abc"}}, want: []RevisionHistory{{ID: 1, Revision: "abc"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Application{Status: Status{OperationState: tc.op, History: tc.hist}}
			c.streamHistory(&a, tc.history)
			require.Equal(t, tc.want, a.Status.History)
		})
	}
}

// fixtureFull is the whole Application as GET /api/v1/applications/{name} returns it.
func fixtureFull(t *testing.T, srv *fakeargocd.Server, name string) Application {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+"/api/v1/applications/"+name, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var a Application
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return a
}

// TestWatchReadsAheadWhileHandling (issue 23): while the handler works on one event (a
// burst's commit), the stream is read and decoded on: Argo CD is not held back by
// envtrack's commits. The events are handled after in the order they were sent, the
// keepalives among them.
func TestWatchReadsAheadWhileHandling(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var apps []fakeargocd.Application
	for i := range readAhead / 2 {
		apps = append(apps, fakeargocd.NewApp(fmt.Sprintf("pr-%03d", i), start))
	}
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(apps...))
	c, _ := newTestClient(t, srv.URL(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	handled := make(chan string, 2*readAhead)
	errc := make(chan error, 1)
	go func() {
		first := true
		errc <- c.Watch(ctx, StreamHandler{
			Event: func(e *WatchEvent, _ bool) error {
				if first {
					first = false
					<-release // the first event's commit takes long
				}
				handled <- e.Application.Metadata.Name
				return nil
			},
			Keepalive: func() { handled <- "keepalive" },
		})
	}()
	// readAll waits until the client has read everything the fake wrote (hang guard,
	// not a speed check).
	readAll := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !srv.StreamsCaughtUp() || testutil.ToFloat64(c.wm.bytes) < float64(srv.BytesSent()) {
			require.True(t, time.Now().Before(deadline), "the stream was not read while the first event was handled")
			time.Sleep(time.Millisecond)
		}
	}
	readAll()
	require.Equal(t, 1, srv.Keepalive())
	for srv.OpenStreamKeepalives()[0] == 0 {
		time.Sleep(time.Millisecond)
	}
	srv.Upsert(fakeargocd.NewApp("pr-new", start))
	readAll()
	require.Empty(t, handled, "the first event is still being handled")
	close(release)
	want := []string{}
	for _, a := range apps {
		want = append(want, a.Metadata.Name)
	}
	want = append(want, "keepalive", "pr-new")
	var got []string
	for range want {
		select {
		case n := <-handled:
			got = append(got, n)
		case err := <-errc:
			t.Fatalf("watch ended: %v", err)
		case <-time.After(30 * time.Second): // a hang guard
			t.Fatalf("handled only %v", got)
		}
	}
	require.Equal(t, want, got)
	cancel()
	require.NoError(t, <-errc)
}
