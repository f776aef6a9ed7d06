package metric

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Type is a Prometheus metric type.
type Type string

// Metric types.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Def is one metric's definition.
type Def struct {
	Name string
	Help string
	Type Type
	// Labels are the variable (for build info: constant) label names, in the order the
	// collector declares them.
	Labels []string
	// Buckets are the classic histogram buckets.
	Buckets []float64
	// NativeHistogram: the histogram exposes native-histogram buckets too
	// (NativeHistogramBucketFactor, NativeHistogramMaxBucketNumber).
	NativeHistogram bool
	// Exemplar names the label of the exemplar attached to each observation ("": none).
	Exemplar string
	// Source is the package that registers the metric.
	Source string
}

// Bucket, Sum and Count name a histogram's series as PromQL selects them.
func (d Def) Bucket() string { return d.Name + "_bucket" }

// Sum names a histogram's _sum series.
func (d Def) Sum() string { return d.Name + "_sum" }

// Count names a histogram's _count series.
func (d Def) Count() string { return d.Name + "_count" }

func (d Def) want(t Type, vec bool) {
	if d.Type != t || vec != (len(d.Labels) > 0) {
		panic(fmt.Sprintf("metric: %s is a %s with labels %v", d.Name, d.Type, d.Labels))
	}
}

// The constructors below build the collector d defines and register it with reg through
// Register (so a collector built again after a reload keeps counting in the series
// registered first); with a nil reg they only build it (a collector registered by
// another, such as the store's).

// NewCounter builds the counter d defines (no labels).
func (d Def) NewCounter(reg prometheus.Registerer) prometheus.Counter {
	d.want(Counter, false)
	return in(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: d.Name, Help: d.Help}))
}

// NewCounterVec builds the counter vector d defines.
func (d Def) NewCounterVec(reg prometheus.Registerer) *prometheus.CounterVec {
	d.want(Counter, true)
	return in(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels))
}

// NewGauge builds the gauge d defines (no labels).
func (d Def) NewGauge(reg prometheus.Registerer) prometheus.Gauge {
	d.want(Gauge, false)
	return in(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}))
}

// NewGaugeVec builds the gauge vector d defines.
func (d Def) NewGaugeVec(reg prometheus.Registerer) *prometheus.GaugeVec {
	d.want(Gauge, true)
	return in(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, d.Labels))
}

// NewHistogram builds the histogram d defines (no labels).
func (d Def) NewHistogram(reg prometheus.Registerer) prometheus.Histogram {
	d.want(Histogram, false)
	return in(reg, prometheus.NewHistogram(d.histogramOpts()))
}

// NewHistogramVec builds the histogram vector d defines.
func (d Def) NewHistogramVec(reg prometheus.Registerer) *prometheus.HistogramVec {
	d.want(Histogram, true)
	return in(reg, prometheus.NewHistogramVec(d.histogramOpts(), d.Labels))
}

func (d Def) histogramOpts() prometheus.HistogramOpts {
	o := prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets}
	if d.NativeHistogram {
		o.NativeHistogramBucketFactor = NativeHistogramBucketFactor
		o.NativeHistogramMaxBucketNumber = NativeHistogramMaxBucketNumber
		o.NativeHistogramMinResetDuration = 0
	}
	return o
}

// NewDesc is the description of a metric computed at scrape time.
func (d Def) NewDesc() *prometheus.Desc {
	return prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
}

// Packages that register self-monitoring metrics (Def.Source).
const (
	sourceApp      = "exporter/app"
	sourceArgoCD   = "exporter/argocd"
	sourceProbe    = "exporter/probe"
	sourceSink     = "exporter/sink"
	sourceStore    = "exporter/store"
	sourceAnnotate = "annotate"
	sourceInfluxDB = "exporter/influxdb"
)

// exporter/app: the daemon. BuildInfo is registered by prometheus/common/version's
// collector, whose help text this repeats (the definition cannot build it).
var (
	BuildInfo = Def{Name: "envtrack_build_info", Type: Gauge, Source: sourceApp,
		Labels: []string{"branch", "goarch", "goos", "goversion", "revision", "tags", "version"},
		Help:   "A metric with a constant '1' value labeled by version, revision, branch, goversion from which envtrack was built, and the goos and goarch for the build."}
	ConfigLastReloadSuccessful = Def{Name: "envtrack_config_last_reload_successful", Type: Gauge, Source: sourceApp,
		Help: "Whether the last configuration reload attempt was successful."}
	ConfigLastReloadSuccessTimestamp = Def{Name: "envtrack_config_last_reload_success_timestamp_seconds", Type: Gauge, Source: sourceApp,
		Help: "Timestamp of the last successful configuration reload."}
	ArgoCDPolls = Def{Name: "envtrack_argocd_polls_total", Type: Counter, Labels: []string{"result"}, Source: sourceArgoCD,
		Help: "Argo CD poll cycles by result: success, error (nothing tracked), inconclusive (an empty list while environments are live)."}
	TrackerEvents = Def{Name: "envtrack_tracker_events_total", Type: Counter, Labels: []string{"event"}, Source: sourceApp,
		Help: "Lifecycle events the tracker appended to the journal, by event."}
	HTTPHandlerPanics = Def{Name: "envtrack_http_handler_panics_total", Type: Counter, Source: sourceApp,
		Help: "HTTP requests whose handler panicked: answered 500, logged, and the server kept serving."}
	Leader = Def{Name: "envtrack_leader", Type: Gauge, Source: sourceApp,
		Help: "1 on the replica that leads (it runs the Argo CD watch, the URL checks, the timeouts, the sinks and retention), 0 on the others; with the bbolt journal, always 1."}
	LeaderEpoch = Def{Name: "envtrack_leader_epoch", Type: Gauge, Source: sourceApp,
		Help: "Fencing epoch of the leader's lease as this replica last saw it in PostgreSQL: one more with every new leader (0 with the bbolt journal)."}
	// LabelValuesFolded is registered by exporter/labels, which bounds every label value
	// that comes from input.
	LabelValuesFolded = Def{Name: "envtrack_label_values_folded_total", Type: Counter, Labels: []string{"label"}, Source: "exporter/labels",
		Help: `Label values from input outside their closed set or the configured types, folded into "other", by label (type, reason, status).`}
)

// exporter/argocd: the Argo CD client. No label takes an Application name.
var (
	ArgoCDRequests = Def{Name: "envtrack_argocd_requests_total", Type: Counter, Labels: []string{"code"}, Source: sourceArgoCD,
		Help: "Argo CD requests (lists, and single Applications read for their history) by HTTP status code (\"error\": no complete answer: connection failure, timeout, cut body). The stream counts in envtrack_argocd_stream_connections_total."}
	ArgoCDRequestDuration = Def{Name: "envtrack_argocd_request_duration_seconds", Type: Histogram, Source: sourceArgoCD,
		Help:    "Duration of Argo CD requests (lists, and single Applications read for their history), until the whole answer was read.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}
	ArgoCDLastSuccess = Def{Name: "envtrack_argocd_last_success_timestamp_seconds", Type: Gauge, Source: sourceArgoCD,
		Help: "Unix time of the last successful Argo CD list."}
	ArgoCDApplications = Def{Name: "envtrack_argocd_applications", Type: Gauge, Source: sourceArgoCD,
		Help: "Applications in the last successful Argo CD list."}
	ArgoCDDecodeErrors = Def{Name: "envtrack_argocd_decode_errors_total", Type: Counter, Source: sourceArgoCD,
		Help: "Argo CD answers with status 200 that were not a usable application list or Application."}
	ArgoCDBadAnnotations = Def{Name: "envtrack_argocd_bad_annotations_total", Type: Counter, Source: sourceArgoCD,
		Help: "Application annotations envtrack could not parse (e.g. a requested-at that is not RFC 3339)."}
)

// exporter/argocd: the watch source (argocd.mode: watch) and its application stream.
var (
	ArgoCDMode = Def{Name: "envtrack_argocd_mode", Type: Gauge, Labels: []string{"mode"}, Source: sourceArgoCD,
		Help: "How envtrack follows Argo CD now: 1 for the active mode (watch: the application stream; poll: listing every poll_interval)."}
	ArgoCDStreamEvents = Def{Name: "envtrack_argocd_stream_events_total", Type: Counter, Labels: []string{"type"}, Source: sourceArgoCD,
		Help: "Events received on the Argo CD application stream, by type (ADDED, MODIFIED, DELETED)."}
	ArgoCDStreamConnections = Def{Name: "envtrack_argocd_stream_connections_total", Type: Counter, Labels: []string{"code"}, Source: sourceArgoCD,
		Help: "Argo CD application stream requests by HTTP status code (\"error\": no answer)."}
	ArgoCDStreamReadBytes = Def{Name: "envtrack_argocd_stream_read_bytes_total", Type: Counter, Source: sourceArgoCD,
		Help: "Bytes read from the Argo CD application stream."}
	ArgoCDWatchSessions = Def{Name: "envtrack_argocd_watch_sessions_total", Type: Counter, Source: sourceArgoCD,
		Help: "Watch sessions started (the names listed, then the stream): the first, reconnects and resyncs."}
	ArgoCDWatchEvaluations = Def{Name: "envtrack_argocd_watch_evaluations_total", Type: Counter, Source: sourceArgoCD,
		Help: "Evaluations of the Applications as the live stream shows them (every poll_interval in watch mode)."}
	ArgoCDStreamSessionEvents = Def{Name: "envtrack_argocd_stream_session_events", Type: Gauge, Source: sourceArgoCD,
		Help: "Application stream events handled since the current watch session began."}
	ArgoCDBlindSeconds = Def{Name: "envtrack_argocd_blind_seconds_total", Type: Counter, Source: sourceArgoCD,
		Help: "Seconds envtrack could not see Argo CD (the stream refused, broken, cut or stalled; lists failing): what changed then was not observed. Each window is a gap on the timelines and a region annotation."}
	ArgoCDConfirmations = Def{Name: "envtrack_argocd_confirmations_total", Type: Counter, Labels: []string{"result"}, Source: sourceArgoCD,
		Help: "Applications read one by one to confirm what a passed deadline (a provisioning timeout, a stuck termination) needs, by result: confirmed (the answer decides), failed (no answer: the decision waits), behind (the stream had not shown what the answer shows: it is reconnected)."}
)

// exporter/probe: the URL prober.
var (
	ProbeResults = Def{Name: "envtrack_probe_results_total", Type: Counter, Labels: []string{"result"}, Source: sourceProbe,
		Help: "URL probes of environments by result (success: answered with an expected status code)."}
	ProbeDuration = Def{Name: "envtrack_probe_duration_seconds", Type: Histogram, Source: sourceProbe,
		Help:    "Duration of URL probes of environments, successful or not.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}}
	ProbesInFlight = Def{Name: "envtrack_probes_in_flight", Type: Gauge, Source: sourceProbe,
		Help: "URL probes currently running."}
)

// exporter/sink: the delivery runners, by sink name.
var (
	SinkDelivered = Def{Name: "envtrack_sink_delivered_events_total", Type: Counter, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Journal events the sink accepted."}
	SinkDeliveryFailures = Def{Name: "envtrack_sink_delivery_failures_total", Type: Counter, Labels: []string{"sink", "retryable"}, Source: sourceSink,
		Help: "Failed delivery attempts; retryable=\"true\": transient, the batch is tried again with backoff; \"false\": rejected for good, its events are isolated and set aside."}
	SinkLag = Def{Name: "envtrack_sink_lag_events", Type: Gauge, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Journal events not yet delivered to the sink (last sequence number minus the sink's cursor)."}
	SinkSetAside = Def{Name: "envtrack_sink_set_aside_events_total", Type: Counter, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Events the sink rejected permanently, recorded in the store's set_aside bucket and skipped."}
	SinkPrunedUndelivered = Def{Name: "envtrack_sink_pruned_undelivered_events_total", Type: Counter, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Events the journal no longer held when the sink reached them (pruned before the sink was configured): lost for this sink. Retention keeps what a configured sink has not delivered."}
	SinkUndeliveredSetAside = Def{Name: "envtrack_sink_undelivered_set_aside_events_total", Type: Counter, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Events set aside for the sink because it failed to deliver them within retention.max_undelivered: recorded in the store's undelivered bucket, no longer retried, and no longer kept in the journal for this sink."}
	SinkLastSuccess = Def{Name: "envtrack_sink_last_success_timestamp_seconds", Type: Gauge, Labels: []string{"sink"}, Source: sourceSink,
		Help: "Unix time of the sink's last successful delivery (0: none since start)."}
	SinkDeliveryDuration = Def{Name: "envtrack_sink_delivery_duration_seconds", Type: Histogram, Labels: []string{"sink"}, Source: sourceSink,
		Help:    "Duration of delivery attempts (one Deliver call, successful or not).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}}
)

// exporter/influxdb: reads back from InfluxDB (the API's timelines and insights, the pages).
var (
	InfluxDBReadFailures = Def{Name: "envtrack_influxdb_read_failures_total", Type: Counter, Labels: []string{"language", "reason"}, Source: sourceInfluxDB,
		Help: "Reads from InfluxDB that failed, by query language (influxql, flux) and reason: unreachable (no answer; the API answers 503), refused (InfluxDB answered with an error: a bad token, Flux turned off, an unknown database; the API answers 502)."}
)

// exporter/store: the journal.
var (
	JournalEvents = Def{Name: "envtrack_journal_events", Type: Gauge, Source: sourceStore,
		Help: "Events currently held in the journal."}
	JournalLastSequence = Def{Name: "envtrack_journal_last_sequence", Type: Gauge, Source: sourceStore,
		Help: "Sequence number of the last event appended to the journal."}
	JournalSize = Def{Name: "envtrack_journal_size_bytes", Type: Gauge, Source: sourceStore,
		Help: "Size of the store file (journal, environments and cursors)."}
	JournalPruned = Def{Name: "envtrack_journal_pruned_events_total", Type: Counter, Source: sourceStore,
		Help: "Journal events deleted by retention."}
	StoreCommitDuration = Def{Name: "envtrack_store_commit_duration_seconds", Type: Histogram, Source: sourceStore,
		Help:    "Time taken by one store commit (tracker states and journal events in one fsync'd transaction).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}
	StoreStaleCommits = Def{Name: "envtrack_store_stale_commits_total", Type: Counter, Source: sourceStore,
		Help: "Commits to the shared journal (PostgreSQL) refused, storing nothing, because another replica had meanwhile written a state they were planned from: the tracker planned them again from the stored states."}
	StoreCommitEvents = Def{Name: "envtrack_store_commit_events", Type: Histogram, Source: sourceStore,
		Help:    "Events appended by one store commit: how many pushes and observations share one fsync (the group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11)}
)

// annotate: the Grafana annotation sink. No label takes an environment id.
var (
	GrafanaRequests = Def{Name: "envtrack_grafana_requests_total", Type: Counter, Labels: []string{"code"}, Source: sourceAnnotate,
		Help: "Grafana annotation API requests (creations and look-ups) by HTTP status code (\"error\": no answer: connection failure, timeout, dropped connection)."}
	GrafanaAuthFailures = Def{Name: "envtrack_grafana_auth_failures_total", Type: Counter, Source: sourceAnnotate,
		Help: "Grafana answers 401 or 403: the token is wrong, expired or revoked, or the service account lacks annotations:create. Annotations wait in the journal until it is fixed."}
	GrafanaAlreadyPosted = Def{Name: "envtrack_grafana_annotations_already_posted_total", Type: Counter, Source: sourceAnnotate,
		Help: "Events whose annotation the look-up after a start or a failed delivery found already in Grafana, and which were not posted again."}
	GrafanaDuplicatesDeleted = Def{Name: "envtrack_grafana_annotations_duplicates_deleted_total", Type: Counter, Source: sourceAnnotate,
		Help: "Duplicate annotations of one event deleted after the fact: a request already on the wire (a paused former leader's, or one of this process that timed out) that landed after the event was posted again."}
)
