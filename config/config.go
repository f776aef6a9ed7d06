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
	"bytes"
	"crypto/x509"
	_ "embed" // for Example
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Example is config/example.yml: every key with its default, commented. It
// loads as is and runs envtrack with no external system.
//
//go:embed example.yml
var Example []byte

// EnvironmentIDRegexp is what an environment id must match.
var EnvironmentIDRegexp = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

var metricNamespaceRegexp = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Defaults, applied by each section's UnmarshalYAML before it decodes.
var (
	DefaultJournalConfig = JournalConfig{
		Retention: model.Duration(30 * 24 * time.Hour),
	}
	DefaultDeliveryConfig = DeliveryConfig{
		BatchSize: 500,
		Linger:    model.Duration(100 * time.Millisecond),
		Backoff:   DefaultBackoffConfig,
	}
	DefaultMetricsConfig = MetricsConfig{
		Namespace:        "blueberry",
		NativeHistograms: true,
	}
	DefaultArgoCDConfig = ArgoCDConfig{
		PollInterval:          model.Duration(15 * time.Second),
		RequestTimeout:        model.Duration(10 * time.Second),
		Backoff:               DefaultBackoffConfig,
		EnvironmentIDLabel:    "blueberry.io/environment-id",
		EnvironmentTypeLabel:  "blueberry.io/environment-type",
		URLAnnotation:         "blueberry.io/url",
		RequestedAtAnnotation: "blueberry.io/requested-at",
		DefaultType:           "default",
	}
	DefaultBackoffConfig = BackoffConfig{
		Initial: model.Duration(time.Second),
		Max:     model.Duration(5 * time.Minute),
	}
	DefaultReadinessConfig = ReadinessConfig{
		ProvisioningTimeout: model.Duration(30 * time.Minute),
		URL:                 DefaultURLConfig,
	}
	DefaultURLConfig = URLConfig{
		Interval:               model.Duration(10 * time.Second),
		Timeout:                model.Duration(5 * time.Second),
		ExpectedStatus:         mustParseStatusMatcher("200-399"),
		Concurrency:            10,
		FailuresBeforeDegraded: 1,
	}
	DefaultStaticEnvironment = StaticEnvironment{
		Type: "default",
	}
	DefaultInfluxDBConfig = InfluxDBConfig{
		Measurement:            "environment_lifecycle",
		DeploymentsMeasurement: "deployments",
		Timeout:                model.Duration(10 * time.Second),
	}
	DefaultGrafanaConfig = GrafanaConfig{
		Timeout: model.Duration(10 * time.Second),
	}
	DefaultAPIConfig = APIConfig{
		MaxBodyBytes: 1 << 20,
	}
	DefaultTargetsConfig = TargetsConfig{
		ProvisioningP50: DurationTarget{Target: model.Duration(2 * time.Minute), Alert: model.Duration(3 * time.Minute)},
		ProvisioningP95: DurationTarget{Target: model.Duration(5 * time.Minute), Alert: model.Duration(10 * time.Minute)},
		SuccessRate:     RateTarget{Target: 98, Alert: 95},
	}
)

// DefaultConfig returns the configuration of an empty file, before Load
// resolves state_dir against the file's directory.
func DefaultConfig() Config {
	return Config{
		ListenAddress: ":9465",
		StateDir:      "./data",
		Journal:       DefaultJournalConfig,
		Delivery:      DefaultDeliveryConfig,
		Metrics:       DefaultMetricsConfig,
		Readiness:     DefaultReadinessConfig,
		API:           DefaultAPIConfig,
		Targets:       DefaultTargetsConfig,
	}
}

// Config is envtrack's configuration file.
type Config struct {
	ListenAddress string              `yaml:"listen_address"`
	StateDir      string              `yaml:"state_dir"`
	Journal       JournalConfig       `yaml:"journal"`
	Metrics       MetricsConfig       `yaml:"metrics"`
	ArgoCD        *ArgoCDConfig       `yaml:"argocd,omitempty"` // nil: no Argo CD
	Readiness     ReadinessConfig     `yaml:"readiness"`
	Environments  []StaticEnvironment `yaml:"environments"`
	InfluxDB      *InfluxDBConfig     `yaml:"influxdb,omitempty"` // nil: answer from the journal
	Grafana       *GrafanaConfig      `yaml:"grafana,omitempty"`  // nil: no annotations
	Delivery      DeliveryConfig      `yaml:"delivery"`
	API           APIConfig           `yaml:"api"`
	Targets       TargetsConfig       `yaml:"targets"`

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
	return nil
}

// JournalConfig is the embedded event journal.
type JournalConfig struct {
	// Retention: events older than this (by recorded time) are pruned.
	Retention model.Duration `yaml:"retention"`
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
	// Linger: after a quiet spell, wait this long for more events before delivering,
	// so that bursts travel in batches.
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
	if c.Linger < 0 || time.Duration(c.Linger) > time.Minute {
		return nodeErrorf(node, "linger", "must be between 0s and 1m, got %s", c.Linger)
	}
	return nil
}

// MetricsConfig is the Prometheus exposition.
type MetricsConfig struct {
	Namespace        string `yaml:"namespace"`
	NativeHistograms bool   `yaml:"native_histograms"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *MetricsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultMetricsConfig
	type plain MetricsConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.Namespace != "" && !metricNamespaceRegexp.MatchString(c.Namespace) {
		return nodeErrorf(node, "namespace", "%q is not a valid metric name prefix (letters, digits and _)", c.Namespace)
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

	EnvironmentIDLabel    string `yaml:"environment_id_label"`
	EnvironmentTypeLabel  string `yaml:"environment_type_label"`
	URLAnnotation         string `yaml:"url_annotation"`
	RequestedAtAnnotation string `yaml:"requested_at_annotation"`
	RepositoryLabel       string `yaml:"repository_label"`
	BranchLabel           string `yaml:"branch_label"`
	CommitLabel           string `yaml:"commit_label"`
	DefaultType           string `yaml:"default_type"`
}

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
	if server.RawQuery != "" || server.Fragment != "" {
		return nodeErrorf(node, "server", "must not have a query or fragment")
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if err := secretPair(node, "token", c.Token != "", c.TokenFile != "", true); err != nil {
		return err
	}
	if err := nonEmptyItems(node, "projects", c.Projects); err != nil {
		return err
	}
	if err := positive(node, "poll_interval", c.PollInterval); err != nil {
		return err
	}
	if err := positive(node, "request_timeout", c.RequestTimeout); err != nil {
		return err
	}
	if c.DefaultType == "" {
		return nodeErrorf(node, "default_type", "must not be empty")
	}
	return nil
}

// TLSConfig configures the TLS client of a section.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
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
	URL                 URLConfig      `yaml:"url"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *ReadinessConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultReadinessConfig
	type plain ReadinessConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	return positive(node, "provisioning_timeout", c.ProvisioningTimeout)
}

// URLConfig is the URL probe.
type URLConfig struct {
	Interval               model.Duration `yaml:"interval"`
	Timeout                model.Duration `yaml:"timeout"`
	ExpectedStatus         StatusMatcher  `yaml:"expected_status"`
	Concurrency            int            `yaml:"concurrency"`
	FailuresBeforeDegraded int            `yaml:"failures_before_degraded"`
	TLS                    TLSConfig      `yaml:"tls"`
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
	}
	return positive(node, "timeout", c.Timeout)
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
	if err := secretPair(node, "token", c.Token != "", c.TokenFile != "", true); err != nil {
		return err
	}
	if err := nonEmptyItems(node, "tags", c.Tags); err != nil {
		return err
	}
	return positive(node, "timeout", c.Timeout)
}

// APIConfig is envtrack's HTTP API. Tokens read from the *_file keys are
// added to WriteTokens and ReadTokens by Load.
type APIConfig struct {
	WriteTokens     []Secret `yaml:"write_tokens"`
	WriteTokensFile string   `yaml:"write_tokens_file"`
	ReadTokens      []Secret `yaml:"read_tokens"`
	ReadTokensFile  string   `yaml:"read_tokens_file"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
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
	if c.MaxBodyBytes <= 0 {
		return nodeErrorf(node, "max_body_bytes", "must be greater than 0")
	}
	return nil
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
type nodeCapture struct{ node *yaml.Node }

func (n *nodeCapture) UnmarshalYAML(value *yaml.Node) error {
	n.node = value
	return nil
}

func captureNode(unmarshal func(any) error) (*yaml.Node, error) {
	var c nodeCapture
	if err := unmarshal(&c); err != nil {
		return nil, err
	}
	return c.node, nil
}

var durationType = reflect.TypeFor[model.Duration]()

// decodeSection decodes a section strictly into v (a *plain) and returns its
// node. Durations are checked first, so that a bad one is reported with its
// line (model.Duration's own error has none).
func decodeSection(unmarshal func(any) error, v any) (*yaml.Node, error) {
	node, err := captureNode(unmarshal)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type != durationType {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		val := mappingValue(node, key)
		if val == nil || val.ShortTag() == "!!null" {
			continue
		}
		if val.Kind != yaml.ScalarNode {
			return nil, nodeErrorf(val, "", "must be a duration such as 15s, 30m or 7d, got %s", describeNode(val))
		}
		if _, err := model.ParseDuration(val.Value); err != nil {
			return nil, nodeErrorf(val, "", "invalid duration %q (use e.g. 500ms, 15s, 30m, 7d)", val.Value)
		}
	}
	if err := unmarshal(v); err != nil {
		return nil, err
	}
	return node, nil
}

func positive(node *yaml.Node, key string, d model.Duration) error {
	if d <= 0 {
		return nodeErrorf(node, key, "must be greater than 0")
	}
	return nil
}

// secretPair checks a key and its key_file twin.
func secretPair(node *yaml.Node, key string, value, file, required bool) error {
	switch {
	case value && file:
		err := nodeErrorf(node, "", "%s and %s_file are mutually exclusive", key, key)
		if k := mappingKey(node, key+"_file"); k != nil {
			err.(*nodeError).line = k.Line
		}
		return err
	case required && !value && !file:
		return nodeErrorf(node, key, "must be set (or %s_file)", key)
	}
	return nil
}

func nonEmptyItems(node *yaml.Node, key string, items []string) error {
	for i, s := range items {
		if s == "" {
			return nodeErrorf(node, fmt.Sprintf("%s[%d]", key, i), "must not be empty")
		}
	}
	return nil
}

// checkHTTPURL checks that s is an absolute http or https URL with a host.
// Its errors never repeat the URL, which may hold credentials.
// requiredHTTPURL checks that the key is set to an http(s) URL.
func requiredHTTPURL(node *yaml.Node, key, v string) error {
	if v == "" {
		return nodeErrorf(node, key, "must be set")
	}
	if _, err := checkHTTPURL(v); err != nil {
		return nodeErrorf(node, key, "%w", err)
	}
	return nil
}

func checkHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("must be an http:// or https:// URL")
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// LoadOptions change how a file is loaded.
type LoadOptions struct {
	// LookupEnv resolves ${VAR} references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load reads and validates the configuration file at path, with ${VAR}
// taken from the process environment.
func Load(path string) (*Config, error) {
	return LoadWithOptions(path, LoadOptions{})
}

// LoadWithOptions is Load with options.
func LoadWithOptions(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return LoadBytesWithOptions(data, path, opts)
}

// LoadBytes parses and validates a configuration. filename names it in
// errors, and relative paths in it (token files, CA files, state_dir) are
// resolved against filename's directory.
func LoadBytes(data []byte, filename string) (*Config, error) {
	return LoadBytesWithOptions(data, filename, LoadOptions{})
}

// LoadBytesWithOptions is LoadBytes with options.
//
// In order: ${VAR} references are expanded in the raw text ($$ is a literal
// $, comments are left alone; an undefined variable is an error); the YAML
// is decoded strictly, each section setting its defaults and checking its
// own fields; then the checks that span sections are made, relative paths
// are resolved and secret files are read.
func LoadBytesWithOptions(data []byte, filename string, opts LoadOptions) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	file := filename
	if file == "" {
		file = "<config>"
	}

	expanded, xerr := expandEnv(data, lookup)
	if xerr != nil {
		e := &Error{File: file, Line: xerr.line, Msg: xerr.msg}
		var root yaml.Node
		if yaml.Unmarshal(expanded, &root) == nil {
			e.Key = newIndex(&root).pathAt(xerr.line, xerr.col)
		}
		return nil, e
	}

	cfg := DefaultConfig()
	doc := document{cfg: &cfg}
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file: the defaults.
	case err != nil:
		return nil, newIndex(doc.root).resolve(file, err)
	default:
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return nil, newIndex(nil).resolve(file, err)
		default:
			return nil, &Error{File: file, Line: next.Line, Msg: "only one YAML document is allowed"}
		}
	}

	cfg.Filename = filename
	cfg.normalize()
	l := &loader{file: file, dir: filepath.Dir(filename), idx: newIndex(doc.root)}
	if err := l.validate(&cfg); err != nil {
		return nil, err
	}
	if err := l.resolveFiles(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// normalize makes an empty list nil, so that "key: []" and no key are the
// same configuration.
func (c *Config) normalize() {
	nilIfEmpty(&c.Environments)
	nilIfEmpty(&c.API.WriteTokens)
	nilIfEmpty(&c.API.ReadTokens)
	if c.ArgoCD != nil {
		nilIfEmpty(&c.ArgoCD.Projects)
	}
	if c.Grafana != nil {
		nilIfEmpty(&c.Grafana.Tags)
	}
}

func nilIfEmpty[T any](s *[]T) {
	if len(*s) == 0 {
		*s = nil
	}
}

// document captures the decoder's own node tree, so that errors found in
// it can be placed by dotted path and line.
type document struct {
	cfg  *Config
	root *yaml.Node
}

func (d *document) UnmarshalYAML(unmarshal func(any) error) error {
	root, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	d.root = root
	return unmarshal(d.cfg)
}

type loader struct {
	file string
	dir  string
	idx  *index
}

func (l *loader) errorf(key, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{File: l.file, Line: l.idx.lineOf(key), Key: key, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// validate makes the checks that span fields or sections.
func (l *loader) validate(c *Config) error {
	_, port, err := net.SplitHostPort(c.ListenAddress)
	if err != nil {
		return l.errorf("listen_address", "must be host:port: %w", err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return l.errorf("listen_address", "port %q must be a number from 0 to 65535", port)
	}

	seen := make(map[string]int, len(c.Environments))
	for i, env := range c.Environments {
		if j, dup := seen[env.ID]; dup {
			return l.errorf(fmt.Sprintf("environments[%d].id", i), "duplicate environment id %q (also environments[%d])", env.ID, j)
		}
		seen[env.ID] = i
	}

	u := c.Readiness.URL
	if u.Timeout > u.Interval {
		return l.errorf("readiness.url.timeout", "must not be greater than readiness.url.interval (%s > %s)", u.Timeout, u.Interval)
	}
	for _, t := range []struct {
		key string
		t   DurationTarget
	}{
		{"targets.provisioning_p50", c.Targets.ProvisioningP50},
		{"targets.provisioning_p95", c.Targets.ProvisioningP95},
	} {
		if t.t.Alert < t.t.Target {
			return l.errorf(t.key+".alert", "must not be less than %s.target (%s < %s)", t.key, t.t.Alert, t.t.Target)
		}
	}
	if sr := c.Targets.SuccessRate; sr.Alert > sr.Target {
		return l.errorf("targets.success_rate.alert", "must not be greater than targets.success_rate.target (%g > %g)", sr.Alert, sr.Target)
	}
	return nil
}

// resolveFiles resolves relative paths against the config file's directory
// and reads the secret files.
func (l *loader) resolveFiles(c *Config) error {
	c.StateDir = l.abs(c.StateDir)
	if a := c.ArgoCD; a != nil {
		if err := l.readSecret("argocd.token_file", &a.TokenFile, &a.Token); err != nil {
			return err
		}
		if err := l.checkCAFile("argocd.tls.ca_file", &a.TLS); err != nil {
			return err
		}
	}
	if err := l.checkCAFile("readiness.url.tls.ca_file", &c.Readiness.URL.TLS); err != nil {
		return err
	}
	if i := c.InfluxDB; i != nil {
		if err := l.readSecret("influxdb.token_file", &i.TokenFile, &i.Token); err != nil {
			return err
		}
	}
	if g := c.Grafana; g != nil {
		if err := l.readSecret("grafana.token_file", &g.TokenFile, &g.Token); err != nil {
			return err
		}
	}
	if err := l.readTokens("api.write_tokens_file", &c.API.WriteTokensFile, &c.API.WriteTokens); err != nil {
		return err
	}
	return l.readTokens("api.read_tokens_file", &c.API.ReadTokensFile, &c.API.ReadTokens)
}

func (l *loader) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

// maxFileSize bounds the files that Load reads (secrets, CA bundles).
const maxFileSize = 4 << 20

func (l *loader) readFile(key string, path *string) ([]byte, error) {
	*path = l.abs(*path)
	f, err := os.Open(*path)
	if err != nil {
		return nil, l.errorf(key, "%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, l.errorf(key, "%w", err)
	}
	if len(data) > maxFileSize {
		return nil, l.errorf(key, "file %s is larger than %d MiB", *path, maxFileSize>>20)
	}
	return data, nil
}

func (l *loader) readSecret(key string, path *string, dst *Secret) error {
	if *path == "" {
		return nil
	}
	data, err := l.readFile(key, path)
	if err != nil {
		return err
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return l.errorf(key, "file %s is empty", *path)
	}
	*dst = Secret(s)
	return nil
}

// readTokens reads a file of tokens, one a line; blank lines and lines
// starting with # are ignored.
func (l *loader) readTokens(key string, path *string, dst *[]Secret) error {
	if *path == "" {
		return nil
	}
	data, err := l.readFile(key, path)
	if err != nil {
		return err
	}
	var tokens []Secret
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, Secret(line))
	}
	if len(tokens) == 0 {
		return l.errorf(key, "file %s holds no token", *path)
	}
	*dst = tokens
	return nil
}

func (l *loader) checkCAFile(key string, t *TLSConfig) error {
	if t.CAFile == "" {
		return nil
	}
	data, err := l.readFile(key, &t.CAFile)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return l.errorf(key, "no PEM certificate found in %s", t.CAFile)
	}
	return nil
}

// Redacted returns the effective configuration as YAML, with every secret
// printed as <secret> and passwords in URLs as xxxxx: what
// `envtrack check-config` prints.
func (c *Config) Redacted() string {
	r := *c
	if c.ArgoCD != nil {
		a := *c.ArgoCD
		a.Server = redactURL(a.Server)
		r.ArgoCD = &a
	}
	if c.InfluxDB != nil {
		i := *c.InfluxDB
		i.URL = redactURL(i.URL)
		r.InfluxDB = &i
	}
	if c.Grafana != nil {
		g := *c.Grafana
		g.URL = redactURL(g.URL)
		r.Grafana = &g
	}
	r.Environments = make([]StaticEnvironment, len(c.Environments))
	for i, e := range c.Environments {
		e.URL = redactURL(e.URL)
		r.Environments[i] = e
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&r); err != nil {
		return fmt.Sprintf("# cannot encode the configuration: %v\n", err)
	}
	_ = enc.Close()
	return b.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
