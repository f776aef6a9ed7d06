package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/model/metric"
)

var (
	descJournalEvents  = metric.JournalEvents.NewDesc()
	descJournalLastSeq = metric.JournalLastSequence.NewDesc()
	descJournalSize    = metric.JournalSize.NewDesc()
)

// Metrics are the instruments a journal driver observes itself (bbolt here, PostgreSQL
// in store/postgres): envtrack_store_commit_duration_seconds and
// envtrack_store_commit_events (in its commits), envtrack_journal_pruned_events_total
// (in Prune) and envtrack_store_stale_commits_total (commits refused as stale).
type Metrics struct {
	CommitDuration, CommitEvents prometheus.Histogram
	Pruned, StaleCommits         prometheus.Counter
}

// NewMetrics returns a driver's Metrics, unregistered (Collector exposes them).
func NewMetrics() Metrics {
	return Metrics{
		CommitDuration: metric.StoreCommitDuration.NewHistogram(nil),
		CommitEvents:   metric.StoreCommitEvents.NewHistogram(nil),
		Pruned:         metric.JournalPruned.NewCounter(nil),
		StaleCommits:   metric.StoreStaleCommits.NewCounter(nil),
	}
}

// collector exposes a journal's self-monitoring metrics.
type collector struct {
	stats func() Stats
	m     *Metrics
}

// Collector returns a prometheus.Collector of a journal's metrics: the gauges
// envtrack_journal_events, envtrack_journal_last_sequence and envtrack_journal_size_bytes,
// read from stats when scraped, and m. Register it once per journal.
func Collector(stats func() Stats, m *Metrics) prometheus.Collector {
	return collector{stats: stats, m: m}
}

// NewCollector returns the Collector of s.
func NewCollector(s *Store) prometheus.Collector { return Collector(s.Stats, &s.metrics) }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJournalEvents
	ch <- descJournalLastSeq
	ch <- descJournalSize
	c.m.CommitDuration.Describe(ch)
	c.m.CommitEvents.Describe(ch)
	c.m.Pruned.Describe(ch)
	c.m.StaleCommits.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(descJournalEvents, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(descJournalLastSeq, prometheus.GaugeValue, float64(st.LastSeq))
	ch <- prometheus.MustNewConstMetric(descJournalSize, prometheus.GaugeValue, float64(st.FileBytes))
	c.m.CommitDuration.Collect(ch)
	c.m.CommitEvents.Collect(ch)
	c.m.Pruned.Collect(ch)
	c.m.StaleCommits.Collect(ch)
}
