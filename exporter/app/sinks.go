package app

import (
	"fmt"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/sink"
)

// SinkFunc builds one sink of a configuration generation, registering its metrics with
// reg; nil when its section is absent. A reload builds the sinks again, and they resume
// at their durable cursors. Options.Sinks wires the sinks that live outside exporter
// (cmd wires annotate's Grafana sink): build them with NewSink.
type SinkFunc func(cfg *config.Config, logger log.Logger, reg prometheus.Registerer) (sink.Sink, error)

// NewSink is the SinkFunc of a sink built from one configuration section (section
// returns nil when it is absent), named for its logs and errors.
func NewSink[C any, S sink.Sink](name string, section func(*config.Config) *C, build func(C, log.Logger, prometheus.Registerer) (S, error)) SinkFunc {
	return func(cfg *config.Config, logger log.Logger, reg prometheus.Registerer) (sink.Sink, error) {
		c := section(cfg)
		if c == nil {
			return nil, nil
		}
		s, err := build(*c, log.With(logger, "component", name), reg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return s, nil
	}
}

// newSinks builds the configured sinks: InfluxDB's, then those of extra. Each delivers
// from the journal at its own durable cursor.
func newSinks(cfg *config.Config, logger log.Logger, reg prometheus.Registerer, typeTag func(string) string, extra []SinkFunc) ([]sink.Sink, error) {
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
	return a.runners.Status()
}
