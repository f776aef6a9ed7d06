package influxdb

import (
	"context"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
)

// Backend is the query backend of an influxdb section: InfluxDB's read path in
// influxdb.query_language (the Reader, to close), or fallback (the journal) without the
// section. A read path that cannot be built (the configuration loader validated the
// section) is logged, and fallback answers.
func Backend(c *config.InfluxDBConfig, fallback query.Backend, logger log.Logger, reg prometheus.Registerer) (query.Backend, Reader) {
	if c == nil {
		return fallback, nil
	}
	r, err := NewReader(*c, logger, reg)
	if err != nil {
		level.Error(logger).Log("msg", "InfluxDB query backend unusable, answering from the journal", "err", err)
		return fallback, nil
	}
	return r, r
}

// Probe asks cfg's InfluxDB once whether it answers reads in the configured query
// language, as serve does at start-up: nil when it answers, else a *ReadError saying
// what is wrong and how to fix it. It is no configuration error (InfluxDB may be down
// for now): check-config prints it as a warning.
func Probe(ctx context.Context, cfg config.InfluxDBConfig) error {
	r, err := NewReader(cfg, log.NewNopLogger(), nil)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Probe(ctx)
}

// Announce asks InfluxDB once, through r, whether it answers cfg's query language, and
// logs one line saying so, or what is wrong and how to fix it. The daemon goes on either
// way: the journal keeps working, writes may too, and each read that fails says why
// again (502, or 503 when InfluxDB is unreachable).
func Announce(ctx context.Context, r Reader, cfg config.InfluxDBConfig, logger log.Logger) {
	logger = log.With(logger, "component", "influxdb")
	if err := r.Probe(ctx); err != nil {
		if ctx.Err() == nil {
			level.Warn(logger).Log("msg", err.Error())
		}
		return
	}
	db, rp := cfg.DBRP()
	if cfg.QueryLanguage == config.QueryLanguageFlux {
		level.Info(logger).Log("msg", "InfluxDB answers Flux reads", "bucket", cfg.Bucket)
	} else {
		level.Info(logger).Log("msg", "InfluxDB answers InfluxQL reads", "database", db, "retention_policy", rp)
	}
}
