package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// BenchmarkDeliver: events per second from the journal to a local receiver, one signed
// CloudEvents POST each (the runner, the signature, the body, the cursor), against what
// a user's own script would do instead: the same bodies POSTed in a loop by a bare
// http.Client, unsigned, no journal. b.N events per run; bytes/event is the body on
// the wire.
func BenchmarkDeliver(b *testing.B) {
	var wire atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		wire.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	events := func(n int) []event.Event {
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{EnvironmentID: fmt.Sprintf("pr-%d", i), Name: event.Ready, Time: t0.Add(time.Duration(i) * time.Second),
				Type: "preview", Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d5e6f7a8b",
				Metadata: map[string]any{event.MetaProvisioningDuration: 225.0}, Source: "argocd"}
		}
		return evs
	}

	b.Run("Sink", func(b *testing.B) {
		st, _ := journal(b, events(b.N))
		s, err := New(config.WebhookConfig{Name: "bench", URL: srv.URL, Secret: specSecret, Format: config.WebhookFormatCloudEvents,
			Timeout: config.DefaultWebhookConfig.Timeout}, Options{}, nil)
		require.NoError(b, err)
		b.Cleanup(s.Close)
		require.NoError(b, st.SetCursor(s.Name(), 0))
		r := runner(s, st, prometheus.NewRegistry())
		wire.Store(0)
		b.ResetTimer()
		require.NoError(b, r.Flush(context.Background()))
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(wire.Load())/float64(b.N), "bytes/event")
	})
	b.Run("Direct", func(b *testing.B) {
		s, err := New(config.WebhookConfig{Name: "bench", URL: srv.URL, Format: config.WebhookFormatCloudEvents}, Options{}, nil)
		require.NoError(b, err)
		bodies := make([][]byte, b.N)
		for i, e := range events(b.N) {
			e.ID = "e-" + strconv.Itoa(i)
			bodies[i], err = s.cloudEvent(e)
			require.NoError(b, err)
		}
		hc := &http.Client{}
		b.Cleanup(hc.CloseIdleConnections)
		wire.Store(0)
		b.ResetTimer()
		for _, body := range bodies {
			resp, err := hc.Post(srv.URL, "application/cloudevents+json", bytes.NewReader(body))
			require.NoError(b, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(wire.Load())/float64(b.N), "bytes/event")
	})
}
