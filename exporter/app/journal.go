package app

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/ingest"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// StoreFile is the name of the embedded store inside state_dir.
const StoreFile = "envtrack.db"

// Journal is the daemon's journal as its consumers see it, each through the interface
// it declares: the pushes and the tracker's commit (ingest), the sinks' cursors (sink),
// the queries (query), retention, and the daemon's own start-up and landing page. openJournal is the one place that knows the implementation (bbolt).
type Journal interface {
	ingest.Journal // Commit too, the tracker's (tracker.CommitFunc)
	sink.Journal
	query.SeqJournal
	retention.Journal
	query.Gaps // the windows not observed, on the timelines

	Gap(event.Gap) (*event.Gap, error)               // a source's blind window (tracking.Blind)
	Environments() (map[string]tracker.State, error) // the tracker's state at start
	CreatedAt() time.Time                            // tracking began: older evidence is history
	Stats() store.Stats                              // the landing page
	Close() error
}

// openJournal opens the journal in state_dir and registers its metrics with reg.
func openJournal(cfg *config.Config, logger log.Logger, now func() time.Time, reg prometheus.Registerer) (Journal, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.StateDir, StoreFile), store.Options{
		Logger: log.With(logger, "component", "store"), Now: now,
	})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(store.NewCollector(st))
	return st, nil
}
