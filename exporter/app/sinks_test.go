package app

import (
	"context"
	"fmt"
	"time"

	"github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/webhook"
)

// testSinks wires annotate's Grafana sink and the webhooks into the test daemons as
// cmd/envtrack does.
var testSinks = []sink.Func{sink.FromSection("grafana", func(c *config.Config) *config.GrafanaConfig { return c.Grafana }, annotate.New),
	webhook.Sinks}

// waitDelivered blocks until every sink has delivered (or set aside) everything in the
// journal, or ctx ends. It polls the runners' status.
func waitDelivered(ctx context.Context, a *App) error {
	return waitDeliveredEvery(ctx, a, 20*time.Millisecond)
}

// waitDeliveredEvery is waitDelivered polling every poll (benchmarks poll often, so that
// the poll does not lengthen what they time).
func waitDeliveredEvery(ctx context.Context, a *App, poll time.Duration) error {
	for {
		last := a.store.LastSeq()
		statuses := a.SinkStatus()
		// Until Run has started the runners of the configured sinks, nothing is delivered.
		done := len(statuses) == len(a.current().sinks)
		for _, st := range statuses {
			if st.Cursor < last {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sinks still behind: %+v: %w", a.SinkStatus(), ctx.Err())
		case <-time.After(poll):
		}
	}
}
