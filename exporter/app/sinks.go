package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/sink"
)

// newSinks builds the configured sinks. Each delivers from the journal at its own
// durable cursor; a reload rebuilds them and they resume where their cursor stands.
func newSinks(cfg *config.Config, logger log.Logger, reg prometheus.Registerer, typeTag func(string) string) ([]sink.Sink, error) {
	var out []sink.Sink
	if c := cfg.InfluxDB; c != nil {
		s, err := influxdb.New(*c, log.With(logger, "component", "influxdb"))
		if err != nil {
			return nil, fmt.Errorf("influxdb: %w", err)
		}
		s.SetTypeTag(typeTag)
		out = append(out, s)
	}
	if c := cfg.Grafana; c != nil {
		s, err := annotate.New(*c, log.With(logger, "component", "grafana"), reg)
		if err != nil {
			return nil, fmt.Errorf("grafana: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// WaitDelivered blocks until every sink has delivered (or set aside) everything in
// the journal, or ctx ends. Tests use it; it polls the runners' status.
func (a *App) WaitDelivered(ctx context.Context) error {
	for {
		last := a.store.LastSeq()
		statuses := a.SinkStatus()
		// Until Run has started the runners of the configured sinks, nothing is delivered.
		done := len(statuses) == len(a.currentSources().sinks)
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
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SinkStatus reports each sink's state (the landing page, tests).
func (a *App) SinkStatus() []sink.Status {
	a.mu.RLock()
	runners := a.runners
	a.mu.RUnlock()
	out := make([]sink.Status, 0, len(runners))
	for _, r := range runners {
		out = append(out, r.Status())
	}
	return out
}
