// Package config is envtrack's configuration: the YAML schema, its defaults,
// and validation.
//
// Loading is strict: an unknown key is an error naming the key and its line,
// every error message reads "<file>:<line>: <dotted.key>: <problem>", and
// ${VAR} references are expanded from the environment before parsing (see
// Load). Defaults are set in each section's UnmarshalYAML, so that a section
// that is present but empty gets them; field checks are done there too, and
// checks that span sections are done by Load. See example.yml (Example) for
// every key and its default.
package config

import (
	_ "embed" // for Example
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Example is config/example.yml: every key with its default, commented. It
// loads as is and runs envtrack with no external system.
//
//go:embed example.yml
var Example []byte

// EnvironmentIDRegexp is what an environment id must match (event.EnvironmentIDPattern,
// the one the API and the query backends check too).
var EnvironmentIDRegexp = regexp.MustCompile(event.EnvironmentIDPattern)

var metricNamespaceRegexp = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Config is envtrack's configuration file.
type Config struct {
	ListenAddress string              `yaml:"listen_address"`
	StateDir      string              `yaml:"state_dir"`
	Store         StoreConfig         `yaml:"store"`
	Journal       JournalConfig       `yaml:"journal"` // journal.retention: retention.events' former name
	Retention     RetentionConfig     `yaml:"retention"`
	Metrics       MetricsConfig       `yaml:"metrics"`
	ArgoCD        *ArgoCDConfig       `yaml:"argocd,omitempty"` // nil: no Argo CD
	Readiness     ReadinessConfig     `yaml:"readiness"`
	Environments  []StaticEnvironment `yaml:"environments"`
	InfluxDB      *InfluxDBConfig     `yaml:"influxdb,omitempty"` // nil: answer from the journal
	Grafana       *GrafanaConfig      `yaml:"grafana,omitempty"`  // nil: no annotations
	Webhooks      []WebhookConfig     `yaml:"webhooks"`
	Web           WebConfig           `yaml:"web"`
	Delivery      DeliveryConfig      `yaml:"delivery"`
	API           APIConfig           `yaml:"api"`
	Targets       TargetsConfig       `yaml:"targets"`
	// SLOs are the objectives per environment type (slos.default for the rest; 000's
	// table when the file names none).
	SLOs SLOs `yaml:"slos"`
	// Failures classify failed provisioning attempts as the user's or the platform's:
	// the file's matchers, then DefaultFailures.
	Failures Failures `yaml:"failures"`
	// Types are the environment types that keep their own value in the `type` label
	// and the InfluxDB `type` tag; any other folds into "other". Empty: the first
	// metrics.max_types types seen keep theirs.
	Types []string `yaml:"types,omitempty"`

	// Filename is the file the configuration was loaded from; relative
	// paths in it were resolved against its directory.
	Filename string `yaml:"-"`
}

// optionalSections are the sections that a bare "key:" (null) still enables,
// with defaults, rather than silently leaving them out.
var optionalSections = []string{"argocd", "influxdb", "grafana"}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface. The
// v2 style is used throughout because it keeps the decoder, hence
// KnownFields(true); yaml.Node.Decode would start a lax one.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultConfig()
	type plain Config
	node, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	for _, k := range optionalSections {
		if v := mappingValue(node, k); v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
			v.Kind, v.Tag, v.Value = yaml.MappingNode, "!!map", ""
		}
	}
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	if c.StateDir == "" {
		return nodeErrorf(node, "state_dir", "must be set")
	}
	if err := c.resolveRetention(node); err != nil {
		return err
	}
	return checkTypes(node, c.Types)
}

// resolveRetention applies journal.retention, retention.events' former name (a file
// written for an earlier envtrack keeps working), and checks the ceiling against the
// retention. Afterwards both keys hold the retention in force.
func (c *Config) resolveRetention(node *yaml.Node) error {
	old := mappingValue(mappingValue(node, "journal"), "retention")
	retention := mappingValue(node, "retention")
	cur := mappingValue(retention, "events")
	switch {
	case old != nil && cur != nil && c.Journal.Retention != c.Retention.Events:
		return nodeErrorf(mappingValue(node, "journal"), "retention",
			"%s disagrees with retention.events (%s): journal.retention is its former name; keep retention.events only",
			c.Journal.Retention, c.Retention.Events)
	case old != nil && cur == nil:
		c.Retention.Events = c.Journal.Retention
	}
	c.Journal.Retention = c.Retention.Events
	if c.Retention.MaxUndelivered < c.Retention.Events {
		at, key := retention, "max_undelivered"
		if mappingValue(retention, key) == nil {
			at, key = node, "retention" // the default ceiling, below a long retention
		}
		return nodeErrorf(at, key, "max_undelivered (%s) must be at least retention.events (%s): it is how long an event a sink has not delivered is kept at most",
			c.Retention.MaxUndelivered, c.Retention.Events)
	}
	return nil
}

// checkTypes validates the types list; errors carry the item's own line.
func checkTypes(node *yaml.Node, types []string) error {
	seen := map[string]int{}
	for i, t := range types {
		var err error
		if !EnvironmentIDRegexp.MatchString(t) {
			err = nodeErrorf(node, fmt.Sprintf("types[%d]", i), "%q is not a valid type (must match %s)", t, EnvironmentIDRegexp)
		} else if j, dup := seen[t]; dup {
			err = nodeErrorf(node, fmt.Sprintf("types[%d]", i), "duplicate type %q (also types[%d])", t, j)
		}
		if err != nil {
			if seq := mappingValue(node, "types"); seq != nil && i < len(seq.Content) {
				err.(*nodeError).line = seq.Content[i].Line
			}
			return err
		}
		seen[t] = i
	}
	return nil
}

// JournalConfig is the embedded event journal.
type JournalConfig struct {
	// Retention is retention.events' former name, still read (Load gives both the value
	// in force).
	Retention model.Duration `yaml:"retention"`
}

// RetentionConfig is how long the journal keeps events (DESIGN §8).
type RetentionConfig struct {
	// Events: events recorded longer ago than this are pruned from the journal, and the
	// Idempotency-Keys recorded then expire; an event a sink has not delivered yet is
	// kept (a sink that is down lags, it loses nothing).
	Events model.Duration `yaml:"events"`
	// MaxUndelivered is the hard ceiling of that: an event a failing sink has not
	// delivered this long after it was recorded is set aside for that sink (kept in the
	// store, counted, alerted on, shown on the landing page), so that a sink that never
	// comes back does not hold the journal forever.
	MaxUndelivered model.Duration `yaml:"max_undelivered"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *RetentionConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultRetentionConfig
	type plain RetentionConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := positive(node, "events", c.Events); err != nil {
		return err
	}
	return positive(node, "max_undelivered", c.MaxUndelivered)
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *JournalConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultJournalConfig
	type plain JournalConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	return positive(node, "retention", c.Retention)
}

// DeliveryConfig is how sinks deliver the journal: batches, and the backoff after a
// failed delivery (the events wait in the journal meanwhile).
type DeliveryConfig struct {
	BatchSize int `yaml:"batch_size"`
	// CatchUpBatchSize: the most events one write carries while the sink is behind
	// (two batches or more waiting: after an outage, or during a burst), so that it
	// catches up in InfluxDB's recommended 5,000-line writes. At least BatchSize.
	CatchUpBatchSize int `yaml:"catch_up_batch_size"`
	// Linger: with fewer than a batch waiting, wait up to this long for more events
	// before delivering, so that bursts travel in batches; the wait ends once no event
	// came for a tenth of it.
	Linger  model.Duration `yaml:"linger"`
	Backoff BackoffConfig  `yaml:"backoff"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *DeliveryConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultDeliveryConfig
	type plain DeliveryConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		return nodeErrorf(node, "batch_size", "must be between 1 and 10000, got %d", c.BatchSize)
	}
	if c.CatchUpBatchSize < 1 || c.CatchUpBatchSize > 10000 {
		return nodeErrorf(node, "catch_up_batch_size", "must be between 1 and 10000, got %d", c.CatchUpBatchSize)
	}
	if c.Linger < 0 || time.Duration(c.Linger) > time.Minute {
		return nodeErrorf(node, "linger", "must be between 0s and 1m, got %s", c.Linger)
	}
	return nil
}

// MetricsConfig is the Prometheus exposition.
type MetricsConfig struct {
	Namespace        string `yaml:"namespace"`
	NativeHistograms bool   `yaml:"native_histograms"`
	// MaxTypes bounds the `type` label when no `types` list is configured.
	MaxTypes int `yaml:"max_types"`
	// ExemplarsWithReadTokens keeps the exemplars (environment ids) on /metrics when
	// api.read_tokens are set; by default they are left out then (ExposeExemplars).
	ExemplarsWithReadTokens bool `yaml:"exemplars_with_read_tokens"`
}

// ExposeExemplars reports whether /metrics shows exemplars, which name environments:
// always without api.read_tokens (reads are open anyway), and with them only when
// metrics.exemplars_with_read_tokens says so, since the read tokens do not guard
// /metrics (--web.config.file does).
func (c *Config) ExposeExemplars() bool {
	return len(c.API.ReadTokens) == 0 || c.Metrics.ExemplarsWithReadTokens
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *MetricsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultMetricsConfig
	type plain MetricsConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.Namespace == "" {
		return nodeErrorf(node, "namespace", "must not be empty: the lifecycle metrics need a prefix")
	}
	if !metricNamespaceRegexp.MatchString(c.Namespace) {
		return nodeErrorf(node, "namespace", "%q is not a valid metric name prefix (letters, digits and _)", c.Namespace)
	}
	if c.MaxTypes < 1 || c.MaxTypes > 1000 {
		return nodeErrorf(node, "max_types", "must be between 1 and 1000, got %d", c.MaxTypes)
	}
	return nil
}

// ArgoCDConfig is the Argo CD source. The section is optional.
type ArgoCDConfig struct {
	Server         string         `yaml:"server"`
	Token          Secret         `yaml:"token"`
	TokenFile      string         `yaml:"token_file"`
	Projects       []string       `yaml:"projects"`
	Selector       string         `yaml:"selector"`
	PollInterval   model.Duration `yaml:"poll_interval"`
	RequestTimeout model.Duration `yaml:"request_timeout"`
	TLS            TLSConfig      `yaml:"tls"`
	Backoff        BackoffConfig  `yaml:"backoff"`
	// Mode is how envtrack follows Argo CD: "watch" (the application stream, falling
	// back to polling when the stream is refused or buffered) or "poll".
	Mode string `yaml:"mode"`
	// ResyncInterval: in watch mode, how often the Applications are listed again in
	// full to repair drift (as Kubernetes informers resync).
	ResyncInterval model.Duration `yaml:"resync_interval"`
	// HistoryConcurrency bounds the GET /api/v1/applications/{name} requests in flight
	// at once (status.history reads, deadline confirmations): a poll's first sight of
	// 100,000 running Applications reads as many histories (a watch's first session
	// takes them from the stream), and Argo CD's API server is shared with its UI and
	// CLI.
	HistoryConcurrency int `yaml:"history_concurrency"`

	EnvironmentIDLabel    string `yaml:"environment_id_label"`
	EnvironmentTypeLabel  string `yaml:"environment_type_label"`
	URLAnnotation         string `yaml:"url_annotation"`
	RequestedAtAnnotation string `yaml:"requested_at_annotation"`
	RepositoryLabel       string `yaml:"repository_label"`
	BranchLabel           string `yaml:"branch_label"`
	CommitLabel           string `yaml:"commit_label"`
	DefaultType           string `yaml:"default_type"`
}

// Values of argocd.mode.
const (
	ArgoCDModeWatch = "watch"
	ArgoCDModePoll  = "poll"
)

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *ArgoCDConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultArgoCDConfig
	type plain ArgoCDConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.Server == "" {
		return nodeErrorf(node, "server", "must be set")
	}
	server, err := checkHTTPURL(c.Server)
	if err != nil {
		return nodeErrorf(node, "server", "%w", err)
	}
	if server.RawQuery != "" || server.Fragment != "" || server.ForceQuery {
		return nodeErrorf(node, "server", "must not have a query or fragment")
	}
	if err := noCredentials(node, "server", c.Server); err != nil {
		return err
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if err := secretPair(node, "token", c.Token != "", c.TokenFile != "", true); err != nil {
		return err
	}
	if err := nonEmptyItems(node, "projects", c.Projects); err != nil {
		return err
	}
	if strings.IndexFunc(c.Selector, unicode.IsControl) >= 0 {
		return nodeErrorf(node, "selector", "must not contain control characters")
	}
	if err := positive(node, "poll_interval", c.PollInterval); err != nil {
		return err
	}
	if err := positive(node, "request_timeout", c.RequestTimeout); err != nil {
		return err
	}
	if c.Mode != ArgoCDModeWatch && c.Mode != ArgoCDModePoll {
		return nodeErrorf(node, "mode", "must be %q or %q, got %q", ArgoCDModeWatch, ArgoCDModePoll, c.Mode)
	}
	if err := positive(node, "resync_interval", c.ResyncInterval); err != nil {
		return err
	}
	if c.HistoryConcurrency < 1 || c.HistoryConcurrency > 64 {
		return nodeErrorf(node, "history_concurrency", "must be between 1 and 64, got %d", c.HistoryConcurrency)
	}
	if c.DefaultType == "" {
		return nodeErrorf(node, "default_type", "must not be empty")
	}
	return nil
}

// BackoffConfig is an exponential backoff after failures.
type BackoffConfig struct {
	Initial model.Duration `yaml:"initial"`
	Max     model.Duration `yaml:"max"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *BackoffConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultBackoffConfig
	type plain BackoffConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := positive(node, "initial", c.Initial); err != nil {
		return err
	}
	if c.Max < c.Initial {
		return nodeErrorf(node, "max", "must not be less than initial (%s < %s)", c.Max, c.Initial)
	}
	return nil
}

// ReadinessConfig says when an environment is ready.
type ReadinessConfig struct {
	ProvisioningTimeout model.Duration `yaml:"provisioning_timeout"`
	// TerminationTimeout: terminating longer than this is a stuck termination (flagged,
	// counted and alerted on; no event). Per type, or one for all; 0 turns it off.
	TerminationTimeout TypedTimeout `yaml:"termination_timeout"`
	// RequestedExpiry: an environment still requested (created, never provisioning) this
	// long after its created event is forgotten (no event: its created event stays in
	// the journal), so abandoned requests do not hold api.max_environments forever.
	RequestedExpiry model.Duration `yaml:"requested_expiry"`
	URL             URLConfig      `yaml:"url"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *ReadinessConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultReadinessConfig
	type plain ReadinessConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := positive(node, "provisioning_timeout", c.ProvisioningTimeout); err != nil {
		return err
	}
	return positive(node, "requested_expiry", c.RequestedExpiry)
}

// URLConfig is the URL probe.
type URLConfig struct {
	Interval               model.Duration `yaml:"interval"`
	Timeout                model.Duration `yaml:"timeout"`
	ExpectedStatus         StatusMatcher  `yaml:"expected_status"`
	Concurrency            int            `yaml:"concurrency"`
	FailuresBeforeDegraded int            `yaml:"failures_before_degraded"`
	TLS                    TLSConfig      `yaml:"tls"`
	// FollowCrossHostRedirects: a redirect to another host is followed; by default the
	// redirect is the answer (its 3xx status is matched), so a URL someone wrote into an
	// Application cannot lead the probe to any other host.
	FollowCrossHostRedirects bool `yaml:"follow_cross_host_redirects"`
	// DenyNetworks: the probe never connects to an address in these networks (checked
	// on the address it connects to, after DNS resolution, redirects included).
	DenyNetworks Networks `yaml:"deny_networks"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *URLConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultURLConfig
	type plain URLConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := positive(node, "interval", c.Interval); err != nil {
		return err
	}
	if err := positive(node, "timeout", c.Timeout); err != nil {
		return err
	}
	if c.ExpectedStatus.IsZero() {
		return nodeErrorf(node, "expected_status", "must not be empty")
	}
	if c.Concurrency < 1 {
		return nodeErrorf(node, "concurrency", "must be at least 1")
	}
	if c.FailuresBeforeDegraded < 1 {
		return nodeErrorf(node, "failures_before_degraded", "must be at least 1")
	}
	return nil
}

// StaticEnvironment is an environment known by its URL only, without Argo CD.
type StaticEnvironment struct {
	ID   string `yaml:"id"`
	URL  string `yaml:"url"`
	Type string `yaml:"type"`
	Name string `yaml:"name"` // defaults to ID
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *StaticEnvironment) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultStaticEnvironment
	type plain StaticEnvironment
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	switch {
	case c.ID == "":
		return nodeErrorf(node, "id", "must be set")
	case !EnvironmentIDRegexp.MatchString(c.ID):
		return nodeErrorf(node, "id", "%q is not a valid environment id (must match %s)", c.ID, EnvironmentIDRegexp)
	case c.URL == "":
		return nodeErrorf(node, "url", "must be set")
	case c.Type == "":
		return nodeErrorf(node, "type", "must not be empty")
	}
	if _, err := checkHTTPURL(c.URL); err != nil {
		return nodeErrorf(node, "url", "%w", err)
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	return nil
}

// InfluxDBConfig is the InfluxDB sink and query backend. The section is
// optional. Token may be empty (an open InfluxDB 1.8) or "user:password".
type InfluxDBConfig struct {
	URL                    string         `yaml:"url"`
	Token                  Secret         `yaml:"token"`
	TokenFile              string         `yaml:"token_file"`
	Org                    string         `yaml:"org"`
	Bucket                 string         `yaml:"bucket"`
	Measurement            string         `yaml:"measurement"`
	DeploymentsMeasurement string         `yaml:"deployments_measurement"`
	Timeout                model.Duration `yaml:"timeout"`
	// QueryLanguage is how envtrack reads back: QueryLanguageInfluxQL (the v1 /query
	// API, served by InfluxDB 1.x as it ships, 2.x with a DBRP mapping and 3.x) or
	// QueryLanguageFlux (1.8 with flux-enabled, 2.x). Writes are the same either way.
	QueryLanguage string `yaml:"query_language"`
	// Database and RetentionPolicy are what InfluxQL reads (db and rp of /query); unset,
	// they come from Bucket (see DBRP). With Flux they must stay unset.
	Database        string `yaml:"database"`
	RetentionPolicy string `yaml:"retention_policy"`
}

// Values of influxdb.query_language.
const (
	QueryLanguageInfluxQL = "influxql"
	QueryLanguageFlux     = "flux"
)

// DBRP is the database and retention policy InfluxQL reads: Database and
// RetentionPolicy where set, else the bucket's own name split as InfluxDB names it
// ("db/rp"; a bucket without "/" is the database, with its default retention policy).
// That is the mapping 1.8 applies to the v2 write API's bucket and the "virtual" DBRP
// mapping 2.x gives every bucket; 3.x's database is the bucket.
func (c *InfluxDBConfig) DBRP() (database, retentionPolicy string) {
	db, rp, _ := strings.Cut(c.Bucket, "/")
	if c.Database != "" {
		db, rp = c.Database, ""
	}
	if c.RetentionPolicy != "" {
		rp = c.RetentionPolicy
	}
	return db, rp
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *InfluxDBConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultInfluxDBConfig
	type plain InfluxDBConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := requiredHTTPURL(node, "url", c.URL); err != nil {
		return err
	}
	if err := secretPair(node, "token", c.Token != "", c.TokenFile != "", false); err != nil {
		return err
	}
	switch {
	case c.Bucket == "":
		return nodeErrorf(node, "bucket", "must be set")
	case c.Measurement == "":
		return nodeErrorf(node, "measurement", "must not be empty")
	case c.DeploymentsMeasurement == "":
		return nodeErrorf(node, "deployments_measurement", "must not be empty")
	case c.DeploymentsMeasurement == c.Measurement:
		if mappingKey(node, "deployments_measurement") == nil {
			return nodeErrorf(node, "measurement", "must differ from deployments_measurement (both %q)", c.Measurement)
		}
		return nodeErrorf(node, "deployments_measurement", "must differ from measurement (both %q)", c.Measurement)
	}
	if err := positive(node, "timeout", c.Timeout); err != nil {
		return err
	}
	return c.checkQueryLanguage(node)
}

// checkQueryLanguage checks query_language and, for InfluxQL, fills in database and
// retention_policy from the bucket, so that check-config prints what is read.
func (c *InfluxDBConfig) checkQueryLanguage(node *yaml.Node) error {
	names := []struct{ key, v string }{{"database", c.Database}, {"retention_policy", c.RetentionPolicy},
		{"measurement", c.Measurement}, {"deployments_measurement", c.DeploymentsMeasurement}}
	switch c.QueryLanguage {
	case QueryLanguageInfluxQL:
		for _, n := range names {
			if strings.ContainsAny(n.v, "\x00\r") {
				return nodeErrorf(node, n.key, "must not contain NUL or carriage return (InfluxQL cannot quote them)")
			}
		}
		c.Database, c.RetentionPolicy = c.DBRP()
		return nil
	case QueryLanguageFlux:
		for _, n := range names[:2] {
			if n.v != "" {
				return nodeErrorf(node, n.key, "applies to query_language: %s only (Flux reads the bucket)", QueryLanguageInfluxQL)
			}
		}
		return nil
	}
	return nodeErrorf(node, "query_language", "must be %q or %q, got %q", QueryLanguageInfluxQL, QueryLanguageFlux, c.QueryLanguage)
}

// GrafanaConfig is the Grafana annotations sink. The section is optional.
type GrafanaConfig struct {
	URL          string         `yaml:"url"`
	Token        Secret         `yaml:"token"`
	TokenFile    string         `yaml:"token_file"`
	DashboardUID string         `yaml:"dashboard_uid"`
	Tags         []string       `yaml:"tags"`
	Timeout      model.Duration `yaml:"timeout"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *GrafanaConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultGrafanaConfig
	type plain GrafanaConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := requiredHTTPURL(node, "url", c.URL); err != nil {
		return err
	}
	if err := grafanaURL(node, c.URL); err != nil {
		return err
	}
	if err := secretPair(node, "token", c.Token != "", c.TokenFile != "", true); err != nil {
		return err
	}
	c.DashboardUID = strings.TrimSpace(c.DashboardUID)
	for i, t := range c.Tags {
		c.Tags[i] = strings.TrimSpace(t)
	}
	if err := nonEmptyItems(node, "tags", c.Tags); err != nil {
		return err
	}
	if err := grafanaTags(node, c.Tags); err != nil {
		return err
	}
	return positive(node, "timeout", c.Timeout)
}

// MaxBodyBytesCeiling bounds api.max_body_bytes: a push body is read into memory
// whole, so the setting must not let one request take the daemon's memory.
const MaxBodyBytesCeiling = 16 << 20

// APIConfig is envtrack's HTTP API. Tokens read from the *_file keys are
// added to WriteTokens and ReadTokens by Load.
type APIConfig struct {
	WriteTokens     []Secret `yaml:"write_tokens"`
	WriteTokensFile string   `yaml:"write_tokens_file"`
	ReadTokens      []Secret `yaml:"read_tokens"`
	ReadTokensFile  string   `yaml:"read_tokens_file"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	// MaxBatch is the most events one batch push (a JSON array or NDJSON body) may hold.
	MaxBatch int `yaml:"max_batch"`
	// MaxEnvironments bounds the environments envtrack tracks: beyond it, a push for a
	// new environment id answers 429 (the environments of Argo CD and of the config are
	// always tracked).
	MaxEnvironments int `yaml:"max_environments"`

	// The HTTP server's protection against slow and numerous clients (config/server.go).
	ReadHeaderTimeout model.Duration `yaml:"read_header_timeout"`
	ReadTimeout       model.Duration `yaml:"read_timeout"`
	WriteTimeout      model.Duration `yaml:"write_timeout"`
	IdleTimeout       model.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int            `yaml:"max_header_bytes"`
	MaxConnections    int            `yaml:"max_connections"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *APIConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultAPIConfig
	type plain APIConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	for _, p := range []struct {
		key    string
		tokens []Secret
		file   string
	}{
		{"write_tokens", c.WriteTokens, c.WriteTokensFile},
		{"read_tokens", c.ReadTokens, c.ReadTokensFile},
	} {
		if len(p.tokens) > 0 && p.file != "" {
			err := nodeErrorf(node, "", "%s and %s_file are mutually exclusive", p.key, p.key)
			if k := mappingKey(node, p.key+"_file"); k != nil {
				err.(*nodeError).line = k.Line
			}
			return err
		}
		for i, t := range p.tokens {
			if t == "" {
				return nodeErrorf(node, fmt.Sprintf("%s[%d]", p.key, i), "must not be empty")
			}
		}
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > MaxBodyBytesCeiling {
		return nodeErrorf(node, "max_body_bytes", "must be between 1 and %d (16 MiB), got %d", MaxBodyBytesCeiling, c.MaxBodyBytes)
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxBatchCeiling {
		return nodeErrorf(node, "max_batch", "must be between 1 and %d, got %d", MaxBatchCeiling, c.MaxBatch)
	}
	if c.MaxEnvironments < 1 {
		return nodeErrorf(node, "max_environments", "must be at least 1, got %d", c.MaxEnvironments)
	}
	return c.checkServer(node)
}

// TargetsConfig are the service-level targets of 000; the alert rules and
// the performance API use them.
type TargetsConfig struct {
	ProvisioningP50 DurationTarget `yaml:"provisioning_p50"`
	ProvisioningP95 DurationTarget `yaml:"provisioning_p95"`
	SuccessRate     RateTarget     `yaml:"success_rate"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *TargetsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultTargetsConfig
	type plain TargetsConfig
	_, err := decodeSection(unmarshal, (*plain)(c))
	return err
}

// DurationTarget is a latency target and the threshold that alerts.
// Its defaults come from TargetsConfig: a key left out keeps its default.
type DurationTarget struct {
	Target model.Duration `yaml:"target"`
	Alert  model.Duration `yaml:"alert"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *DurationTarget) UnmarshalYAML(unmarshal func(any) error) error {
	type plain DurationTarget
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if err := positive(node, "target", c.Target); err != nil {
		return err
	}
	return positive(node, "alert", c.Alert)
}

// RateTarget is a success-rate target and the threshold that alerts, in
// percent (0 < x <= 100). Its defaults come from TargetsConfig.
type RateTarget struct {
	Target float64 `yaml:"target"`
	Alert  float64 `yaml:"alert"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *RateTarget) UnmarshalYAML(unmarshal func(any) error) error {
	type plain RateTarget
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"target", c.Target}, {"alert", c.Alert}} {
		if !(f.v > 0 && f.v <= 100) {
			return nodeErrorf(node, f.key, "must be a percentage greater than 0 and at most 100")
		}
	}
	return nil
}

// nodeCapture grabs the node being decoded, from a v2-style unmarshaler.
