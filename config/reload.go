package config

import (
	"fmt"
	"slices"
)

// NeedsRestart names what a reload from old to cfg cannot apply: the listener, the store
// and the metrics registered at start. A reload that changes any of them is refused, and
// the previous configuration kept, rather than answering "reloaded" for a change that is
// not in force.
func NeedsRestart(old, cfg *Config) error {
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"listen_address", old.ListenAddress, cfg.ListenAddress},
		{"state_dir", old.StateDir, cfg.StateDir},
		{"store.driver", old.Store.Driver, cfg.Store.Driver},
		{"store.postgres", pgKey(old.Store.Postgres), pgKey(cfg.Store.Postgres)},
		{"store.postgres.dsn", pgDSN(old.Store.Postgres), pgDSN(cfg.Store.Postgres)},
		{"metrics.namespace", old.Metrics.Namespace, cfg.Metrics.Namespace},
		{"metrics.native_histograms", old.Metrics.NativeHistograms, cfg.Metrics.NativeHistograms},
		{"api.read_header_timeout", old.API.ReadHeaderTimeout, cfg.API.ReadHeaderTimeout},
		{"api.read_timeout", old.API.ReadTimeout, cfg.API.ReadTimeout},
		{"api.write_timeout", old.API.WriteTimeout, cfg.API.WriteTimeout},
		{"api.idle_timeout", old.API.IdleTimeout, cfg.API.IdleTimeout},
		{"api.max_header_bytes", old.API.MaxHeaderBytes, cfg.API.MaxHeaderBytes},
		{"api.max_connections", old.API.MaxConnections, cfg.API.MaxConnections},
	} {
		if c.old != c.new {
			return fmt.Errorf("%s changed from %v to %v: that needs a restart; keeping the previous configuration", c.key, c.old, c.new)
		}
	}
	if o, n := old.SLOs.LatencyThresholds(), cfg.SLOs.LatencyThresholds(); !slices.Equal(o, n) {
		return fmt.Errorf("slos latency thresholds (the provisioning histogram's buckets) changed from %v to %v: that needs a restart; keeping the previous configuration", o, n)
	}
	return nil
}

// pgKey is what of store.postgres a reload compares, but the DSN (pgDSN).
func pgKey(c *PostgresConfig) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("{lease_duration: %s, renew_interval: %s, max_connections: %d}",
		c.LeaseDuration, c.RenewInterval, c.MaxConnections)
}

// pgDSN is the DSN as a Secret: compared by value, printed as <secret>.
func pgDSN(c *PostgresConfig) Secret {
	if c == nil {
		return ""
	}
	return c.DSN
}
