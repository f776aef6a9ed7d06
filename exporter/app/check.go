package app

import (
	"time"

	"github.com/go-kit/log"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/server"
)

// Check makes every check of a loaded configuration (and of opts' web configuration,
// when given) that New makes with opts, without opening the store or starting anything:
// it builds the clients and sinks New builds and drops them. check-config calls it, so
// that whatever serve would reject, check-config rejects with the same message. The
// store is not looked at: it may be in use by the running daemon.
func Check(cfg *config.Config, opts Options) error {
	if err := server.CheckWebConfig(opts.WebConfigFile); err != nil {
		return err
	}
	g, err := newGeneration(cfg, log.NewNopLogger(), time.Now, nil, nil, opts.Sinks)
	if err != nil {
		return err
	}
	g.close()
	return nil
}
