package postgres

import (
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/store"
)

// NewCollector returns a prometheus.Collector for s, the journal metrics exporter/store
// exposes for bbolt; envtrack_journal_size_bytes is the size of envtrack's tables.
// Register it once per Store.
func NewCollector(s *Store) prometheus.Collector { return store.Collector(s.Stats, &s.metrics) }

func secretsOf(dsn string) *redact.Secrets { return redact.New(dsn, passwordOf(dsn)) }

// passwordOf is the password a DSN carries ("" when none or unparsable).
func passwordOf(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return c.Password
}
