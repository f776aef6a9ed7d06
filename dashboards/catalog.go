package dashboards

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// The label values every test series of envtrack's own metrics carries.
const (
	testJob      = "envtrack"
	testInstance = "envtrack:9465"
)

// catalog defines every metric, in the order the handbook tells them: one function per
// family.
func (s *Set) catalog() []Metric {
	var out []Metric
	for _, family := range []func() []Metric{
		s.provisioningMetrics, s.lifecycleMetrics, s.daemonMetrics, s.argoCDMetrics,
		s.probeMetrics, s.sinkMetrics, s.journalMetrics, s.grafanaMetrics,
	} {
		out = append(out, family()...)
	}
	return out
}

// def is a lifecycle metric's definition under the set's namespace.
func (s *Set) def(l metric.Lifecycle) metric.Def { return l.In(s.opts.Namespace) }

// typeMatcher selects the provisioning dashboard's $type variable.
const typeMatcher = `type=~"$type"`

// burnRecords are the error ratios of the burn-rate alert, one per window, computed
// from the attempts counter total.
func (s *Set) burnRecords(total string) []Record {
	var out []Record
	for _, win := range s.burnWindows() {
		out = append(out, Record{
			Name: s.errorRatio(win),
			Expr: fmt.Sprintf(`sum(rate(%s{status="failed"}[%s])) / sum(rate(%s[%s]))`, total, dur(win), total, dur(win)),
			Help: fmt.Sprintf("Fraction of provisioning attempts that failed over %s (the error ratio of the success SLO).", dur(win)),
		})
	}
	return out
}

// percentiles are the histogram_quantile queries of metric's classic buckets for the
// quantiles qs, on the dashboard's $type.
func percentiles(metric string, qs ...float64) []Query {
	var out []Query
	for _, q := range qs {
		out = append(out, Query{
			Expr:   fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, num(q), metric, typeMatcher),
			Legend: "p" + strconv.Itoa(int(q*100)),
		})
	}
	return out
}

// healthPanel is a small panel of the provisioning dashboard's health row.
func healthPanel(row string) Panel {
	return Panel{Dashboard: DashboardProvisioning, Row: row, Width: 4, Height: 6}
}

// sel selects name on the dashboard's $instance, with more matchers.
func sel(name string, matchers ...string) string {
	return name + "{" + strings.Join(append([]string{`instance=~"$instance"`}, matchers...), ", ") + "}"
}

// provisioningMetrics returns the provisioning metrics of DESIGN §4: the duration histogram with its percentile records and alerts, attempts with the success-rate and burn-rate alerts, failures, the queue and the phases.
func (s *Set) provisioningMetrics() []Metric {
	o := s.opts
	w := dur(o.Window)
	hist := s.def(metric.ProvisioningDuration).Name
	total := s.def(metric.ProvisioningTotal).Name
	failures := s.def(metric.ProvisioningFailures).Name
	inProgress := s.def(metric.ProvisioningInProgress).Name
	phases := s.def(metric.Environments).Name
	typ := typeMatcher
	t := o.Targets
	p50, p95 := s.quantileRecord(0.5), s.quantileRecord(0.95)
	success := s.record("environment_provisioning_success", "ratio_rate"+w)
	burnRecords := s.burnRecords(total)
	return []Metric{
		s.life(metric.ProvisioningDuration, Metric{
			Records: []Record{
				{Name: p50, Expr: s.quantileExpr(0.5), Help: fmt.Sprintf("Median provisioning time over %s, all types (from the classic buckets).", w)},
				{Name: p95, Expr: s.quantileExpr(0.95), Help: fmt.Sprintf("95th percentile of provisioning time over %s, all types (from the classic buckets).", w)},
			},
			Alerts: []Alert{s.quantileAlert(0.5, "P50", t.ProvisioningP50, p50), s.quantileAlert(0.95, "P95", t.ProvisioningP95, p95)},
			Panels: []Panel{
				{
					Dashboard: DashboardProvisioning, Row: RowProvisioning, Slot: 10, Kind: TimeSeries, Width: 12, Height: 8,
					Title:       "Provisioning time percentiles",
					Description: fmt.Sprintf("p50, p95 and p99 of provisioning_started → ready, from the classic buckets. Dashed lines: the alert thresholds (p50 %s, p95 %s).", dur(time.Duration(t.ProvisioningP50.Alert)), dur(time.Duration(t.ProvisioningP95.Alert))),
					Unit:        "s", Queries: percentiles(hist, 0.5, 0.95, 0.99),
					Thresholds:     []Step{{Color: "green"}, {Value: ptr(time.Duration(t.ProvisioningP50.Alert).Seconds()), Color: "orange"}, {Value: ptr(time.Duration(t.ProvisioningP95.Alert).Seconds()), Color: "red"}},
					ThresholdStyle: "dashed",
				},
				{
					Dashboard: DashboardProvisioning, Row: RowDurations, Slot: 10, Kind: Heatmap, Width: 12, Height: 8,
					Title:       "Provisioning duration distribution",
					Description: "How many provisionings ended in each bucket (30s, 1m, 2m, 5m, 10m, more) per interval.",
					Unit:        "s",
					Queries:     []Query{{Expr: fmt.Sprintf(`sum by (le) (increase(%s_bucket{%s}[$__rate_interval]))`, hist, typ), Legend: "{{le}}", Heatmap: true}},
				},
				{
					Dashboard: DashboardProvisioning, Row: RowDeployments, Slot: 10, Kind: TimeSeries, Width: 24, Height: 9,
					Title: "Provisioning p95 and deployments",
					Description: fmt.Sprintf("The p95 of provisioning time (left axis) with the deployment markers of the InfluxDB %q measurement as bars on the right axis, capped at 1 so that each deployment cuts through the graph (1-hour buckets, by application).",
						o.DeploymentsMeasurement),
					Unit: "s",
					Queries: []Query{
						{Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, hist, typ), Legend: "p95"},
						{
							InfluxQL: fmt.Sprintf(`SELECT count("activity") FROM %q WHERE $timeFilter GROUP BY time(1h), "application" fill(none)`, o.DeploymentsMeasurement),
							Alias:    "deploy $tag_application", Overlay: true,
						},
					},
				},
			},
		}),
		s.life(metric.ProvisioningTotal, Metric{
			Records: append([]Record{{
				Name: success,
				Expr: fmt.Sprintf(`sum(rate(%s{status="success"}[%s])) / sum(rate(%s[%s]))`, total, w, total, w),
				Help: fmt.Sprintf("Fraction of provisioning attempts that succeeded over %s.", w),
			}}, burnRecords...),
			Alerts: []Alert{s.successRateAlert(success), s.burnRateAlert()},
			Panels: append(s.sloPanels(), Panel{
				Dashboard: DashboardProvisioning, Row: RowProvisioning, Slot: 20, Kind: GaugeKind, Width: 6, Height: 8,
				Title:       "Provisioning success rate",
				Description: fmt.Sprintf("Attempts that ended ready, of all that ended (ready or provisioning_failed), over the dashboard's time range. Red below the alert threshold (%s %%), green from the target (%s %%).", num(t.SuccessRate.Alert), num(t.SuccessRate.Target)),
				Unit:        "percentunit", Min: ptr(0), Max: ptr(1),
				Queries: []Query{{
					Expr:   fmt.Sprintf(`sum(increase(%s{status="success", %s}[$__range])) / sum(increase(%s{%s}[$__range]))`, total, typ, total, typ),
					Legend: "success rate", Instant: true,
				}},
				Thresholds: []Step{{Color: "red"}, {Value: ptr(t.SuccessRate.Alert / 100), Color: "orange"}, {Value: ptr(t.SuccessRate.Target / 100), Color: "green"}},
			}),
		}),
		s.life(metric.ProvisioningFailures, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowSLOs, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
				Title:       "Failures by class and type",
				Description: "provisioning_failed per interval by class: user (what was asked cannot work; a success of the platform, counted on its own) and platform (it could not be provided; what the success SLO counts), and type. The class and the matcher that decided it are on each failure's timeline.",
				Unit:        "none", Stack: true, Bars: true,
				Queries: []Query{{
					Expr:   fmt.Sprintf(`sum by (class, type) (increase(%s{%s}[$__rate_interval]))`, failures, typ),
					Legend: "{{class}} {{type}}",
				}},
			}, {
				Dashboard: DashboardProvisioning, Row: RowOutcomes, Slot: 10, Kind: PieChart, Width: 8, Height: 8,
				Title:       "Failed provisions by reason",
				Description: "provisioning_failed over the dashboard's time range by reason: timeout, sync_failed, degraded, url_unreachable, deleted_before_ready.",
				Queries: []Query{{
					Expr:   fmt.Sprintf(`sum by (reason) (increase(%s{%s}[$__range]))`, failures, typ),
					Legend: "{{reason}}", Instant: true,
				}},
			}},
		}),
		s.life(metric.ProvisioningInProgress, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowProvisioning, Slot: 30, Kind: Stat, Width: 6, Height: 8,
				Title:       "Current provisioning queue",
				Description: "Environments between provisioning_started and ready (or failure) now.",
				Unit:        "none",
				Queries:     []Query{{Expr: fmt.Sprintf(`sum(%s{%s})`, inProgress, typ), Legend: "provisioning"}},
				Thresholds:  []Step{{Color: "green"}},
			}},
		}),
		s.life(metric.Environments, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowOutcomes, Slot: 20, Kind: TimeSeries, Width: 16, Height: 8,
				Title:       "Environments by phase",
				Description: "Tracked environments by phase (requested, provisioning, ready, failed, degraded, terminating, terminated), stacked.",
				Unit:        "none", Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (phase) (%s{%s})`, phases, typ), Legend: "{{phase}}"}},
			}},
		}),
	}
}

// lifecycleMetrics returns the other lifecycle metrics: termination durations, lifecycle events and deployments.
func (s *Set) lifecycleMetrics() []Metric {
	return []Metric{
		s.life(metric.TerminationDuration, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowDurations, Slot: 20, Kind: TimeSeries, Width: 12, Height: 8,
				Title:       "Termination time percentiles",
				Description: "p50 and p95 of termination_started → terminated.",
				Unit:        "s", Queries: percentiles(s.def(metric.TerminationDuration).Name, 0.5, 0.95),
			}},
		}),
		s.life(metric.TerminationsStuck, Metric{
			Alerts: []Alert{s.stuckAlert()},
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowOutcomes, Slot: 30, Kind: TimeSeries, Width: 24, Height: 6,
				Title:       "Stuck terminations",
				Description: "Environments terminating for longer than readiness.termination_timeout (their Argo CD Application is not gone: finalizers that never finish), by type. The landing page lists them.",
				Unit:        "none",
				Queries:     []Query{{Expr: fmt.Sprintf(`max by (type) (%s)`, s.def(metric.TerminationsStuck).Name), Legend: "{{type}}"}},
			}},
		}),
		s.life(metric.LifecycleEvents, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowDeployments, Slot: 30, Kind: TimeSeries, Width: 12, Height: 8,
				Title:       "Lifecycle events",
				Description: "Lifecycle events per interval, by event.",
				Unit:        "none", Bars: true, Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (event) (increase(%s[$__rate_interval]))`, s.def(metric.LifecycleEvents).Name), Legend: "{{event}}"}},
			}},
		}),
		s.life(metric.Deployments, Metric{
			Panels: []Panel{{
				Dashboard: DashboardProvisioning, Row: RowDeployments, Slot: 20, Kind: TimeSeries, Width: 12, Height: 8,
				Title:       "Deployments by status",
				Description: "Deployment markers (001) and Argo CD deployed events per interval, by status.",
				Unit:        "none", Bars: true, Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (status) (increase(%s[$__rate_interval]))`, s.def(metric.Deployments).Name), Legend: "{{status}}"}},
			}},
		}),
	}
}

// daemonMetrics returns envtrack's own health (DESIGN §4 self-monitoring): up, build info, configuration reloads and Argo CD poll cycles.
func (s *Set) daemonMetrics() []Metric {
	o := s.opts
	return []Metric{
		{
			ID: "up", Def: metric.Def{Name: "up", Type: Gauge, Labels: []string{"instance", "job"},
				Help:   "1 when Prometheus scraped the target successfully, 0 when the scrape failed (recorded by Prometheus).",
				Source: SourcePrometheus},
			Alerts: []Alert{s.downAlert()},
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 10, Stat, "envtrack up"
					p.Description = "Whether Prometheus can scrape envtrack (1 up, 0 down), by instance."
					p.Unit = "none"
					p.Queries = []Query{{Expr: fmt.Sprintf(`up{job=~%q}`, o.Job), Legend: "{{instance}}"}}
					p.Thresholds = []Step{{Color: "red"}, {Value: ptr(1), Color: "green"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowOverview, Slot: 10, Kind: Stat, Width: 6, Height: 5,
					Title: "Up", Description: "Whether Prometheus can scrape envtrack (1 up, 0 down), by instance.", Unit: "none",
					Queries:    []Query{{Expr: fmt.Sprintf(`up{job=~%q, instance=~"$instance"}`, o.Job), Legend: "{{instance}}"}},
					Thresholds: []Step{{Color: "red"}, {Value: ptr(1), Color: "green"}},
				},
			},
		},
		self(metric.BuildInfo, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowOverview, Slot: 40, Kind: Stat, Width: 6, Height: 5,
				Title: "Version", Description: "The running envtrack version, by instance.",
				Queries:    []Query{{Expr: sel(metric.BuildInfo.Name), Legend: "{{version}} ({{revision}})", Instant: true}},
				TextMode:   "name",
				Thresholds: []Step{{Color: "blue"}},
			}},
		}),
		self(metric.ConfigLastReloadSuccessful, Metric{
			Alerts: []Alert{s.reloadAlert()},
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowOverview, Slot: 20, Kind: Stat, Width: 6, Height: 5,
				Title: "Last reload successful", Description: "0 when the last configuration reload (SIGHUP or POST /-/reload) was rejected and the previous configuration is still running.",
				Unit: "none", Queries: []Query{{Expr: sel(metric.ConfigLastReloadSuccessful.Name), Legend: "{{instance}}"}},
				Thresholds: []Step{{Color: "red"}, {Value: ptr(1), Color: "green"}},
			}},
		}),
		self(metric.ConfigLastReloadSuccessTimestamp, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowOverview, Slot: 30, Kind: Stat, Width: 6, Height: 5,
				Title: "Configuration age", Description: "Time since the configuration was last loaded successfully.",
				Unit: "s", Queries: []Query{{Expr: fmt.Sprintf(`time() - %s`, sel(metric.ConfigLastReloadSuccessTimestamp.Name)), Legend: "{{instance}}"}},
				Thresholds: []Step{{Color: "blue"}},
			}},
		}),
		self(metric.ArgoCDPolls, Metric{
			Alerts: []Alert{s.pollsAlert()},
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 20, TimeSeries, "Argo CD poll errors"
					p.Description = "Argo CD polls per second that failed (error) or listed nothing while environments are live (inconclusive)."
					p.Unit = "ops"
					p.Queries = []Query{{Expr: fmt.Sprintf(`sum by (result) (rate(%s{result!="success"}[$__rate_interval]))`, metric.ArgoCDPolls.Name), Legend: "{{result}}"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 10, Kind: TimeSeries, Width: 8, Height: 8,
					Title: "Polls by result", Description: "Argo CD poll cycles per second by result.", Unit: "ops", Stack: true,
					Queries: []Query{{Expr: fmt.Sprintf(`sum by (result) (rate(%s[$__rate_interval]))`, sel(metric.ArgoCDPolls.Name)), Legend: "{{result}}"}},
				},
			},
		}),
	}
}

// argoCDMetrics returns the Argo CD client's metrics.
func (s *Set) argoCDMetrics() []Metric {
	return []Metric{
		self(metric.ArgoCDRequests, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Requests by status code", Description: "Argo CD list requests per second by HTTP status code (error: no complete answer).", Unit: "reqps", Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (code) (rate(%s[$__rate_interval]))`, sel(metric.ArgoCDRequests.Name)), Legend: "{{code}}"}},
			}},
		}),
		self(metric.ArgoCDRequestDuration, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Request duration", Description: "p50 and p95 of Argo CD list requests.", Unit: "s",
				Queries: []Query{
					{Expr: fmt.Sprintf(`histogram_quantile(0.5, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.ArgoCDRequestDuration.Bucket())), Legend: "p50"},
					{Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.ArgoCDRequestDuration.Bucket())), Legend: "p95"},
				},
			}},
		}),
		self(metric.ArgoCDLastSuccess, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 40, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Time since the last successful list", Description: "Seconds since Argo CD last answered a complete application list.", Unit: "s",
				Queries: []Query{{Expr: fmt.Sprintf(`time() - %s`, sel(metric.ArgoCDLastSuccess.Name)), Legend: "{{instance}}"}},
			}},
		}),
		self(metric.ArgoCDApplications, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 50, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Applications listed", Description: "Applications in the last successful Argo CD list (after selector and projects).", Unit: "none",
				Queries: []Query{{Expr: sel(metric.ArgoCDApplications.Name), Legend: "{{instance}}"}},
			}},
		}),
		self(metric.ArgoCDDecodeErrors, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 60, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Unusable answers and annotations", Description: "Argo CD answers that were not a usable list, and Application annotations envtrack could not parse, per interval.", Unit: "none",
				Queries: []Query{
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.ArgoCDDecodeErrors.Name)), Legend: "undecodable answers"},
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.ArgoCDBadAnnotations.Name)), Legend: "bad annotations"},
				},
			}},
		}),
		self(metric.ArgoCDBadAnnotations, Metric{}),
		self(metric.ArgoCDMode, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 70, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Watch or poll", Description: "1 for the mode envtrack follows Argo CD in: watch (the application stream) or poll (a fall-back when the stream is refused or buffered, or argocd.mode: poll).", Unit: "none",
				Queries: []Query{{Expr: fmt.Sprintf(`max by (mode) (%s)`, sel(metric.ArgoCDMode.Name)), Legend: "{{mode}}"}},
			}},
		}),
		self(metric.ArgoCDStreamEvents, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 80, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Stream events", Description: "Application stream events per second by type; ADDED bursts are the snapshots of new sessions.", Unit: "ops", Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (type) (rate(%s[$__rate_interval]))`, sel(metric.ArgoCDStreamEvents.Name)), Legend: "{{type}}"}},
			}},
		}),
		self(metric.ArgoCDStreamConnections, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 85, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Stream connections by status code", Description: "Application stream requests per interval by HTTP status code (error: no answer); 404 or 501 mean the stream is unavailable and envtrack polls.", Unit: "none", Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (code) (increase(%s[$__rate_interval]))`, sel(metric.ArgoCDStreamConnections.Name)), Legend: "{{code}}"}},
			}},
		}),
		self(metric.ArgoCDStreamReadBytes, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 87, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Stream bytes read", Description: "Bytes per second read from the application stream (the lists' bytes are not included).", Unit: "Bps",
				Queries: []Query{{Expr: fmt.Sprintf(`sum(rate(%s[$__rate_interval]))`, sel(metric.ArgoCDStreamReadBytes.Name)), Legend: "read"}},
			}},
		}),
		self(metric.ArgoCDWatchSessions, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 90, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Watch sessions", Description: "New watch sessions (the names listed, then the stream) per interval: one per resync_interval is normal, more are reconnects after a broken stream.", Unit: "none",
				Queries: []Query{{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.ArgoCDWatchSessions.Name)), Legend: "sessions"}},
			}},
		}),
		self(metric.ArgoCDWatchEvaluations, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 95, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Watch evaluations and session events", Description: "Evaluations of the stream's view per interval (one per poll_interval while the stream is live; none while it is down), and the events handled in the current session.", Unit: "none",
				Queries: []Query{
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.ArgoCDWatchEvaluations.Name)), Legend: "evaluations"},
					{Expr: fmt.Sprintf(`sum(%s)`, sel(metric.ArgoCDStreamSessionEvents.Name)), Legend: "session events"},
				},
			}},
		}),
		self(metric.ArgoCDStreamSessionEvents, Metric{}),
		self(metric.ArgoCDBlindSeconds, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowArgoCD, Slot: 97, Kind: TimeSeries, Width: 24, Height: 8,
				Title: "Not observed", Description: "Seconds per interval in which envtrack could not see Argo CD (the stream refused, broken, cut or stalled; lists failing), and the confirmations of passed deadlines by result. What changed in such a window is not observed: the windows are region annotations (tag gap) and gaps on the timelines.", Unit: "s",
				Queries: []Query{
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.ArgoCDBlindSeconds.Name)), Legend: "blind seconds"},
					{Expr: fmt.Sprintf(`sum by (result) (increase(%s[$__rate_interval]))`, sel(metric.ArgoCDConfirmations.Name)), Legend: "confirmations {{result}}"},
				},
			}},
		}),
		self(metric.ArgoCDConfirmations, Metric{}),
	}
}

// probeMetrics returns the URL prober's metrics.
func (s *Set) probeMetrics() []Metric {
	return []Metric{
		self(metric.ProbeResults, Metric{
			Alerts: []Alert{s.probesAlert()},
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 50, TimeSeries, "URL probe failures"
					p.Description = "Fraction of environment URL probes that failed."
					p.Unit, p.Min, p.Max = "percentunit", ptr(0), ptr(1)
					p.Queries = []Query{{Expr: fmt.Sprintf(`sum(rate(%s{result="failure"}[$__rate_interval])) / sum(rate(%s[$__rate_interval]))`, metric.ProbeResults.Name, metric.ProbeResults.Name), Legend: "failed"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowProbes, Slot: 10, Kind: TimeSeries, Width: 8, Height: 8,
					Title: "Probes by result", Description: "URL probes per second by result.", Unit: "ops", Stack: true,
					Queries: []Query{{Expr: fmt.Sprintf(`sum by (result) (rate(%s[$__rate_interval]))`, sel(metric.ProbeResults.Name)), Legend: "{{result}}"}},
				},
			},
		}),
		self(metric.ProbeDuration, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowProbes, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Probe duration", Description: "p50 and p95 of URL probes.", Unit: "s",
				Queries: []Query{
					{Expr: fmt.Sprintf(`histogram_quantile(0.5, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.ProbeDuration.Bucket())), Legend: "p50"},
					{Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.ProbeDuration.Bucket())), Legend: "p95"},
				},
			}},
		}),
		self(metric.ProbesInFlight, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowProbes, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Probes in flight", Description: "URL probes running now (bounded by readiness.url.concurrency).", Unit: "none",
				Queries: []Query{{Expr: sel(metric.ProbesInFlight.Name), Legend: "{{instance}}"}},
			}},
		}),
	}
}

// sinkMetrics returns the delivery runners' metrics, by sink.
func (s *Set) sinkMetrics() []Metric {
	return []Metric{
		self(metric.SinkDelivered, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowSinks, Slot: 10, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Delivered events", Description: "Journal events each sink accepted, per second.", Unit: "ops",
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (sink) (rate(%s[$__rate_interval]))`, sel(metric.SinkDelivered.Name)), Legend: "{{sink}}"}},
			}},
		}),
		self(metric.SinkDeliveryFailures, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowSinks, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Delivery failures", Description: "Failed delivery attempts per second, by sink and whether they are retried.", Unit: "ops",
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (sink, retryable) (rate(%s[$__rate_interval]))`, sel(metric.SinkDeliveryFailures.Name)), Legend: "{{sink}} retryable={{retryable}}"}},
			}},
		}),
		self(metric.SinkLag, Metric{
			Alerts: []Alert{s.lagAlert()},
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 30, TimeSeries, "Sink lag"
					p.Description = "Journal events not yet delivered, by sink."
					p.Unit = "none"
					p.Queries = []Query{{Expr: fmt.Sprintf(`max by (sink) (%s)`, metric.SinkLag.Name), Legend: "{{sink}}"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowSinks, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
					Title: "Lag", Description: "Journal events not yet delivered, by sink.", Unit: "none",
					Queries: []Query{{Expr: fmt.Sprintf(`max by (sink) (%s)`, sel(metric.SinkLag.Name)), Legend: "{{sink}}"}},
				},
			},
		}),
		self(metric.SinkSetAside, Metric{
			Alerts: []Alert{s.setAsideAlert()},
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 40, TimeSeries, "Events set aside"
					p.Description = "Events a sink rejected for good (set aside, not retried), per interval."
					p.Unit, p.Bars = "none", true
					p.Queries = []Query{{Expr: fmt.Sprintf(`sum by (sink) (increase(%s[$__rate_interval]))`, metric.SinkSetAside.Name), Legend: "{{sink}}"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowSinks, Slot: 40, Kind: TimeSeries, Width: 8, Height: 8,
					Title: "Events set aside and lost", Description: "Per interval: events a sink rejected for good (set aside), events it failed to take within retention.max_undelivered (set aside undelivered), and events the journal no longer held when the sink reached them (lost for that sink).", Unit: "none", Bars: true,
					Queries: []Query{
						{Expr: fmt.Sprintf(`sum by (sink) (increase(%s[$__rate_interval]))`, sel(metric.SinkSetAside.Name)), Legend: "{{sink}} set aside"},
						{Expr: fmt.Sprintf(`sum by (sink) (increase(%s[$__rate_interval]))`, sel(metric.SinkUndeliveredSetAside.Name)), Legend: "{{sink}} set aside undelivered"},
						{Expr: fmt.Sprintf(`sum by (sink) (increase(%s[$__rate_interval]))`, sel(metric.SinkPrunedUndelivered.Name)), Legend: "{{sink}} pruned undelivered"},
					},
				},
			},
		}),
		self(metric.SinkUndeliveredSetAside, Metric{Alerts: []Alert{s.undeliveredAlert()}}),
		self(metric.SinkPrunedUndelivered, Metric{}),
		self(metric.SinkLastSuccess, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowSinks, Slot: 50, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Time since the last delivery", Description: "Seconds since each sink last delivered a batch (since start: none yet).", Unit: "s",
				Queries: []Query{{Expr: fmt.Sprintf(`time() - (%s > 0)`, sel(metric.SinkLastSuccess.Name)), Legend: "{{sink}}"}},
			}},
		}),
		self(metric.InfluxDBReadFailures, Metric{
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 70, TimeSeries, "InfluxDB read failures"
					p.Width = 24 // a line of its own: the six above fill theirs
					p.Description = "Reads from InfluxDB (timelines, insights, pages) that failed, per interval: refused (the API answers 502 with InfluxDB's reason: a bad token, Flux turned off, an unknown database) or unreachable (503)."
					p.Unit, p.Bars = "none", true
					p.Queries = []Query{{Expr: fmt.Sprintf(`sum by (reason) (increase(%s[$__rate_interval]))`, metric.InfluxDBReadFailures.Name), Legend: "{{reason}}"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowSinks, Slot: 70, Kind: TimeSeries, Width: 24, Height: 8,
					Title: "InfluxDB read failures", Description: "Failed reads from InfluxDB per interval, by query language and reason (refused: 502 with InfluxDB's reason; unreachable: 503). The log line of the first one, and envtrack's start-up line, say how to fix a refusal.", Unit: "none", Bars: true,
					Queries: []Query{{Expr: fmt.Sprintf(`sum by (language, reason) (increase(%s[$__rate_interval]))`, sel(metric.InfluxDBReadFailures.Name)), Legend: "{{language}} {{reason}}"}},
				},
			},
		}),
		self(metric.SinkDeliveryDuration, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowSinks, Slot: 60, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Delivery duration", Description: "p95 of delivery attempts, by sink.", Unit: "s",
				Queries: []Query{{Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (sink, le) (rate(%s[$__rate_interval])))`, sel(metric.SinkDeliveryDuration.Bucket())), Legend: "{{sink}} p95"}},
			}},
		}),
	}
}

// journalMetrics returns the journal's and the tracker's metrics.
func (s *Set) journalMetrics() []Metric {
	return []Metric{
		self(metric.JournalEvents, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 10, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Journal events", Description: "Events held in the journal (journal.retention prunes the oldest).", Unit: "none",
				Queries: []Query{{Expr: sel(metric.JournalEvents.Name), Legend: "{{instance}}"}},
			}},
		}),
		self(metric.JournalLastSequence, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Journal appends", Description: "Events appended to the journal per second (the growth of the last sequence number).", Unit: "ops",
				Queries: []Query{{Expr: fmt.Sprintf(`deriv(%s[$__rate_interval])`, sel(metric.JournalLastSequence.Name)), Legend: "{{instance}}"}},
			}},
		}),
		self(metric.JournalSize, Metric{
			Panels: []Panel{
				func() Panel {
					p := healthPanel(RowHealth)
					p.Slot, p.Kind, p.Title = 60, TimeSeries, "Journal size"
					p.Description = "Size of the store file (journal, environments and cursors)."
					p.Unit = "bytes"
					p.Queries = []Query{{Expr: metric.JournalSize.Name, Legend: "{{instance}}"}}
					return p
				}(),
				{
					Dashboard: DashboardHealth, Row: RowJournal, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
					Title: "Store size", Description: "Size of the store file (journal, environments and cursors).", Unit: "bytes",
					Queries: []Query{{Expr: sel(metric.JournalSize.Name), Legend: "{{instance}}"}},
				},
			},
		}),
		self(metric.JournalPruned, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 40, Kind: TimeSeries, Width: 6, Height: 8,
				Title: "Events pruned by retention", Description: "Journal events deleted by journal.retention, per interval.", Unit: "none", Bars: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.JournalPruned.Name)), Legend: "pruned"}},
			}},
		}),
		self(metric.StoreCommitDuration, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 50, Kind: TimeSeries, Width: 6, Height: 8,
				Title: "Commit duration", Description: "p50 and p95 of store commits (one fsync'd transaction each).", Unit: "s",
				Queries: []Query{
					{Expr: fmt.Sprintf(`histogram_quantile(0.5, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.StoreCommitDuration.Bucket())), Legend: "p50"},
					{Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s[$__rate_interval])))`, sel(metric.StoreCommitDuration.Bucket())), Legend: "p95"},
				},
			}},
		}),
		self(metric.StoreCommitEvents, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 55, Kind: TimeSeries, Width: 6, Height: 8,
				Title: "Events per commit", Description: "Mean events appended by one store commit: how many pushes share one fsync (the group commit).", Unit: "none",
				Queries: []Query{{Expr: fmt.Sprintf(`sum(rate(%s[$__rate_interval])) / sum(rate(%s[$__rate_interval]))`,
					sel(metric.StoreCommitEvents.Sum()), sel(metric.StoreCommitEvents.Count())), Legend: "events per commit"}},
			}},
		}),
		self(metric.TrackerEvents, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 60, Kind: TimeSeries, Width: 6, Height: 8,
				Title: "Tracker events", Description: "Lifecycle events the tracker appended to the journal per interval, by event.", Unit: "none", Bars: true, Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (event) (increase(%s[$__rate_interval]))`, sel(metric.TrackerEvents.Name)), Legend: "{{event}}"}},
			}},
		}),
		self(metric.HTTPHandlerPanics, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 70, Kind: TimeSeries, Width: 12, Height: 6,
				Title: "HTTP handler panics", Description: "Requests whose handler panicked per interval (a corrupt store page, a bug): each was answered 500 and logged with its stack.", Unit: "none", Bars: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.HTTPHandlerPanics.Name)), Legend: "panics"}},
			}},
		}),
		self(metric.Leader, Metric{
			Alerts: []Alert{s.noLeaderAlert()},
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 80, Kind: TimeSeries, Width: 8, Height: 6,
				Title: "Leader", Description: "1 on the replica that leads (it runs the Argo CD watch, the URL checks, the timeouts, the sinks and retention); with PostgreSQL, exactly one replica at a time, and the line moves at a failover. With bbolt, always 1.",
				Unit: "none", Stack: true,
				Queries: []Query{{Expr: sel(metric.Leader.Name), Legend: "{{instance}}"}},
			}},
		}),
		self(metric.LeaderEpoch, Metric{
			Alerts: []Alert{s.leaseFlappingAlert()},
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 85, Kind: TimeSeries, Width: 8, Height: 6,
				Title: "Leader epoch", Description: "The lease's fencing epoch: one step per new leader. Steps close together are a lease that flaps (a leader that cannot renew in time).",
				Unit: "none", Queries: []Query{{Expr: fmt.Sprintf(`max without (instance) (%s)`, sel(metric.LeaderEpoch.Name)), Legend: "epoch"}},
			}},
		}),
		self(metric.StoreStaleCommits, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 90, Kind: TimeSeries, Width: 8, Height: 6,
				Title: "Commits planned again", Description: "Commits to the shared journal refused because another replica had written the same environment, or the same Idempotency-Key, meanwhile; each was planned again from the stored state. Always 0 with bbolt.",
				Unit: "none", Bars: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.StoreStaleCommits.Name)), Legend: "commits"}},
			}},
		}),
		self(metric.LabelValuesFolded, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowJournal, Slot: 75, Kind: TimeSeries, Width: 12, Height: 6,
				Title: "Label values folded into other", Description: "Pushed types, reasons and statuses outside their closed set or the configured types, per interval, by label: each was counted under \"other\" (the journal keeps the raw value; the log names each new one once). A steady rise is a CI script sending a typo or a new type to add to types:.", Unit: "none", Bars: true, Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (label) (increase(%s[$__rate_interval]))`, sel(metric.LabelValuesFolded.Name)), Legend: "{{label}}"}},
			}},
		}),
	}
}

// grafanaMetrics returns the Grafana annotation sink's metrics.
func (s *Set) grafanaMetrics() []Metric {
	return []Metric{
		self(metric.GrafanaRequests, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowGrafana, Slot: 10, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Annotation requests by status code", Description: "Grafana annotation API requests per second by HTTP status code (error: no answer).", Unit: "reqps", Stack: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum by (code) (rate(%s[$__rate_interval]))`, sel(metric.GrafanaRequests.Name)), Legend: "{{code}}"}},
			}},
		}),
		self(metric.GrafanaAuthFailures, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowGrafana, Slot: 20, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Authentication failures", Description: "Grafana answers 401 or 403 per interval: the token is wrong, expired or lacks annotations:create.", Unit: "none", Bars: true,
				Queries: []Query{{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.GrafanaAuthFailures.Name)), Legend: "401/403"}},
			}},
		}),
		self(metric.GrafanaAlreadyPosted, Metric{
			Panels: []Panel{{
				Dashboard: DashboardHealth, Row: RowGrafana, Slot: 30, Kind: TimeSeries, Width: 8, Height: 8,
				Title: "Annotations found already posted", Description: "Events whose annotation was found in Grafana after a restart or a failed delivery, and not posted twice; and duplicates deleted after the fact (a request already on the wire, of a paused former leader or one that timed out, that landed after the event was posted again).", Unit: "none", Bars: true,
				Queries: []Query{
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.GrafanaAlreadyPosted.Name)), Legend: "already posted"},
					{Expr: fmt.Sprintf(`sum(increase(%s[$__rate_interval]))`, sel(metric.GrafanaDuplicatesDeleted.Name)), Legend: "duplicates deleted"},
				},
			}},
		}),
		// Drawn in the panel above.
		self(metric.GrafanaDuplicatesDeleted, Metric{}),
	}
}

// self is a self-monitoring metric: its name, help, type, labels, buckets and source are
// its definition in model/metric (which the collectors are built from); m adds the panels and
// alerts.
func self(d metric.Def, m Metric) Metric {
	m.Def, m.ID = d, d.Name
	return m
}

// life is a lifecycle metric of DESIGN §4: its definition in model/metric under the set's
// namespace (which exporter/prom builds its collectors from), keyed by its ID; m adds the
// panels, alerts and recording rules.
func (s *Set) life(l metric.Lifecycle, m Metric) Metric {
	m = self(s.def(l), m)
	m.ID = l.ID
	return m
}

// record names a recording rule: <namespace>:<metric>:<operation>.
func (s *Set) record(name, op string) string { return s.opts.Namespace + ":" + name + ":" + op }

func (s *Set) quantileRecord(q float64) string {
	return s.record(metric.ProvisioningDuration.ID, fmt.Sprintf("p%d_rate%s", int(q*100), dur(s.opts.Window)))
}

func (s *Set) quantileExpr(q float64) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(%s[%s])))`, num(q), s.def(metric.ProvisioningDuration).Bucket(), dur(s.opts.Window))
}

func (s *Set) errorRatio(w time.Duration) string {
	return s.record("environment_provisioning_errors", "ratio_rate"+dur(w))
}

// burnWindows are the distinct windows of the burn-rate pairs, shortest first.
func (s *Set) burnWindows() []time.Duration {
	seen := map[time.Duration]bool{}
	var out []time.Duration
	for _, b := range s.opts.BurnRates {
		for _, w := range []time.Duration{b.Short, b.Long} {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	sortDurations(out)
	return out
}

func (s *Set) runbook(alert string) string { return s.opts.Handbook + "#" + Anchor(alert) }

// quantileAlert is the P50 or P95 alert. histogram_quantile cannot return more than the
// highest finite bucket (a quantile in the +Inf bucket yields that bound), so a threshold
// equal to it is compared with >=; Validate rejects thresholds above it.
func (s *Set) quantileAlert(q float64, label string, t DurationTarget, record string) Alert {
	o := s.opts
	w := dur(o.Window)
	alert, target := time.Duration(t.Alert), time.Duration(t.Target)
	threshold := alert.Seconds()
	top := metric.ProvisioningBuckets[len(metric.ProvisioningBuckets)-1]
	op, opWords, note := ">", "above", ""
	if threshold >= top {
		op, opWords = ">=", "at or above"
		note = fmt.Sprintf(" The classic buckets end at %s, so %s means %s or more.", seconds(top), seconds(top), seconds(top))
	}
	name := "EnvironmentProvisioning" + label + "Slow"
	hist := s.def(metric.ProvisioningDuration)
	what := map[string]string{"P50": "median", "P95": "95th percentile of"}[label]
	return Alert{
		Name: name, Group: GroupProvisioning, Severity: SeverityWarning, For: o.For,
		Expr:      fmt.Sprintf(`%s %s %s and on () sum(increase(%s[%s])) > 0`, record, op, num(threshold), hist.Count(), w),
		Threshold: fmt.Sprintf("%s of provisioning time over %s %s %s for %s (target %s)", strings.ToLower(label), w, op, dur(alert), dur(o.For), dur(target)),
		Summary:   fmt.Sprintf("Environment provisioning is slow: %s %s %s.", strings.ToLower(label), op, dur(alert)),
		Description: fmt.Sprintf("The %s provisioning time (provisioning_started to ready) over the last %s is {{ $value | humanizeDuration }}, %s the alert threshold of %s (target %s).%s",
			what, w, opWords, dur(alert), dur(target), note),
		Meaning: fmt.Sprintf("Over the last %s, the %s provisioning time of the environments that became ready is %s %s (000's alert threshold; the target is %s). "+
			"Developers wait longer for their environments. Only successful provisionings are measured (failures are in the success rate); without any in the window the alert stays silent.",
			w, what, opWords, dur(alert), dur(target)),
		Steps: []string{
			"Open the *Provisioning time percentiles* and *Provisioning duration distribution* panels of the provisioning dashboard: is it one environment type (the `type` variable) or all, sudden or gradual?",
			"Look at the *Provisioning p95 and deployments* panel: did a deployment (of the platform, a base chart or an image) start it?",
			"Find the slow ones: `envtrack insights --window " + w + "` and `envtrack timeline <id>` show which readiness check (sync, health, URL) came last; the exemplars on the histogram name environment ids.",
			"In Argo CD, check those Applications' sync operations (sync waves, hooks, image pulls) and the cluster's capacity (pending pods, quota); 000's recommendations: smaller images, sync waves, pre-pulled images.",
		},
		Cases: []Case{
			{Name: "slow provisioning fires", Fires: true, Value: top, Series: s.provisioningSeries([]float64{0, 0, 0, 0, 0, 1})},
			{Name: "fast provisioning stays silent", Series: s.provisioningSeries([]float64{1, 0, 0, 0, 0, 0})},
			{Name: "no attempts stay silent", Series: s.provisioningSeries([]float64{0, 0, 0, 0, 0, 0})},
		},
	}
}

// provisioningSeries are promtool input series for the provisioning histogram: perStep
// holds the observations per step in each bucket (30, 60, 120, 300, 600, +Inf).
func (s *Set) provisioningSeries(perStep []float64) []InputSeries {
	hist := s.def(metric.ProvisioningDuration)
	var out []InputSeries
	cum := 0.0
	les := append(append([]string(nil), bucketLabels(metric.ProvisioningBuckets)...), "+Inf")
	for i, le := range les {
		cum += perStep[i]
		out = append(out, InputSeries{Series: fmt.Sprintf(`%s{le=%q, type="preview"}`, hist.Bucket(), le), Inc: cum})
	}
	return append(out, InputSeries{Series: fmt.Sprintf(`%s{type="preview"}`, hist.Count()), Inc: cum})
}

func (s *Set) attemptSeries(success, failed float64) []InputSeries {
	total := s.def(metric.ProvisioningTotal).Name
	return []InputSeries{
		{Series: total + `{status="success", type="preview"}`, Inc: success},
		{Series: total + `{status="failed", type="preview"}`, Inc: failed},
	}
}

func (s *Set) successRateAlert(record string) Alert {
	o := s.opts
	w := dur(o.Window)
	sr := o.Targets.SuccessRate
	total := s.def(metric.ProvisioningTotal).Name
	return Alert{
		Name: "EnvironmentProvisioningSuccessRateLow", Group: GroupProvisioning, Severity: SeverityWarning, For: o.For,
		Expr:      fmt.Sprintf(`%s < %s and on () sum(increase(%s[%s])) > 0`, record, num(sr.Alert/100), total, w),
		Threshold: fmt.Sprintf("success rate over %s < %s %% for %s (target %s %%)", w, num(sr.Alert), dur(o.For), num(sr.Target)),
		Summary:   fmt.Sprintf("Environment provisioning success rate is below %s %%.", num(sr.Alert)),
		Description: fmt.Sprintf("Only {{ $value | humanizePercentage }} of the provisioning attempts that ended in the last %s became ready; the alert threshold is %s %% and the target %s %%.",
			w, num(sr.Alert), num(sr.Target)),
		Meaning: fmt.Sprintf("Of the provisioning attempts that ended over the last %s (ready or provisioning_failed), fewer than %s %% succeeded (000's alert threshold; the target is %s %%). "+
			"Failures are timeouts (readiness.provisioning_timeout), failed syncs, degraded health, unreachable URLs or deletions before ready. Without attempts in the window the alert stays silent.",
			w, num(sr.Alert), num(sr.Target)),
		Steps: []string{
			"Open *Failed provisions by reason* on the provisioning dashboard: which reason dominates?",
			"`sync_failed`/`degraded`: open the failing Applications in Argo CD (operation message, resource health); a common cause is a broken chart or image in a recent deployment (see the deployments panel and annotations).",
			"`timeout`: provisioning takes longer than readiness.provisioning_timeout; check the P50/P95 panels and the cluster's capacity. `url_unreachable`: Argo CD says Synced and Healthy but the URL fails: ingress, DNS or certificates.",
			"`deleted_before_ready`: environments are deleted while provisioning (cancelled pull requests, clean-up jobs); usually not a platform fault.",
		},
		Cases: []Case{
			{Name: "failing attempts fire", Fires: true, Value: 0, Series: s.attemptSeries(0, 1)},
			{Name: "successful attempts stay silent", Series: s.attemptSeries(1, 0)},
			{Name: "no attempts stay silent", Series: s.attemptSeries(0, 0)},
		},
	}
}

func (s *Set) burnRateAlert() Alert {
	o := s.opts
	slo := o.Targets.SuccessRate.Target
	budget := fmt.Sprintf("(1 - %s)", num(slo/100))
	var pairs, words []string
	var span time.Duration
	for _, b := range o.BurnRates {
		pairs = append(pairs, fmt.Sprintf("(%s > (%s * %s) and %s > (%s * %s))",
			s.errorRatio(b.Long), num(b.Factor), budget, s.errorRatio(b.Short), num(b.Factor), budget))
		words = append(words, fmt.Sprintf("%sx over %s and %s", num(b.Factor), dur(b.Long), dur(b.Short)))
		span = max(span, b.Long)
	}
	return Alert{
		Name: "EnvironmentProvisioningErrorBudgetBurn", Group: GroupProvisioning, Severity: SeverityCritical, For: o.BurnRateFor,
		Expr:      strings.Join(pairs, " or "),
		Threshold: fmt.Sprintf("error ratio above the burn rate times the %s %% SLO's budget (%s %%): %s; for %s", num(slo), num(100-slo), strings.Join(words, ", or "), dur(o.BurnRateFor)),
		Summary:   fmt.Sprintf("Provisioning failures are burning the %s %% success SLO's error budget fast.", num(slo)),
		Description: fmt.Sprintf("{{ $value | humanizePercentage }} of recent provisioning attempts failed: at this rate the error budget of the %s %% success SLO (%s %% of attempts may fail) is gone in days, not weeks (burn rates: %s).",
			num(slo), num(100-slo), strings.Join(words, "; ")),
		Meaning: fmt.Sprintf("The success SLO (targets.success_rate.target, %s %%) allows %s %% of provisioning attempts to fail. This multi-window, multi-burn-rate alert (the SRE workbook's) fires when both a long and a short window fail faster than the budget allows by the given factor (%s): "+
			"the long window makes it significant, the short one makes it stop soon after the failures stop. With few attempts a handful of failures is enough; without attempts in a window it stays silent.",
			num(slo), num(100-slo), strings.Join(words, "; ")),
		Steps: []string{
			"Treat it as an outage of provisioning: open the provisioning dashboard, *Failed provisions by reason* and *Provisioning success rate*.",
			"Correlate with the deployments (annotations and the *Provisioning p95 and deployments* panel): roll back the change that started it when there is one.",
			"Follow the EnvironmentProvisioningSuccessRateLow steps for the dominant failure reason.",
		},
		Cases: []Case{
			{Name: "all attempts failing fire", Fires: true, Value: 1, Series: s.attemptSeries(0, 1)},
			{Name: "successful attempts stay silent", Series: s.attemptSeries(1, 0)},
		},
	}
}

// stuckAlert fires while environments are stuck terminating. The gauge only counts
// terminations that already outlasted readiness.termination_timeout: no For is needed.
// Replicas count the same environments, hence max, not sum.
func (s *Set) stuckAlert() Alert {
	stuck := s.def(metric.TerminationsStuck).Name
	return Alert{
		Name: "EnvironmentTerminationStuck", Group: GroupProvisioning, Severity: SeverityWarning,
		Expr:        fmt.Sprintf(`max by (type) (%s) > 0`, stuck),
		Threshold:   "any environment terminating for longer than readiness.termination_timeout",
		Summary:     "Environments are stuck terminating.",
		Description: "{{ $value }} environment(s) of type {{ $labels.type }} have been terminating for longer than readiness.termination_timeout: their Argo CD Applications are still there.",
		Meaning: "An environment's termination began (its Argo CD Application has a deletionTimestamp) but the Application was still there, in an answer Argo CD gave after readiness.termination_timeout (per type) had passed. " +
			"The usual cause is a finalizer that never finishes (resources-finalizer.argocd.argoproj.io waiting on a resource that cannot be deleted: a PersistentVolumeClaim in use, a namespace with its own finalizers, a webhook that refuses). " +
			"The environment keeps costing resources, and envtrack shows it as `terminating` until it is gone; its terminated event then carries `termination_stuck: true`.",
		Steps: []string{
			"Open envtrack's landing page: *Stuck terminations* lists the environments, since when they terminate and since when they are stuck.",
			"In Argo CD, open each Application: which resources are left, and which finalizers remain (`kubectl get application <name> -n argocd -o jsonpath='{.metadata.finalizers}'`)?",
			"Fix what blocks the deletion (a namespace stuck Terminating, a PVC in use, a webhook); remove a finalizer by hand only once its resources are really gone.",
			"If such terminations are normal for a type, raise its readiness.termination_timeout.",
		},
		Cases: []Case{
			{Name: "a stuck termination fires", Fires: true, Value: 1, Labels: map[string]string{"type": "preview"},
				Series: []InputSeries{{Series: stuck + `{type="preview"}`, Start: 1}}},
			{Name: "no stuck termination stays silent", Series: []InputSeries{{Series: stuck + `{type="preview"}`}}},
		},
	}
}

func envtrackLabels(extra ...string) map[string]string {
	l := map[string]string{"job": testJob, "instance": testInstance}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func envtrackSeries(name string, inc, start float64, labels ...string) InputSeries {
	ls := []string{fmt.Sprintf("instance=%q", testInstance), fmt.Sprintf("job=%q", testJob)}
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	return InputSeries{Series: name + "{" + strings.Join(ls, ", ") + "}", Start: start, Inc: inc}
}

func (s *Set) downAlert() Alert {
	o := s.opts
	return Alert{
		Name: "EnvtrackDown", Group: GroupHealth, Severity: SeverityCritical, For: o.DownFor,
		Expr:        fmt.Sprintf(`up{job=~%q} == 0`, o.Job),
		Threshold:   fmt.Sprintf("up{job=~%q} == 0 for %s", o.Job, dur(o.DownFor)),
		Summary:     "envtrack is down.",
		Description: "Prometheus cannot scrape envtrack at {{ $labels.instance }} (job {{ $labels.job }}): no lifecycle events are tracked or delivered, and the API and metrics are unavailable.",
		Meaning: "Prometheus failed to scrape envtrack's /metrics. Either envtrack is not running (crashed, OOM-killed, stuck on start-up because its store is locked by another process) or Prometheus cannot reach it. " +
			"While it is down nothing is tracked; on restart it derives what happened from Argo CD's own timestamps, so transitions are recorded late, not lost.",
		Steps: []string{
			"Check the process or pod: `kubectl get pods`, its restarts and last logs (`msg=\"cannot start\"` names the cause: configuration, state_dir, store).",
			"A store that cannot be opened: only one envtrack may use a state_dir (bbolt lock); a second replica must not share the volume.",
			"If envtrack runs, check the scrape: Prometheus's Targets page shows the error (network policy, TLS, wrong port 9465).",
		},
		Cases: []Case{
			{Name: "a failed scrape fires", Fires: true, Labels: envtrackLabels(), Series: []InputSeries{envtrackSeries("up", 0, 0)}},
			{Name: "a successful scrape stays silent", Series: []InputSeries{envtrackSeries("up", 0, 1)}},
		},
	}
}

// ratioCases are the promtool cases of an alert on the share of metric's series with
// result="bad": only bad results fire, only successes stay silent.
func ratioCases(metric, bad, fires, silent string) []Case {
	return []Case{
		{Name: fires, Fires: true, Value: 1, Labels: envtrackLabels(), Series: []InputSeries{
			envtrackSeries(metric, 1, 0, "result", bad),
			envtrackSeries(metric, 0, 0, "result", "success"),
		}},
		{Name: silent, Series: []InputSeries{
			envtrackSeries(metric, 0, 0, "result", bad),
			envtrackSeries(metric, 1, 0, "result", "success"),
		}},
	}
}

func ratioExpr(metric, bad, w string) string {
	return fmt.Sprintf(`sum by (job, instance) (rate(%s{result=%q}[%s])) / sum by (job, instance) (rate(%s[%s]))`, metric, bad, w, metric, w)
}

func (s *Set) pollsAlert() Alert {
	o := s.opts
	w := dur(o.HealthWindow)
	return Alert{
		Name: "EnvtrackArgoCDPollsFailing", Group: GroupHealth, Severity: SeverityWarning, For: o.HealthFor,
		Expr:        ratioExpr(metric.ArgoCDPolls.Name, "error", w) + " > " + num(o.ArgoCDPollErrorRatio),
		Threshold:   fmt.Sprintf("more than %s of Argo CD polls over %s fail, for %s", percent(o.ArgoCDPollErrorRatio), w, dur(o.HealthFor)),
		Summary:     "envtrack cannot list Argo CD applications.",
		Description: fmt.Sprintf("{{ $value | humanizePercentage }} of envtrack's Argo CD polls at {{ $labels.instance }} failed over the last %s: environment changes are not seen until Argo CD answers again.", w),
		Meaning: "envtrack polls Argo CD's application list every argocd.poll_interval; a failed poll (connection error, timeout, 401/403, a 5xx, an unusable answer) changes nothing. " +
			"Nothing is lost: once polls succeed, transitions are recorded with Argo CD's own timestamps, but they are seen late and time-outs may fire meanwhile.",
		Steps: []string{
			"Look at *Requests by status code* on the envtrack health dashboard: 401/403 means the token (argocd.token / token_file) is wrong, expired or lacks `applications, get`; `error` means no answer (network, TLS, argocd.request_timeout).",
			"Check envtrack's logs (`component=argocd`) for the error message, and Argo CD's API server health.",
			"`" + metric.ArgoCDDecodeErrors.Name + "` growing: a proxy or a wrong argocd.server answers with something that is not an application list.",
		},
		Cases: ratioCases(metric.ArgoCDPolls.Name, "error", "failing polls fire", "successful polls stay silent"),
	}
}

func (s *Set) lagAlert() Alert {
	o := s.opts
	return Alert{
		Name: "EnvtrackSinkLagging", Group: GroupHealth, Severity: SeverityWarning, For: o.HealthFor,
		Expr:        metric.SinkLag.Name + " > " + num(o.SinkLagEvents),
		Threshold:   fmt.Sprintf("%s > %s for %s", metric.SinkLag.Name, num(o.SinkLagEvents), dur(o.HealthFor)),
		Summary:     "An envtrack sink is not keeping up.",
		Description: fmt.Sprintf("The {{ $labels.sink }} sink of envtrack at {{ $labels.instance }} has had undelivered journal events for %s (now {{ $value }}): dashboards, annotations or webhooks miss recent events.", dur(o.HealthFor)),
		Meaning: "Every event is appended to the journal first; each sink delivers from it in order with its own cursor. A sink whose lag stays above the threshold is failing (its target is down or rejects it, and it retries with backoff) or is slower than the events arrive. " +
			"Nothing is lost: retention keeps every event a sink has not delivered, up to retention.max_undelivered; past that the sink's oldest events are set aside for it (" + metric.SinkUndeliveredSetAside.Name + ", EnvtrackSinkUndeliveredSetAside).",
		Steps: []string{
			"Open the *Sinks* row of the envtrack health dashboard: *Delivery failures* (retryable or not) and *Time since the last delivery* for that sink.",
			"Check the target: InfluxDB (health, disk, token, bucket) or Grafana (401/403 in *Authentication failures*: token or annotations:create permission; 404: wrong URL sub-path).",
			"A webhook (`sink=\"webhook:NAME\"`) waits for its endpoint: it retries network errors, 5xx, 408 and 429 (honouring Retry-After), and a redirect, which is not followed. `envtrack webhook test NAME --config FILE` sends one signed sample event and prints the endpoint's answer.",
			"Check envtrack's logs for the sink (`component=influx`, `component=grafana`, `sink=webhook:NAME`): the error says why deliveries fail. The lag drains by itself once the target accepts writes: a sink two batches or more behind writes up to delivery.catch_up_batch_size events at once (5,000 by default).",
		},
		Cases: []Case{
			{Name: "a lagging sink fires", Fires: true, Value: o.SinkLagEvents + 42, Labels: envtrackLabels("sink", "influxdb"), Series: []InputSeries{
				envtrackSeries(metric.SinkLag.Name, 0, o.SinkLagEvents+42, "sink", "influxdb"),
			}},
			{Name: "a lagging webhook fires", Fires: true, Value: o.SinkLagEvents + 7, Labels: envtrackLabels("sink", "webhook:ci"), Series: []InputSeries{
				envtrackSeries(metric.SinkLag.Name, 0, o.SinkLagEvents+7, "sink", "webhook:ci"),
			}},
			{Name: "a sink without lag stays silent", Series: []InputSeries{envtrackSeries(metric.SinkLag.Name, 0, o.SinkLagEvents, "sink", "influxdb")}},
		},
	}
}

func (s *Set) setAsideAlert() Alert {
	o := s.opts
	w := dur(o.HealthWindow)
	return Alert{
		Name: "EnvtrackSinkSettingEventsAside", Group: GroupHealth, Severity: SeverityWarning,
		Expr:        fmt.Sprintf(`sum by (job, instance, sink) (increase(%s[%s])) > 0`, metric.SinkSetAside.Name, w),
		Threshold:   fmt.Sprintf("any event set aside in the last %s", w),
		Summary:     "An envtrack sink rejected events for good.",
		Description: fmt.Sprintf("The {{ $labels.sink }} sink of envtrack at {{ $labels.instance }} rejected events permanently in the last %s; they are recorded in the store's set_aside bucket and will not be retried.", w),
		Meaning: "The sink's target rejected a batch with a permanent error (for InfluxDB a 400, e.g. a field type conflict; for a webhook any 4xx but 408 and 429). envtrack isolated the offending events, recorded them in the store's set_aside bucket, logged them, and went on. " +
			"Those events are missing from that target (a timeline or annotation has a gap), and more will follow until the cause is fixed.",
		Steps: []string{
			"Find the rejected events and the target's error message in envtrack's logs (`msg` mentions set aside, with the event).",
			"InfluxDB field type conflicts: a field was first written with another type (e.g. by another writer to the same measurement); use a new measurement name or fix the writer.",
			"A webhook: the landing page's *Sinks* section names the last event set aside and the endpoint's answer (401/403: its credentials in `headers`; 404/410: the URL; 400/422: the receiver refuses the body). `envtrack webhook test NAME --config FILE` tries the endpoint again.",
			"After fixing the cause, replay the set-aside events from the store if they matter; new events are delivered normally.",
		},
		Cases: []Case{
			{Name: "events set aside fire", Fires: true, Labels: envtrackLabels("sink", "influxdb"), Series: []InputSeries{
				envtrackSeries(metric.SinkSetAside.Name, 1, 0, "sink", "influxdb"),
			}},
			{Name: "old set-aside events stay silent", Series: []InputSeries{envtrackSeries(metric.SinkSetAside.Name, 0, 3, "sink", "influxdb")}},
		},
	}
}

func (s *Set) undeliveredAlert() Alert {
	o := s.opts
	w := dur(o.HealthWindow)
	return Alert{
		Name: "EnvtrackSinkUndeliveredSetAside", Group: GroupHealth, Severity: SeverityCritical,
		Expr:        fmt.Sprintf(`sum by (job, instance, sink) (increase(%s[%s])) > 0`, metric.SinkUndeliveredSetAside.Name, w),
		Threshold:   fmt.Sprintf("any event set aside undelivered in the last %s", w),
		Summary:     "An envtrack sink failed to deliver events within retention.max_undelivered.",
		Description: fmt.Sprintf("The {{ $labels.sink }} sink of envtrack at {{ $labels.instance }} set aside events it had failed to deliver for retention.max_undelivered, in the last %s: they are missing from its target.", w),
		Meaning: "Retention never prunes an event a sink has not delivered: a sink that is down lags and loses nothing. So that a sink that never comes back does not hold the journal forever, " +
			"an event the sink has still not delivered retention.max_undelivered after it was recorded is set aside for that sink: recorded in the store's undelivered bucket, logged, no longer retried. " +
			"Its target (InfluxDB, Grafana) misses those events; the other sinks and the journal's own timeline are unaffected.",
		Steps: []string{
			"Find why the sink has been failing for so long: *Delivery failures* and *Time since the last delivery* on the envtrack health dashboard, and envtrack's log for the sink (`component=sink`).",
			"The log line `events set aside` names the first and last sequence numbers set aside; the events stay in the store's undelivered bucket to be replayed once the target works.",
			"If the outage is planned to last, raise retention.max_undelivered (the journal then keeps more on disk) or remove the sink from the configuration.",
		},
		Cases: []Case{
			{Name: "events set aside undelivered fire", Fires: true, Labels: envtrackLabels("sink", "influxdb"), Series: []InputSeries{
				envtrackSeries(metric.SinkUndeliveredSetAside.Name, 5, 0, "sink", "influxdb"),
			}},
			{Name: "none set aside stays silent", Series: []InputSeries{envtrackSeries(metric.SinkUndeliveredSetAside.Name, 0, 0, "sink", "influxdb")}},
		},
	}
}

func (s *Set) probesAlert() Alert {
	o := s.opts
	w := dur(o.HealthWindow)
	return Alert{
		Name: "EnvtrackProbesFailing", Group: GroupHealth, Severity: SeverityWarning, For: o.HealthFor,
		Expr:        ratioExpr(metric.ProbeResults.Name, "failure", w) + " > " + num(o.ProbeFailureRatio),
		Threshold:   fmt.Sprintf("more than %s of URL probes over %s fail, for %s", percent(o.ProbeFailureRatio), w, dur(o.HealthFor)),
		Summary:     "Most of envtrack's URL probes fail.",
		Description: fmt.Sprintf("{{ $value | humanizePercentage }} of the environment URL probes of envtrack at {{ $labels.instance }} failed over the last %s.", w),
		Meaning: "envtrack probes each environment's URL (readiness and degraded/recovered). A few failures are environments that are down; most of them failing points at envtrack's side: " +
			"its network path (egress, proxy, DNS), TLS settings (readiness.url.tls), a timeout too short for the environments, or an expected status that does not match.",
		Steps: []string{
			"Check whether the environments are really down (open a few URLs, look at their Argo CD health); if they are, this is the platform, not envtrack.",
			"From envtrack's pod, try a URL by hand (`wget -S -O- <url>`): DNS, proxy, certificate errors.",
			"Compare readiness.url.timeout with *Probe duration*, and readiness.url.expected_status with what the environments answer.",
		},
		Cases: ratioCases(metric.ProbeResults.Name, "failure", "failing probes fire", "passing probes stay silent"),
	}
}

func (s *Set) reloadAlert() Alert {
	o := s.opts
	return Alert{
		Name: "EnvtrackConfigReloadFailed", Group: GroupHealth, Severity: SeverityWarning, For: o.DownFor,
		Expr:        metric.ConfigLastReloadSuccessful.Name + " == 0",
		Threshold:   fmt.Sprintf("%s == 0 for %s", metric.ConfigLastReloadSuccessful.Name, dur(o.DownFor)),
		Summary:     "envtrack rejected its new configuration.",
		Description: "The last configuration reload of envtrack at {{ $labels.instance }} failed; it keeps running with the previous configuration.",
		Meaning: "A reload (SIGHUP or POST /-/reload) found the configuration file invalid and kept the old configuration. envtrack works, but not with the configuration on disk, " +
			"and its next restart will fail on the same file.",
		Steps: []string{
			"Run `envtrack check-config --config <file>`: it names the key and line that are wrong.",
			"Check envtrack's logs for the reload error; fix the file (or the ConfigMap/secret it comes from) and reload again.",
		},
		Cases: []Case{
			{Name: "a failed reload fires", Fires: true, Labels: envtrackLabels(), Series: []InputSeries{envtrackSeries(metric.ConfigLastReloadSuccessful.Name, 0, 0)}},
			{Name: "a good configuration stays silent", Series: []InputSeries{envtrackSeries(metric.ConfigLastReloadSuccessful.Name, 0, 1)}},
		},
	}
}

func (s *Set) noLeaderAlert() Alert {
	o := s.opts
	return Alert{
		Name: "EnvtrackNoLeader", Group: GroupHealth, Severity: SeverityCritical, For: o.DownFor,
		Expr:        fmt.Sprintf(`max without (instance) (%s) < 1`, metric.Leader.Name),
		Threshold:   fmt.Sprintf("no replica reports %s 1 for %s", metric.Leader.Name, dur(o.DownFor)),
		Summary:     "No envtrack replica leads.",
		Description: "None of the envtrack replicas of {{ $labels.job }} holds the lease: Argo CD is not watched, URLs are not checked and the sinks do not deliver.",
		Meaning: "With store.driver postgres one replica leads by a lease in PostgreSQL. Pushes are still recorded by every replica, but nothing is derived from Argo CD or the URLs, " +
			"timeouts are not evaluated and InfluxDB and Grafana fall behind (the journal keeps everything: they catch up when a leader is back).",
		Steps: []string{
			fmt.Sprintf("Check that the replicas reach PostgreSQL (their logs: \"leader election: cannot reach the journal\"; is `%s` still moving?).", metric.JournalLastSequence.Name),
			"Check the replicas' logs for \"leader: lease acquired\" and \"following\": a replica that follows names the holder of the lease, which must be running.",
		},
		Cases: []Case{
			{Name: "no replica leads", Fires: true, Labels: map[string]string{"job": testJob}, Series: []InputSeries{envtrackSeries(metric.Leader.Name, 0, 0)}},
			{Name: "one replica leads", Series: []InputSeries{envtrackSeries(metric.Leader.Name, 0, 1)}},
		},
	}
}

func (s *Set) leaseFlappingAlert() Alert {
	return Alert{
		Name: "EnvtrackLeaseFlapping", Group: GroupHealth, Severity: SeverityWarning, For: 0,
		Expr:        fmt.Sprintf(`max without (instance) (max_over_time(%[1]s[1h]) - min_over_time(%[1]s[1h])) > 3`, metric.LeaderEpoch.Name),
		Threshold:   "more than 3 new leaders within 1h",
		Summary:     "envtrack's leadership changes often.",
		Description: "The envtrack replicas of {{ $labels.job }} changed leader more than 3 times within the last hour.",
		Meaning: "Each change is a failover: a leader stopped renewing its lease within store.postgres.lease_duration (a crash, a restart, a pause, " +
			"or a slow connection to PostgreSQL), and another replica took over. Nothing is lost, but each one delays the Argo CD watch and the sinks by up to a lease.",
		Steps: []string{
			"Look for restarts of the replicas (OOM kills, failing liveness probes) and for \"leader: stepping down\" in their logs, with its reason.",
			"If the database is slow to answer, raise store.postgres.lease_duration (and renew_interval with it), or look at PostgreSQL's load.",
		},
		Cases: []Case{
			{Name: "five new leaders in an hour fire", Fires: true, Labels: map[string]string{"job": testJob}, Series: []InputSeries{envtrackSeries(metric.LeaderEpoch.Name, 0.1, 1)}},
			{Name: "a stable leader stays silent", Series: []InputSeries{envtrackSeries(metric.LeaderEpoch.Name, 0, 7)}},
		},
	}
}

// num renders a number for PromQL and prose: shortest form, no exponent for ordinary
// values.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func percent(r float64) string { return num(r*100) + " %" }

func ptr(v float64) *float64 { return &v }

func bucketLabels(bs []float64) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = num(b)
	}
	return out
}
