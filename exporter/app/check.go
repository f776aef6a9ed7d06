package app

import (
	"fmt"
	"time"

	"github.com/go-kit/log"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/server"
)

// Check makes every check of a loaded configuration (and of opts' web configuration,
// when given) that New makes with opts, without opening the store or starting anything:
// it builds the clients and sinks New builds and drops them. check-config calls it, so that whatever serve would
// reject, check-config rejects with the same message. The store is not looked at: it may
// be in use by the running daemon.
func Check(cfg *config.Config, opts Options) error {
	if err := server.CheckWebConfig(opts.WebConfigFile); err != nil {
		return err
	}
	src, err := newSources(cfg, log.NewNopLogger(), time.Now, nil, opts.Sinks)
	if err != nil {
		return err
	}
	src.close()
	return nil
}

// needsRestart names what a reload cannot apply: the listener, the store and the
// metrics registered at start. A reload that changes any of them is refused, and the
// previous configuration kept, rather than answering "reloaded" for a change that is not
// in force.
func needsRestart(old, cfg *config.Config) error {
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"listen_address", old.ListenAddress, cfg.ListenAddress},
		{"state_dir", old.StateDir, cfg.StateDir},
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
	return nil
}
