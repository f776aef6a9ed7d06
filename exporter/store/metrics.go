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

// collector exposes a Store's self-monitoring metrics.
type collector struct{ s *Store }

// NewCollector returns a prometheus.Collector for s: the gauges envtrack_journal_events,
// envtrack_journal_last_sequence and envtrack_journal_size_bytes (read when scraped), the
// histograms envtrack_store_commit_duration_seconds and envtrack_store_commit_events (observed in Commit) and the counter
// envtrack_journal_pruned_events_total (counted in Prune). Register it once per Store.
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
