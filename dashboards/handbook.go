package dashboards

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/model/metric"
)

// HandbookFile is the path of the generated operations handbook.
const HandbookFile = "docs/operations.md"

// Handbook renders the operations handbook (as in 003): every alert with what it means,
// its severity and threshold, and the first steps; the recording rules; the dashboards
// and their panels; every metric.
func (s *Set) Handbook() []byte {
	o := s.opts
	t := o.Targets
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# envtrack operations\n\n")
	p("<!--\nGenerated documentation; DO NOT EDIT. Regenerate with `envtrack generate` (or `go test ./dashboards -update`).\n")
	p("Generated from the metric definitions in github.com/blueberry-idp/envtrack/dashboards (self-monitoring metrics in model/metric).\n-->\n\n")
	p("This document describes how to operate envtrack: what each alert means and what to do first, the dashboards and their panels, and every metric. ")
	p("The same definitions generate the alert rules (`%s`) and their tests (`%s`), the dashboards (`dashboards/`) and every collector envtrack registers, so this page describes exactly what is deployed.\n\n", RulesFile, RuleTestsFile)

	p("## Service overview\n\n")
	p("| PROPERTY | DETAILS |\n| --- | --- |\n")
	p("| What it does | Watches the environments the platform provisions through Argo CD (and plain URLs), records their lifecycle events in a durable local journal and delivers them to InfluxDB, Prometheus and Grafana. |\n")
	p("| Metrics | `GET /metrics` on `listen_address` (default `:9465`): the lifecycle metrics under `metrics.namespace` (`%s`), envtrack's own under `envtrack_`. |\n", o.Namespace)
	p("| Health | `GET /healthz` (alive), `GET /readyz` (the journal answers, and on the leader the first Argo CD poll is done). |\n")
	p("| Scrape job | `up{job=~%q}`: the rules expect envtrack's scrape job to match. |\n", o.Job)
	p("| Targets (000) | P50 provisioning time target %s, alert %s · P95 target %s, alert %s · success rate target %s %%, alert %s %%. |\n",
		dur(time.Duration(t.ProvisioningP50.Target)), dur(time.Duration(t.ProvisioningP50.Alert)),
		dur(time.Duration(t.ProvisioningP95.Target)), dur(time.Duration(t.ProvisioningP95.Alert)),
		num(t.SuccessRate.Target), num(t.SuccessRate.Alert))
	p("| Rules | `%s`; check with `promtool check rules` and `promtool test rules %s`. |\n", RulesFile, filepath.Base(RuleTestsFile))
	var dashList []string
	for _, d := range s.DashboardSpecs() {
		dashList = append(dashList, fmt.Sprintf("[%s](#%s) (`%s`)", d.Title, Anchor(d.Title), d.File))
	}
	p("| Dashboards | %s |\n\n", strings.Join(dashList, ", "))
	p("> [!IMPORTANT]\n> The rules and panels compute percentiles from the classic histogram buckets (`_bucket` series). ")
	p("When Prometheus scrapes native histograms, keep the classic buckets too (`always_scrape_classic_histograms: true` in the scrape config), or the provisioning alerts see no data.\n\n")

	s.handbookReads(p)
	handbookReplicas(p)

	p("## Alert policies\n\n")
	p("Every alert carries the label `severity` and the annotations `summary`, `description` and `runbook_url` (a link to its section below).\n\n")
	p("| ALERT | SEVERITY | FIRES WHEN |\n| --- | --- | --- |\n")
	alerts := append(s.Alerts(), s.SLOAlerts()...)
	for _, a := range alerts {
		p("| [%s](#%s) | %s | %s |\n", a.Name, Anchor(a.Name), strings.ToUpper(a.Severity), cell(a.Threshold))
	}
	p("\n")
	s.handbookSLOs(p)
	for _, a := range alerts {
		p("### %s\n\n", a.Name)
		p("```md\n%s\n```\n\n", a.Summary)
		p("Severity: %s\n\n", strings.ToUpper(a.Severity))
		p("Fires when: %s.\n\n", a.Threshold)
		p("%s\n\n", a.Meaning)
		p("Expression (rule group `%s`", a.Group)
		if a.For > 0 {
			p(", `for: %s`", dur(a.For))
		}
		p("):\n\n```promql\n%s\n```\n\n", a.Expr)
		p("First steps:\n\n")
		for i, st := range a.Steps {
			p("%d. %s\n", i+1, st)
		}
		p("\n")
	}

	p("## Recording rules\n\n")
	p("Each SLO's group records, in Sloth's names and labels (`sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window`): `slo:sli_error:ratio_rate<window>` for 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO window, `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`, `%s`, `slo:period_burn_rate:ratio`, `%s` and `sloth_slo_info`.\n\n", SLOCurrentBurn, SLOBudgetRemaining)
	p("Group `%s`; the alerts above use them.\n\n", GroupRecording)
	p("| RULE | MEANING | EXPRESSION |\n| --- | --- | --- |\n")
	for _, r := range s.Records() {
		p("| `%s` | %s | `%s` |\n", r.Name, cell(r.Help), cell(r.Expr))
	}
	p("\n")

	p("## Dashboards\n\n")
	p("Import them into Grafana or provision them from `dashboards/`. Data sources are template variables: `DS_PROMETHEUS` (Prometheus) and, on the provisioning dashboard, `DS_INFLUXDB` (InfluxDB, InfluxQL, for the deployment markers of the `%s` measurement).\n\n", o.DeploymentsMeasurement)
	for _, d := range s.DashboardSpecs() {
		p("### %s\n\n", d.Title)
		p("File `%s`, uid `%s`. %s\n\n", d.File, d.UID, d.Description)
		if len(d.Variables) > 0 {
			p("Variables: %s.\n\n", strings.Join(quoteAll(d.Variables), ", "))
		}
		if len(d.Annotations) > 0 {
			var as []string
			for _, a := range d.Annotations {
				state := "on"
				if !a.Enable {
					state = "off by default"
				}
				as = append(as, fmt.Sprintf("%s (tags %s, %s)", a.Name, strings.Join(quoteAll(a.Tags), " + "), state))
			}
			p("Annotations from Grafana (posted by envtrack's Grafana sink): %s.\n\n", strings.Join(as, "; "))
		}
		for _, row := range d.Rows {
			p("#### %s: %s\n\n", shortTitle(d.Title), row)
			for _, pn := range s.Panels(d.UID, row) {
				p("- **%s** (%s): %s\n", pn.Title, pn.Kind, pn.Description)
			}
			p("\n")
		}
	}

	p("## Metrics\n\n")
	p("The lifecycle metrics (exposed by `%s`, built from these definitions) are observed on live transitions only; their gauges are computed from the tracker's state at each scrape. No label takes an environment id.\n\n", metric.SourceLifecycle)
	p("| METRIC | TYPE | LABELS | HELP | EXPOSED BY | PANELS | ALERTS |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, m := range s.metrics {
		typ := string(m.Type)
		if m.Type == Histogram {
			typ += " (buckets " + strings.Join(bucketLabels(m.Buckets), ", ")
			if m.NativeHistogram {
				typ += "; native too"
			}
			typ += ")"
		}
		labels := strings.Join(quoteAll(m.Labels), ", ")
		if m.Exemplar != "" {
			labels += "; exemplar `" + m.Exemplar + "`"
		}
		var panels, alerts []string
		for _, pn := range s.PanelsShowing(m) {
			panels = append(panels, fmt.Sprintf("%s: %s", shortTitle(s.dashboardTitle(pn.Dashboard)), pn.Title))
		}
		for _, a := range m.Alerts {
			alerts = append(alerts, fmt.Sprintf("[%s](#%s)", a.Name, Anchor(a.Name)))
		}
		p("| `%s` | %s | %s | %s | %s | %s | %s |\n", m.Name, typ, labels, cell(m.Help), m.Source, cell(strings.Join(panels, "; ")), strings.Join(alerts, ", "))
	}
	return b.Bytes()
}

// PanelsShowing returns the panels whose queries select the metric's series, in
// dashboard order.
// handbookSLOs describes the SLOs per type the rules are generated for.
func (s *Set) handbookSLOs(p func(string, ...any)) {
	p("### SLOs per environment type\n\n")
	p("The SLO alerts below are generated per environment type from `slos:` (each type named there or in `types:` gets its own SLOs; `default` covers every other type), in Sloth's shape: a Sloth SLO dashboard reads their records unchanged (`sloth_service` is `envtrack-<type>`, `sloth_slo` `%s` or `%s`). ", SLILatency, SLISuccess)
	p("Each has a page alert (severity critical, `sloth_severity: page`) and a ticket alert (warning, `ticket`) over the SRE workbook's window pairs. The success SLI counts only the platform's failures (`class=\"platform\"`): a user's failure is a success of the platform. `%s` tests each alert firing at its burn rate and silent just below it.\n\n", filepath.Base(SLORuleTestsFile))
	p("| SLO (`sloth_id`) | TYPES | OBJECTIVE | WINDOW |\n| --- | --- | --- | --- |\n")
	for _, o := range s.SLOs() {
		types := "`" + o.Selector + "`"
		if o.Selector == "" {
			types = "all"
		}
		obj := num(o.Objective) + " % of attempts not failed by the platform"
		if o.SLI == SLILatency {
			obj = num(o.Objective) + " % of ready attempts ready within " + dur(o.Threshold)
		}
		p("| `%s` | %s | %s | %s |\n", o.ID(), types, obj, dur(o.Window))
	}
	p("\n")
}

func (s *Set) PanelsShowing(m Metric) []Panel {
	re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(m.Name) + `(_bucket|_count|_sum)?($|[^a-zA-Z0-9_:])`)
	var out []Panel
	for _, d := range s.DashboardSpecs() {
		for _, row := range d.Rows {
			for _, p := range s.Panels(d.UID, row) {
				for _, q := range p.Queries {
					if q.Expr != "" && re.MatchString(q.Expr) {
						out = append(out, p)
						break
					}
				}
			}
		}
	}
	return out
}

func (s *Set) dashboardTitle(uid string) string {
	for _, d := range s.DashboardSpecs() {
		if d.UID == uid {
			return d.Title
		}
	}
	return uid
}

// shortTitle drops the "envtrack / " prefix of a dashboard title.
func shortTitle(t string) string { return strings.TrimPrefix(t, "envtrack / ") }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return out
}

// cell makes text safe in a markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Files renders every generated file, keyed by its slash-separated path relative to the
// repository root.
func (s *Set) Files() (map[string][]byte, error) {
	files, err := s.Dashboards()
	if err != nil {
		return nil, err
	}
	if files[RulesFile], err = s.RulesYAML(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if files[RuleTestsFile], err = s.RuleTestsYAML(); err != nil {
		return nil, fmt.Errorf("rule tests: %w", err)
	}
	if files[SLORuleTestsFile], err = s.SLORuleTestsYAML(); err != nil {
		return nil, fmt.Errorf("SLO rule tests: %w", err)
	}
	files[HandbookFile] = s.Handbook()
	return files, nil
}

// Generate validates opts and renders every generated file (see Set.Files): what
// `envtrack generate` writes.
func Generate(opts Options) (map[string][]byte, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	return s.Files()
}

// Write writes files under dir (creating directories) and returns their paths, sorted.
func Write(dir string, files map[string][]byte) ([]string, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// handbookReads is the handbook's section on the read path to InfluxDB: how to point
// envtrack at each InfluxDB, and what a failing read looks like.
func (s *Set) handbookReads(p func(string, ...any)) {
	p("## Reading from InfluxDB\n\n")
	p("With an `influxdb` section, the API's timelines and insights, the CLI's `timeline` and `insights` and the pages read back from InfluxDB what the sink wrote; without one, from the journal. ")
	p("`influxdb.query_language` chooses how: `influxql` (the default) sends InfluxQL to the v1 `/query` API, which InfluxDB 1.x answers as it ships, 2.x answers for a bucket with a DBRP mapping, and 3.x answers at all; `flux` sends Flux to `/api/v2/query`, which InfluxDB 1.8 answers only with `flux-enabled = true` and 2.x answers, and 3.x does not. Writes use the v2 write API either way.\n\n")
	p("| INFLUXDB | CONFIGURATION | WHAT ENVTRACK SENDS |\n| --- | --- | --- |\n")
	p("| 1.x as it ships (Flux off) | `bucket: envtrack/autogen` (database/retention-policy); `token: user:password` when `auth-enabled` | `GET /query?db=envtrack&rp=autogen&epoch=ns&chunked=true&q=...` (a timeline with `chunk_size=500`) with HTTP Basic credentials ([1.x API](https://docs.influxdata.com/influxdb/v1/tools/api/); `services/httpd/handler.go`) |\n")
	p("| 2.x | `bucket: environments`, `org`, `token` (read and write on the bucket); InfluxQL reads the bucket's DBRP mapping: the virtual one (database `environments`, retention policy `autogen`) or one made with `influx v1 dbrp create --db envtrack --rp autogen --bucket-id ID --default` and `database: envtrack` | `GET /query?db=...&rp=...` with `Authorization: Token ...` ([1.x compatibility API](https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/query/), [DBRP mappings](https://docs.influxdata.com/influxdb/v2/query-data/influxql/dbrp/)) |\n")
	p("| 3.x (Core, Enterprise, Cloud) | `bucket: envtrack` (the database), `token` (a database token); `query_language: influxql` (3.x has no Flux) | `GET /query?db=envtrack&...` with `Authorization: Token ...` ([v1 query API](https://docs.influxdata.com/influxdb3/core/query-data/execute-queries/influxdb-v1-api/)) |\n\n")
	p("`influxdb.database` and `influxdb.retention_policy` set what InfluxQL reads where the bucket's name does not say it; `envtrack check-config` prints the effective pair.\n\n")
	p("At start-up (and after a reload that changes the section) envtrack asks InfluxDB once whether it answers the chosen language, and logs one line: `InfluxDB answers InfluxQL reads`, or what is wrong and how to fix it, for example ")
	p("`InfluxDB answers 403 to Flux (Flux query service disabled. ...): set influxdb.query_language: influxql, or enable flux-enabled in InfluxDB`. `envtrack check-config` prints the same line as a warning. Start-up goes on either way: tracking, the journal and the other sinks do not depend on reads.\n\n")
	p("A read InfluxDB refuses (a bad token, Flux turned off, an unknown database or retention policy, an answer cut short by `max-row-limit`) answers **502** with that reason in `{\"error\": ...}`; a read InfluxDB does not answer (connection refused, timeout; or a 502, 503, 504, 408 or 429 from it or a proxy in front of it) answers **503**. Both count in `%s{language, reason}` (`refused`, `unreachable`), shown on the health row of the provisioning dashboard.\n\n", metric.InfluxDBReadFailures.Name)
}

func handbookReplicas(p func(string, ...any)) {
	p("## Replicas and failover\n\n")
	p("With `store.driver: postgres` the journal lives in PostgreSQL (13 or newer) and any number of envtrack replicas share it. ")
	p("Every replica serves the API, the pages, the CLI's reads and `/metrics`, and takes pushes: a push is committed in one transaction that locks the environment's row, so two replicas never record conflicting transitions, and `202` means committed. ")
	p("One replica leads, by a lease held in PostgreSQL: it runs the Argo CD watch, the URL checks, the provisioning timeouts, the sinks and retention. ")
	p("Every write the leader makes (a transition it derived, a sink cursor, a set-aside event, a pruned event) checks the lease's epoch in its own transaction; a replica that lost the lease writes nothing more and steps down (`%s` goes to 0).\n\n", metric.Leader.Name)
	p("**At a failover.** The leader renews its lease every `renew_interval`. When it stops (crash, node failure, a pause longer than the lease) another replica takes the lease once `lease_duration` has passed by the database's clock, at the next epoch (`%s`), and resumes each sink at its durable cursor: InfluxDB and Grafana receive what the old leader had not delivered, once (Grafana annotations are looked up before they are posted again). A request the old leader had already sent when it paused can still land after its successor posted the same annotation; the leader looks the annotations of the events it delivered after the takeover up again, for an hour, and deletes such later duplicates (`%s`; the token needs annotations:delete, which the Editor role has). ", metric.LeaderEpoch.Name, metric.GrafanaDuplicatesDeleted.Name)
	p("A clean stop (SIGTERM, a rolling update) releases the lease: the next replica takes over within one `renew_interval`. Pushes never wait for a leader; Argo CD changes and URL states are derived again from the next poll, with their evidence times.\n\n")
	p("**What to alert on.** [EnvtrackNoLeader](#envtracknoleader) (no replica holds the lease) and [EnvtrackLeaseFlapping](#envtrackleaseflapping) (leadership changes often); `%s` counts commits planned again because another replica wrote the same environment meanwhile (a few are normal under concurrent pushes). ", metric.StoreStaleCommits.Name)
	p("Both rules aggregate across replicas (`max without (instance)`), so they stay right whichever replica leads. `/readyz` is true on a healthy follower, so a readiness probe keeps every replica in the Service.\n\n")
	p("**Moving a journal.** Stop envtrack, then `envtrack store copy --from bbolt:/var/lib/envtrack/envtrack.db --to postgres:DSN` moves the journal with its identity (event ids stay the same, so the sinks deliver nothing twice), its environments, sink cursors, set-aside and undelivered events, Idempotency-Keys and blind windows; `--from postgres:DSN --to bbolt:PATH` moves it back. ")
	p("An interrupted copy resumes when run again; a finished one copies nothing more. Then set `store.driver: postgres` and start the replicas. ")
	p("The schema's migrations are embedded in envtrack and applied at start under an advisory lock; a database migrated by a newer envtrack stops an older one at start with one line, changing nothing (roll forward, not back).\n\n")
	p("**The embedded journal's files.** With `store.driver: bbolt` a commit is acknowledged once it is in `envtrack.db-wal`, the commit log beside `envtrack.db` (one append and one fdatasync), and applied to `envtrack.db` a few milliseconds behind. ")
	p("A start (and `envtrack store copy`) applies what a crash left in the log; a clean stop applies everything and removes the log. Back up both files, or stop envtrack first. ")
	p("A log that does not continue its `envtrack.db` (another store's, or one missing a commit) stops start-up with one line, like a damaged store, changing nothing.\n\n")
}
