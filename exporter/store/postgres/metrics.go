package postgres

import (
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/model/metric"
)

var (
	descJournalEvents  = metric.JournalEvents.NewDesc()
	descJournalLastSeq = metric.JournalLastSequence.NewDesc()
	descJournalSize    = metric.JournalSize.NewDesc()
)

// collector exposes the journal's self-monitoring metrics, as exporter/store's does;
// envtrack_journal_size_bytes is the size of envtrack's tables.
type collector struct{ s *Store }

// NewCollector returns a prometheus.Collector for s. Register it once per Store.
func NewCollector(s *Store) prometheus.Collector { return collector{s: s} }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJournalEvents
	ch <- descJournalLastSeq
	ch <- descJournalSize
	c.s.commitDuration.Describe(ch)
	c.s.commitEvents.Describe(ch)
	c.s.pruned.Describe(ch)
	c.s.staleCommits.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descJournalEvents, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(descJournalLastSeq, prometheus.GaugeValue, float64(st.LastSeq))
	ch <- prometheus.MustNewConstMetric(descJournalSize, prometheus.GaugeValue, float64(st.FileBytes))
	c.s.commitDuration.Collect(ch)
	c.s.commitEvents.Collect(ch)
	c.s.pruned.Collect(ch)
	c.s.staleCommits.Collect(ch)
}

func secretsOf(dsn string) *redact.Secrets { return redact.New(dsn, passwordOf(dsn)) }

// passwordOf is the password a DSN carries ("" when none or unparsable).
func passwordOf(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return c.Password
}
