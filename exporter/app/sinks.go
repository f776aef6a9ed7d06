package app

import (
	"fmt"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/sink"
)

// newSinks builds the configured sinks: InfluxDB's, then those of extra. Each delivers
// from the journal at its own durable cursor.
func newSinks(cfg *config.Config, logger log.Logger, reg prometheus.Registerer, typeTag func(string) string, extra []sink.Func) ([]sink.Sink, error) {
	var out []sink.Sink
	if c := cfg.InfluxDB; c != nil {
		s, err := influxdb.New(*c, log.With(logger, "component", "influxdb"))
		if err != nil {
			return nil, fmt.Errorf("influxdb: %w", err)
		}
		s.SetTypeTag(typeTag)
		out = append(out, s)
	}
	for _, build := range extra {
		s, err := build(cfg, logger, reg)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// SinkStatus reports each sink's state (the landing page, the demo).
func (a *App) SinkStatus() []sink.Status {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen.runners.Status()
}
