package sink

import (
	"fmt"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
)

// Func builds the sinks of one part of a configuration, registering their metrics with
// reg; none when that part is absent. A reload builds the sinks again, and they resume
// at their durable cursors. The daemon takes its sinks this way beyond InfluxDB's (cmd
// wires annotate's Grafana sink and the webhooks): build one with FromSection, or one
// per item of a list (the webhooks).
type Func func(cfg *config.Config, logger log.Logger, reg prometheus.Registerer) ([]Sink, error)

// Build builds the sinks of cfg, those of each of funcs in turn. Each delivers from the
// journal at its own durable cursor.
func Build(cfg *config.Config, logger log.Logger, reg prometheus.Registerer, funcs []Func) ([]Sink, error) {
	var out []Sink
	for _, build := range funcs {
		s, err := build(cfg, logger, reg)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// FromSection is the Func of a sink built from one configuration section (section
// returns nil when it is absent), named for its logs and errors.
func FromSection[C any, S Sink](name string, section func(*config.Config) *C, build func(C, log.Logger, prometheus.Registerer) (S, error)) Func {
	return func(cfg *config.Config, logger log.Logger, reg prometheus.Registerer) ([]Sink, error) {
		c := section(cfg)
		if c == nil {
			return nil, nil
		}
		s, err := build(*c, log.With(logger, "component", name), reg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return []Sink{s}, nil
	}
}
