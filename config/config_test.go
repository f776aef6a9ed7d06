package config

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// testEnv is the environment the tests give to ${VAR}; nothing reads the
// process environment.
var testEnv = map[string]string{
	"ARGOCD_TOKEN":  "argocd-token-value-1234",
	"INFLUX_TOKEN":  "influx-token-value-5678",
	"GRAFANA_TOKEN": "grafana-token-value-9012",
	"READ_TOKEN":    "read-token-value-3456",
	// The Standard Webhooks libraries' test secret.
	"WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}

func lookup(env map[string]string) loadOptions {
	return loadOptions{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
}

func dur(s string) model.Duration {
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestLoadExample(t *testing.T) {
	onDisk, err := os.ReadFile("example.yml")
	require.NoError(t, err)
	require.Equal(t, onDisk, Example, "the embedded Example is example.yml")

	// Nothing in the environment: the active part needs no variable.
	cfg, err := loadBytes(Example, "config/example.yml", lookup(nil))
	require.NoError(t, err)

	require.Equal(t, "127.0.0.1:9465", cfg.ListenAddress)
	require.Equal(t, filepath.Join("config", "data"), cfg.StateDir)
	require.Equal(t, dur("30d"), cfg.Journal.Retention)
	require.Equal(t, DefaultMetricsConfig, cfg.Metrics)
	require.Nil(t, cfg.ArgoCD)
	require.Nil(t, cfg.InfluxDB)
	require.Nil(t, cfg.Grafana)
	require.Nil(t, cfg.Webhooks)
	require.Equal(t, WebConfig{}, cfg.Web)
	require.Equal(t, DefaultReadinessConfig, cfg.Readiness)
	require.Equal(t, []StaticEnvironment{{ID: "envtrack", URL: "http://127.0.0.1:9465/healthz", Type: "demo", Name: "envtrack itself"}}, cfg.Environments)
	require.Equal(t, DefaultAPIConfig, cfg.API)
	require.Equal(t, DefaultTargetsConfig, cfg.Targets)
	require.True(t, cfg.Readiness.URL.ExpectedStatus.Match(204))
	require.False(t, cfg.Readiness.URL.ExpectedStatus.Match(404))
}

// uncommentSections turns the commented-out optional sections of the
// example back on.
func uncommentSections(example string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(example) {
		switch {
		case line == "#argocd:\n" || line == "#influxdb:\n" || line == "#grafana:\n" || line == "#webhooks:\n":
			in = true
			line = line[1:]
		case in && strings.HasPrefix(line, "#  "):
			line = line[1:]
		default:
			in = false
		}
		b.WriteString(line)
	}
	return b.String()
}

// The commented-out sections document their defaults: uncommented, they
// load and give the defaults, apart from the values they show on purpose.
func TestLoadExampleUncommented(t *testing.T) {
	text := uncommentSections(string(Example))
	require.NotContains(t, text, "\n#argocd:")
	cfg, err := loadBytes([]byte(text), "example.yml", lookup(testEnv))
	require.NoError(t, err)

	require.NotNil(t, cfg.ArgoCD)
	wantArgo := DefaultArgoCDConfig
	wantArgo.Server = "https://argocd.example.com"
	wantArgo.Token = Secret(testEnv["ARGOCD_TOKEN"])
	wantArgo.Selector = "blueberry.io/managed=true"
	require.Equal(t, &wantArgo, cfg.ArgoCD)

	wantInflux := DefaultInfluxDBConfig
	wantInflux.URL = "http://localhost:8086"
	wantInflux.Token = Secret(testEnv["INFLUX_TOKEN"])
	wantInflux.Org = "blueberry"
	wantInflux.Bucket = "environments"
	wantInflux.Database = "environments" // InfluxQL's database, from the bucket
	require.Equal(t, &wantInflux, cfg.InfluxDB)

	wantGrafana := DefaultGrafanaConfig
	wantGrafana.URL = "http://localhost:3000"
	wantGrafana.Token = Secret(testEnv["GRAFANA_TOKEN"])
	require.Equal(t, &wantGrafana, cfg.Grafana)

	wantWebhook := DefaultWebhookConfig
	wantWebhook.Name, wantWebhook.URL = "ci", "https://hooks.example.com/envtrack"
	wantWebhook.Secret = Secret(testEnv["WEBHOOK_SECRET"])
	wantWebhook.Events = []string{"ready", "provisioning_failed"}
	require.Equal(t, []WebhookConfig{wantWebhook}, cfg.Webhooks)
}

// Every key of the schema appears in example.yml.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var keys []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[StatusMatcher]() || t == reflect.TypeFor[TypedTimeout]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			keys = append(keys, name)
			if f.Type != durationType {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	require.Greater(t, len(keys), 60)
	for _, k := range keys {
		require.Regexp(t, regexp.MustCompile(`(^|[\s{,#])`+regexp.QuoteMeta(k)+`:`), string(Example), "key %q", k)
	}
}

func TestLoadFull(t *testing.T) {
	cfg, err := loadWithOptions("testdata/full.yml", lookup(testEnv))
	require.NoError(t, err)

	require.Equal(t, "testdata/full.yml", cfg.Filename)
	require.Equal(t, "0.0.0.0:19465", cfg.ListenAddress)
	require.Equal(t, filepath.Join("testdata", "state"), cfg.StateDir)
	require.Equal(t, dur("14d"), cfg.Journal.Retention)
	require.Equal(t, RetentionConfig{Events: dur("14d"), MaxUndelivered: dur("90d")}, cfg.Retention, "journal.retention is retention.events' former name")
	require.Equal(t, MetricsConfig{Namespace: "acme", MaxTypes: 20}, cfg.Metrics)
	require.Equal(t, []string{"preview", "staging"}, cfg.Types)

	a := cfg.ArgoCD
	require.NotNil(t, a)
	require.Equal(t, "https://argocd.example.com", a.Server, "trailing slash trimmed")
	require.Equal(t, Secret("argocd-token-value-1234"), a.Token)
	require.Equal(t, []string{"platform", "previews"}, a.Projects)
	require.Equal(t, "blueberry.io/managed=true", a.Selector)
	require.Equal(t, dur("30s"), a.PollInterval)
	require.Equal(t, dur("20s"), a.RequestTimeout)
	require.Equal(t, TLSConfig{CAFile: filepath.Join("testdata", "secrets", "ca.pem")}, a.TLS)
	require.Equal(t, BackoffConfig{Initial: dur("2s"), Max: dur("10m")}, a.Backoff)
	require.Equal(t, "acme.io/env-id", a.EnvironmentIDLabel)
	require.Equal(t, "acme.io/env-type", a.EnvironmentTypeLabel)
	require.Equal(t, "acme.io/url", a.URLAnnotation)
	require.Equal(t, "acme.io/requested-at", a.RequestedAtAnnotation)
	require.Equal(t, "acme.io/repository", a.RepositoryLabel)
	require.Equal(t, "acme.io/branch", a.BranchLabel)
	require.Equal(t, "acme.io/commit", a.CommitLabel)
	require.Equal(t, "preview", a.DefaultType)
	tlsCfg, err := a.TLS.ClientConfig()
	require.NoError(t, err)
	require.NotNil(t, tlsCfg.RootCAs)

	r := cfg.Readiness
	require.Equal(t, dur("45m"), r.ProvisioningTimeout)
	require.Equal(t, TypedTimeout{Default: dur("1h"), ByType: map[string]model.Duration{"preview": dur("10m")}}, r.TerminationTimeout)
	require.Equal(t, 10*time.Minute, r.TerminationTimeout.For("preview"))
	require.Equal(t, time.Hour, r.TerminationTimeout.For("staging"))
	require.Equal(t, dur("2d"), r.RequestedExpiry)
	require.Equal(t, dur("20s"), r.URL.Interval)
	require.Equal(t, dur("20s"), r.URL.Timeout)
	require.Equal(t, []string{"200-299", "301", "302"}, r.URL.ExpectedStatus.Specs())
	for code, want := range map[int]bool{200: true, 299: true, 300: false, 301: true, 302: true, 303: false, 500: false} {
		require.Equal(t, want, r.URL.ExpectedStatus.Match(code), "code %d", code)
	}
	require.Equal(t, 4, r.URL.Concurrency)
	require.Equal(t, 3, r.URL.FailuresBeforeDegraded)
	require.Equal(t, TLSConfig{InsecureSkipVerify: true}, r.URL.TLS)
	require.True(t, r.URL.FollowCrossHostRedirects)
	require.Equal(t, Networks{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8")}, r.URL.DenyNetworks, "parsed, masked")
	require.True(t, r.URL.DenyNetworks.Contains(netip.MustParseAddr("::ffff:10.9.9.9")))
	require.False(t, r.URL.DenyNetworks.Contains(netip.MustParseAddr("11.0.0.1")))

	require.Equal(t, []StaticEnvironment{
		{ID: "staging", URL: "https://staging.example.com/healthz", Type: "staging", Name: "staging"},
		{ID: "prod.eu-1", URL: "https://user:hunter2@prod.example.com/healthz", Type: "production", Name: "Production (EU)"},
	}, cfg.Environments)

	require.Equal(t, &InfluxDBConfig{
		URL:                    "http://localhost:8086",
		Token:                  "influx-token-value-5678",
		Org:                    "blueberry",
		Bucket:                 "environments/autogen",
		Measurement:            "env_lifecycle",
		DeploymentsMeasurement: "deploys",
		Timeout:                dur("5s"),
		QueryLanguage:          "influxql",
		Database:               "environments", // from the bucket's "db/rp"
		RetentionPolicy:        "autogen",
	}, cfg.InfluxDB)

	require.Equal(t, &GrafanaConfig{
		URL:          "http://localhost:3000",
		Token:        "grafana-token-from-file",
		TokenFile:    filepath.Join("testdata", "secrets", "grafana.token"),
		DashboardUID: "envtrack-overview",
		Tags:         []string{"idp", "envtrack"},
		Timeout:      dur("3s"),
	}, cfg.Grafana)

	require.Equal(t, APIConfig{
		WriteTokens:     []Secret{"write-token-one", "write-token-two"},
		WriteTokensFile: filepath.Join("testdata", "secrets", "write.tokens"),
		ReadTokens:      []Secret{"read-token-value-3456", "price: $5"},
		MaxBodyBytes:    65536,
		MaxBatch:        500,
		MaxEnvironments: 5000,
		// Server limits: two set, the others keep their defaults.
		ReadHeaderTimeout: DefaultAPIConfig.ReadHeaderTimeout,
		ReadTimeout:       dur("20s"),
		WriteTimeout:      DefaultAPIConfig.WriteTimeout,
		IdleTimeout:       DefaultAPIConfig.IdleTimeout,
		MaxHeaderBytes:    DefaultAPIConfig.MaxHeaderBytes,
		MaxConnections:    100,
	}, cfg.API)

	require.Equal(t, WebConfig{ExternalURL: "https://envtrack.example.com/sub"}, cfg.Web, "trailing slash trimmed")
	require.Equal(t, "https://envtrack.example.com/sub/environments/pr%2F1", cfg.Web.Link("environments/pr%2F1"))
	require.Equal(t, []WebhookConfig{
		{
			Name: "ci", URL: "https://hooks.example.com/envtrack?token=qs-secret-value", Secret: Secret(testEnv["WEBHOOK_SECRET"]),
			Format: "cloudevents", Events: []string{"ready", "provisioning_failed"}, Types: []string{"preview"}, Timeout: dur("5s"),
			Headers: Headers{"Authorization": "Bearer header-secret-value", "X-Team": "platform"},
		},
		{
			Name: "chat", URL: "https://hooks.slack.com/services/T000/B000/slack-path-secret", Format: "slack",
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SecretFile: filepath.Join("testdata", "secrets", "webhook.secret"),
			IncludeBackfill: true, Timeout: DefaultWebhookConfig.Timeout,
		},
	}, cfg.Webhooks)

	require.Equal(t, TargetsConfig{
		ProvisioningP50: DurationTarget{Target: dur("90s"), Alert: dur("3m")}, // alert keeps its default
		ProvisioningP95: DurationTarget{Target: dur("5m"), Alert: dur("15m")}, // target keeps its default
		SuccessRate:     RateTarget{Target: 99.5, Alert: 97},
	}, cfg.Targets)
}

func TestLoadEmpty(t *testing.T) {
	for _, text := range []string{"", "\n", "# nothing but a comment\n", "---\n", "~\n"} {
		cfg, err := loadBytes([]byte(text), "/etc/envtrack/envtrack.yml", loadOptions{})
		require.NoError(t, err, "%q", text)
		want := DefaultConfig()
		want.StateDir = "/etc/envtrack/data"
		want.Filename = "/etc/envtrack/envtrack.yml"
		require.Equal(t, &want, cfg, "%q", text)
	}
}

// A section that is present gets its defaults for the keys it leaves out.
func TestSectionDefaults(t *testing.T) {
	cfg, err := loadBytes([]byte(`
readiness:
  url:
    concurrency: 3
targets:
  success_rate: {alert: 90}
grafana:
  url: http://grafana:3000
  token: abc
environments:
  - {id: a, url: "http://a/"}
`), "/x/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	wantURL := DefaultURLConfig
	wantURL.Concurrency = 3
	require.Equal(t, ReadinessConfig{ProvisioningTimeout: dur("30m"), TerminationTimeout: TypedTimeout{Default: dur("30m")}, RequestedExpiry: dur("7d"), URL: wantURL}, cfg.Readiness)
	require.Equal(t, RateTarget{Target: 98, Alert: 90}, cfg.Targets.SuccessRate)
	require.Equal(t, DefaultTargetsConfig.ProvisioningP95, cfg.Targets.ProvisioningP95)
	require.Equal(t, DefaultGrafanaConfig.Timeout, cfg.Grafana.Timeout)
	require.Equal(t, []StaticEnvironment{{ID: "a", URL: "http://a/", Type: "default", Name: "a"}}, cfg.Environments)
	require.Nil(t, cfg.ArgoCD)
	require.Nil(t, cfg.InfluxDB)
}

// TestRetentionKeys: retention.events and max_undelivered (DESIGN §8), the default
// ceiling, and journal.retention, the former name, read into both.
func TestRetentionKeys(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       RetentionConfig
	}{
		{"defaults", "state_dir: d\n", RetentionConfig{Events: dur("30d"), MaxUndelivered: dur("90d")}},
		{"both keys", "state_dir: d\nretention: {events: 7d, max_undelivered: 14d}\n", RetentionConfig{Events: dur("7d"), MaxUndelivered: dur("14d")}},
		{"the former name", "state_dir: d\njournal: {retention: 60d}\n", RetentionConfig{Events: dur("60d"), MaxUndelivered: dur("90d")}},
		{"both names agreeing", "state_dir: d\njournal: {retention: 60d}\nretention: {events: 60d}\n", RetentionConfig{Events: dur("60d"), MaxUndelivered: dur("90d")}},
	} {
		cfg, err := loadBytes([]byte(tc.yaml), "envtrack.yml", lookup(nil))
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, cfg.Retention, tc.name)
		require.Equal(t, tc.want.Events, cfg.Journal.Retention, tc.name)
	}
}

func TestLoadInvalid(t *testing.T) {
	for _, tc := range []struct {
		file string
		err  string
	}{
		{"unknown-top-level-key", `2: unknown key "listen_adress"`},
		{"unknown-nested-key", `4: unknown key "sever" in argocd`},
		{"unknown-deep-key", `4: unknown key "ca_fil" in readiness.url.tls`},
		{"unknown-key-in-list", `3: unknown key "uri" in environments[0]`},
		{"poll-interval-type", `4: argocd.poll_interval: invalid duration "fifteen" (use e.g. 500ms, 15s, 30m, 7d)`},
		{"poll-interval-list", `4: argocd.poll_interval: must be a duration such as 15s, 30m or 7d, got a list`},
		{"poll-interval-zero", `7: argocd.poll_interval: must be greater than 0`},
		{"argocd-mode", `4: argocd.mode: must be "watch" or "poll", got "stream"`},
		{"argocd-resync-zero", `5: argocd.resync_interval: must be greater than 0`},
		{"argocd-history-concurrency", `4: argocd.history_concurrency: must be between 1 and 64, got 0`},
		{"retention-negative", `2: journal.retention: invalid duration "-1d" (use e.g. 500ms, 15s, 30m, 7d)`},
		{"retention-two-names", `2: journal.retention: 10d disagrees with retention.events (30d): journal.retention is its former name; keep retention.events only`},
		{"retention-ceiling", `4: retention.max_undelivered: max_undelivered (10d) must be at least retention.events (30d): it is how long an event a sink has not delivered is kept at most`},
		{"retention-default-ceiling", `2: retention: max_undelivered (90d) must be at least retention.events (120d): it is how long an event a sink has not delivered is kept at most`},
		{"token-and-token-file", `4: argocd: token and token_file are mutually exclusive`},
		{"argocd-server-missing", `1: argocd.server: must be set`},
		{"argocd-empty", `2: argocd.server: must be set`},
		{"argocd-null", `1: argocd.server: must be set`},
		{"argocd-token-missing", `1: argocd.token: must be set (or token_file)`},
		{"argocd-server-not-url", `2: argocd.server: must be an http:// or https:// URL`},
		{"backoff-max-below-initial", `6: argocd.backoff.max: must not be less than initial (5s < 10s)`},
		{"expected-status-range", `5: readiness.url.expected_status[1]: invalid status range "399-200": start is greater than end`},
		{"expected-status-code", `3: readiness.url.expected_status[1]: invalid status "2000": not a 3-digit status code`},
		{"duplicate-environment-id", `4: environments[2].id: duplicate environment id "staging" (also environments[0])`},
		{"environment-id", `2: environments[0].id: "feature/login" is not a valid environment id (must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$)`},
		{"environment-url", `3: environments[0].url: must be an http:// or https:// URL`},
		{"timeout-greater-than-interval", `4: readiness.url.timeout: must not be greater than readiness.url.interval (10s > 5s)`},
		{"timeout-default-greater-than-interval", `2: readiness.url.timeout: must not be greater than readiness.url.interval (5s > 2s)`},
		{"success-rate-alert-above-target", `4: targets.success_rate.alert: must not be greater than targets.success_rate.target (98 > 95)`},
		{"success-rate-over-100", `2: targets.success_rate.target: must be a percentage greater than 0 and at most 100`},
		{"p95-alert-below-target", `5: targets.provisioning_p95.alert: must not be less than targets.provisioning_p95.target (5m < 10m)`},
		{"undefined-variable", `4: argocd.token: environment variable ARGOCD_TOKEN_UNSET is not set`},
		{"token-file-missing", `3: grafana.token_file: open testdata/secrets/does-not-exist.token: no such file or directory`},
		{"token-file-empty", `3: argocd.token_file: file testdata/secrets/empty.token is empty`},
		{"ca-file-not-pem", `3: readiness.url.tls.ca_file: no PEM certificate found in testdata/secrets/not-a-cert.pem`},
		{"delivery-batch-size", `2: delivery.batch_size: must be between 1 and 10000, got 0`},
		{"delivery-catch-up-batch-size", `2: delivery.catch_up_batch_size: must be between 1 and 10000, got 20000`},
		{"concurrency-zero", `3: readiness.url.concurrency: must be at least 1`},
		{"concurrency-type", `3: readiness.url.concurrency: must be an integer, got "ten"`},
		{"listen-address", `1: listen_address: must be host:port: address 9465: missing port in address`},
		{"listen-address-port", `1: listen_address: port "http" must be a number from 0 to 65535`},
		{"influxdb-bucket-missing", `1: influxdb.bucket: must be set`},
		{"influxdb-query-language", `4: influxdb.query_language: must be "influxql" or "flux", got "sql"`},
		{"influxdb-database-with-flux", `5: influxdb.retention_policy: applies to query_language: influxql only (Flux reads the bucket)`},
		{"influxdb-measurement-cr", `4: influxdb.measurement: must not contain NUL or carriage return (InfluxQL cannot quote them)`},
		{"grafana-token-missing", `1: grafana.token: must be set (or token_file)`},
		{"api-write-tokens-both", `3: api: write_tokens and write_tokens_file are mutually exclusive`},
		{"api-max-batch", `3: api.max_batch: must be between 1 and 10000, got 20000`},
		{"api-max-environments", `3: api.max_environments: must be at least 1, got 0`},
		{"readiness-requested-expiry-zero", `2: readiness.requested_expiry: must be greater than 0`},
		{"section-not-mapping", `1: journal: must be a mapping, got "30d"`},
		{"duplicate-key", `3: metrics.namespace: duplicate key (first at line 2)`},
		{"syntax", `2: did not find expected key`},
		{"two-documents", `2: only one YAML document is allowed`},
		{"api-max-body-bytes", `3: api.max_body_bytes: must be between 1 and 16777216 (16 MiB), got 1073741824`},
		{"types-duplicate", `5: types[2]: duplicate type "preview" (also types[0])`},
		{"types-invalid", `4: types[1]: "feature branch" is not a valid type (must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$)`},
		{"termination-timeout-type", `5: readiness.termination_timeout.review: "review" is not one of types (preview, staging)`},
		{"termination-timeout-duration", `3: readiness.termination_timeout.preview: invalid duration "soon" (use e.g. 15m, 2h, 1d; 0 turns it off)`},
		{"termination-timeout-list", `2: readiness.termination_timeout: must be a duration, or a mapping from environment types (and default) to durations, got a list`},
		// Checks that the components made again before (argocd.New, probe.New, annotate.New,
		// influxdb.New) live here only.
		{"tls-ca-file-and-insecure", `6: argocd.tls: ca_file and insecure_skip_verify are mutually exclusive`},
		{"readiness-tls-ca-file-and-insecure", `3: readiness.url.tls: ca_file and insecure_skip_verify are mutually exclusive`},
		{"argocd-token-whitespace", `3: argocd.token: must not contain whitespace or control characters`},
		{"argocd-selector-control", `4: argocd.selector: must not contain control characters`},
		{"argocd-server-query", `2: argocd.server: must not have a query or fragment`},
		{"argocd-server-credentials", `2: argocd.server: must not carry credentials (user:password@); use the token`},
		{"argocd-server-no-host", `2: argocd.server: URL has no host`},
		{"argocd-server-unparsable", `2: argocd.server: invalid URL: invalid character " " in host name`},
		{"argocd-project-empty", `6: argocd.projects[1]: must not be empty`},
		{"argocd-request-timeout-zero", `4: argocd.request_timeout: must be greater than 0`},
		{"grafana-url-credentials", `2: grafana.url: must not carry credentials (user:password@); use the token`},
		{"grafana-url-query", `2: grafana.url: must not have a query or fragment`},
		{"grafana-url-scheme", `2: grafana.url: must be an http:// or https:// URL`},
		{"grafana-tag-empty", `4: grafana.tags[1]: must not be empty`},
		{"grafana-tag-two-colons", `4: grafana.tags[0]: "a:b:c" has more than one ':' (Grafana keeps key:value only)`},
		{"grafana-token-file-whitespace", `3: grafana.token_file: the token in testdata/secrets/two-words.token must not contain whitespace or control characters`},
		{"grafana-timeout-zero", `4: grafana.timeout: must be greater than 0`},
		{"influxdb-url-missing", `1: influxdb.url: must be set`},
		{"influxdb-url-not-url", `2: influxdb.url: must be an http:// or https:// URL`},
		{"influxdb-measurements-equal", `4: influxdb.measurement: must differ from deployments_measurement (both "deployments")`},
		{"influxdb-timeout-zero", `4: influxdb.timeout: must be greater than 0`},
		{"store-driver", `2: store.driver: must be "bbolt" or "postgres", got "sqlite"`},
		{"store-postgres-missing", `1: store.postgres: must be set with driver: postgres (dsn or dsn_file)`},
		{"store-postgres-with-bbolt", `3: store.postgres: applies to driver: postgres only (driver is bbolt)`},
		{"store-postgres-dsn-missing", `3: store.postgres.dsn: must be set (or dsn_file)`},
		{"store-postgres-dsn-both", `5: store.postgres: dsn and dsn_file are mutually exclusive`},
		{"store-postgres-renew-interval", `6: store.postgres.renew_interval: must be at most half of lease_duration, so that one failed renewal does not lose the lease (6s > 10s / 2)`},
		{"store-postgres-lease-short", `5: store.postgres.lease_duration: must be at least 1s, got 500ms`},
		{"store-postgres-max-connections", `5: store.postgres.max_connections: must be between 2 and 100, got 1`},
		{"store-postgres-dsn-invalid", `4: store.postgres.dsn: not a PostgreSQL connection string (postgres://user:password@host:5432/database?sslmode=require, or host=... dbname=... pairs)`},
		{"store-postgres-unknown-key", `5: unknown key "lease" in store.postgres`},
		// slos: and failures: (issue 21): the file, line and key, and why.
		{"slos-objective-100", `3: slos.preview.success.objective: 100 leaves no error budget: a single miss in the window breaks it (use at most 99.99)`},
		{"slos-threshold-above-timeout", `5: slos.staging.latency.threshold: 15m can never be missed: an attempt not ready within readiness.provisioning_timeout (10m) fails instead, so every ready attempt is within it; use a threshold below 10m`},
		{"slos-type-not-listed", `4: slos.prod: "prod" is not one of types (preview, staging)`},
		{"slos-type", `2: slos.feature branch: "feature branch" is not an environment type (must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$) nor "default"`},
		{"slos-unknown-key", `3: unknown key "treshold" in slos.preview.latency`},
		{"slos-unreachable-objective", `6: slos.preview.success.objective: 90 % over 30d leaves an error budget of 10 % of attempts; the page alert fires when 2 % of it burns in 1h, a burn rate of 14.4, which needs more than 144 % of attempts to miss and cannot happen: use an objective above 93.0556 % or a shorter window`},
		{"slos-window", `3: slos.default.window: must be whole days from 7d to 90d (28d or 30d as in Sloth), got 1d12h`},
		{"failures-catch-all-first", `2: failures[0]: matches every failure (it sets none of reason, message, condition), so the matchers after it are never used; make it the last one`},
		{"failures-class-missing", `2: failures[0].class: must be set: user or platform`},
		{"failures-class", `2: failures[0].class: must be user or platform, got "customer"`},
		{"failures-default-name", `2: failures[0].name: "argocd-comparison-error" is the name of a default matcher`},
		{"failures-duplicate-name", `3: failures[1].name: duplicate matcher name "charts" (also failures[0])`},
		{"failures-not-list", `1: failures: must be a list of matchers such as {class: user, reason: deleted_before_ready}, got a mapping`},
		{"failures-regexp", "5: failures[1].message: invalid regular expression \"helm template (failed\": missing closing ): `helm template (failed`"},
		{"webhook-name", `2: webhooks[0].name: "ci team" is not a valid webhook name (must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$)`},
		{"webhook-duplicate-name", `4: webhooks[2].name: duplicate webhook name "ci" (also webhooks[0])`},
		{"webhook-secret-missing", `2: webhooks[0].secret: must be set (or secret_file)`},
		{"webhook-secret-form", `4: webhooks[0].secret: must start with "whsec_" (Standard Webhooks' form: whsec_ and the base64 of 24 to 64 random bytes)`},
		{"webhook-secret-short", `4: webhooks[0].secret: must hold 24 to 64 bytes after whsec_, has 8`},
		{"webhook-secret-file-form", `4: webhooks[0].secret_file: the secret in testdata/secrets/grafana.token must start with "whsec_" (Standard Webhooks' form: whsec_ and the base64 of 24 to 64 random bytes)`},
		{"webhook-secret-and-file", `5: webhooks[0]: secret and secret_file are mutually exclusive`},
		{"webhook-format", `4: webhooks[0].format: must be "cloudevents" or "slack", got "teams"`},
		{"webhook-event", `7: webhooks[0].events[1]: "redy" is not an event (one of created, provisioning_started, ready, provisioning_failed, deployed, degraded, recovered, termination_started, terminated)`},
		{"webhook-type", `5: webhooks[0].types[1]: "feature branch" is not a valid type (must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$)`},
		{"webhook-header-reserved", `7: webhooks[0].headers.webhook-signature: is set by envtrack itself`},
		{"webhook-header-value", `6: webhooks[0].headers.X-Team: must not contain line breaks or control characters`},
		{"webhook-url-credentials", `3: webhooks[0].url: must not carry credentials (user:password@); use headers`},
		{"webhook-timeout-zero", `5: webhooks[0].timeout: must be greater than 0`},
		{"webhook-unknown-key", `4: unknown key "secrets" in webhooks[0]`},
		{"web-external-url", `2: web.external_url: must not have credentials, a query or a fragment`},
		{"deny-networks", `3: readiness.url.deny_networks[1]: "10.0.0.300/8" is not a network in CIDR notation such as "10.0.0.0/8"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := "testdata/invalid-" + tc.file + ".yml"
			_, err := loadWithOptions(path, lookup(testEnv))
			require.EqualError(t, err, path+":"+tc.err)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, path, cerr.File)
		})
	}

	// Every invalid-*.yml file is in the table.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	require.NoError(t, err)
	require.Len(t, files, 122)
}

func TestErrorWrapping(t *testing.T) {
	_, err := Load("testdata/invalid-token-file-missing.yml")
	require.ErrorIs(t, err, fs.ErrNotExist)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, Error{
		File: "testdata/invalid-token-file-missing.yml", Line: 3, Key: "grafana.token_file",
		Msg: "open testdata/secrets/does-not-exist.token: no such file or directory", Err: cerr.Err,
	}, *cerr)

	_, err = Load("testdata/does-not-exist.yml")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, "reading config: open testdata/does-not-exist.yml: no such file or directory")
}

func TestSeveralTypeErrors(t *testing.T) {
	_, err := loadBytes([]byte(`
listen_adress: ":1"
readiness:
  url: {concurrency: many, failures_before_degraded: [1]}
`), "envtrack.yml", loadOptions{})
	require.EqualError(t, err, `envtrack.yml:2: unknown key "listen_adress"
envtrack.yml:4: readiness.url.concurrency: must be an integer, got "many"
envtrack.yml:4: readiness.url.failures_before_degraded: must be an integer, got a list`)
}

func TestManyTypeErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &x\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  k%d: 1\n", i)
	}
	b.WriteString("journal: *x\nmetrics: *x\n")
	_, err := loadBytes([]byte(b.String()), "envtrack.yml", loadOptions{})
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 21)
	require.Equal(t, `envtrack.yml:1: unknown key "x"`, lines[0])
	require.Equal(t, `envtrack.yml:3: unknown key "k1" in x`, lines[2])
	require.Equal(t, "envtrack.yml: and 41 more errors", lines[20])
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	for _, text := range []string{
		"api: {write_tokens: s3cr3t-value}\n",
		"argocd: {server: 'http://u:s3cr3t-value@bad host', token: x}\n",
		"grafana: {url: http://g, token: [s3cr3t-value]}\n",
		"influxdb: {url: 'http://u:s3cr3t-value@[::1', bucket: b}\n",
		"store: {driver: postgres, postgres: {dsn: 'postgres://u:s3cr3t-value@db:x/envtrack'}}\n",
		"store: {driver: postgres, postgres: {dsn: 'host=db password=s3cr3t-value port=x'}}\n",
	} {
		_, err := loadBytes([]byte(text), "envtrack.yml", loadOptions{})
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3t", text)
	}
}

func TestRedacted(t *testing.T) {
	cfg, err := loadWithOptions("testdata/full.yml", lookup(testEnv))
	require.NoError(t, err)
	out := cfg.Redacted()
	for _, secret := range []string{
		testEnv["ARGOCD_TOKEN"], testEnv["INFLUX_TOKEN"], testEnv["READ_TOKEN"],
		"grafana-token-from-file", "write-token-one", "write-token-two", "price", "hunter2",
		testEnv["WEBHOOK_SECRET"], "qs-secret-value", "header-secret-value", "slack-path-secret",
	} {
		require.NotContains(t, out, secret)
	}
	// 8, and the webhooks': two secrets, a query token, an Authorization header, Slack's path.
	require.Equal(t, 13, strings.Count(out, "<secret>"), out)
	require.Contains(t, out, "url: https://hooks.slack.com/<secret>\n")
	require.Contains(t, out, "X-Team: platform\n")
	require.Equal(t, "Bearer header-secret-value", cfg.Webhooks[0].Headers["Authorization"], "Redacted does not modify the config")
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(format, cfg.Webhooks[0])
		require.NotContains(t, s, "header-secret-value", format)
		require.NotContains(t, s, testEnv["WEBHOOK_SECRET"], format)
	}
	require.Contains(t, out, "  token: <secret>\n")
	require.Contains(t, out, "url: https://user:<secret>@prod.example.com/healthz\n")
	require.Contains(t, out, "poll_interval: 30s\n")
	require.Contains(t, out, "expected_status:\n      - 200-299\n")
	require.Equal(t, "https://user:hunter2@prod.example.com/healthz", cfg.Environments[1].URL, "Redacted does not modify the config")

	// Neither do the usual ways of printing a config leak.
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(format, *cfg.ArgoCD)
		require.NotContains(t, s, testEnv["ARGOCD_TOKEN"], format)
	}
	j, err := json.Marshal(cfg.API)
	require.NoError(t, err)
	require.NotContains(t, string(j), "write-token")
}

// The Grafana sink gets its tags and dashboard uid without the spaces around them.
func TestGrafanaTrims(t *testing.T) {
	cfg, err := loadBytes([]byte(`
grafana: {url: http://grafana:3000, token: abc, dashboard_uid: " uid-1 ", tags: [" team:platform ", x]}
`), "/x/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	require.Equal(t, "uid-1", cfg.Grafana.DashboardUID)
	require.Equal(t, []string{"team:platform", "x"}, cfg.Grafana.Tags)
}

// Every URL of the configuration is shown as redact.URL shows it: the password of its
// user info and its secret query parameters masked.
func TestRedactedURLs(t *testing.T) {
	cfg, err := loadBytes([]byte(`
influxdb: {url: "http://envtrack:influx-pw@influx:8086/?x=1", bucket: db/rp}
environments:
  - {id: a, url: "https://a.example.com/healthz?access_token=tok-a&region=eu"}
  - {id: b, url: "https://b.example.com/?Sig=sig-b#token=tok-b"}
`), "/x/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	out := cfg.Redacted()
	for _, secret := range []string{"influx-pw", "tok-a", "sig-b", "tok-b"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "url: http://envtrack:<secret>@influx:8086/?x=1\n")
	require.Contains(t, out, "url: https://a.example.com/healthz?access_token=<secret>&region=eu\n")
	require.Contains(t, out, "url: https://b.example.com/?Sig=<secret>#token=<secret>\n")
}

// The PostgreSQL DSN is a secret wherever the configuration is printed (check-config,
// the landing page) and in a refused reload's message, inline or read from dsn_file.
func TestRedactedPostgresDSN(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	require.NoError(t, os.WriteFile(file, []byte("postgres://envtrack:pg-pass-from-file@db:5432/envtrack\n"), 0o600))
	for _, text := range []string{
		"store: {driver: postgres, postgres: {dsn: 'postgres://envtrack:pg-pass-inline@db:5432/envtrack?sslmode=require'}}\n",
		"store: {driver: postgres, postgres: {dsn_file: dsn, lease_duration: 2s, renew_interval: 500ms}}\n",
	} {
		cfg, err := loadBytes([]byte(text), filepath.Join(dir, "envtrack.yml"), loadOptions{})
		require.NoError(t, err, text)
		require.Equal(t, StorePostgres, cfg.Store.Driver)
		require.Contains(t, string(cfg.Store.Postgres.DSN), "pg-pass-", "the daemon gets the DSN itself")
		out := cfg.Redacted()
		require.NotContains(t, out, "pg-pass-")
		require.Contains(t, out, "    dsn: <secret>\n")
		require.NotContains(t, fmt.Sprintf("%+v %#v", *cfg.Store.Postgres, *cfg.Store.Postgres), "pg-pass-")

		other := *cfg
		pg := *cfg.Store.Postgres
		pg.DSN = "postgres://envtrack:pg-pass-other@db2:5432/envtrack"
		other.Store.Postgres = &pg
		err = NeedsRestart(cfg, &other)
		require.EqualError(t, err, "store.postgres.dsn changed from <secret> to <secret>: that needs a restart; keeping the previous configuration")
	}
	cfg, err := loadBytes([]byte("store: {driver: postgres, postgres: {dsn: 'postgres://db/envtrack'}}\n"), "/x/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	require.Equal(t, PostgresConfig{DSN: "postgres://db/envtrack", LeaseDuration: dur("15s"), RenewInterval: dur("5s"), MaxConnections: 4},
		*cfg.Store.Postgres, "the defaults")
	require.Equal(t, StoreBbolt, DefaultConfig().Store.Driver, "bbolt stays the embedded default")
}

func TestRedactedDefault(t *testing.T) {
	cfg := DefaultConfig()
	out := cfg.Redacted()
	require.NotContains(t, out, "<secret>")
	require.NotContains(t, out, "argocd:")
	back, err := loadBytes([]byte(out), "/x/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	want := DefaultConfig()
	want.StateDir, want.Filename = "/x/data", "/x/envtrack.yml"
	require.Equal(t, &want, back)
}

func TestSecret(t *testing.T) {
	s := Secret("hunter2")
	require.Equal(t, "<secret>", s.String())
	require.Equal(t, "<secret>", fmt.Sprint(s))
	require.Equal(t, `config.Secret("<secret>")`, fmt.Sprintf("%#v", s))
	v, err := s.MarshalYAML()
	require.NoError(t, err)
	require.Equal(t, "<secret>", v)
	j, err := json.Marshal(struct{ S Secret }{s})
	require.NoError(t, err)
	require.JSONEq(t, `{"S":"<secret>"}`, string(j))
	require.Equal(t, "", Secret("").String(), "an empty secret stays empty")
}

func TestExpandInLoad(t *testing.T) {
	env := map[string]string{"HOST": "argocd.internal", "TOKEN": "t$k", "POLL": "20s"}
	cfg, err := loadBytes([]byte(`# ${NOT_SET} in a comment is left alone
argocd:
  server: "https://${HOST}:8443"   # ${ALSO_NOT_SET}
  token: ${TOKEN}
  selector: 'cost=$$5,team=a#b'
  poll_interval: ${POLL}
`), "envtrack.yml", lookup(env))
	require.NoError(t, err)
	require.Equal(t, "https://argocd.internal:8443", cfg.ArgoCD.Server)
	require.Equal(t, Secret("t$k"), cfg.ArgoCD.Token, "values are not expanded again")
	require.Equal(t, "cost=$5,team=a#b", cfg.ArgoCD.Selector)
	require.Equal(t, dur("20s"), cfg.ArgoCD.PollInterval)

	_, err = loadBytes([]byte("listen_address: \":9465\"\nargocd:\n  server: https://a\n  token: ${MULTI}\n"), "envtrack.yml",
		lookup(map[string]string{"MULTI": "a\nb: c"}))
	require.EqualError(t, err, "envtrack.yml:4: argocd.token: environment variable MULTI contains a newline")

	_, err = loadBytes([]byte("api:\n  write_tokens:\n    - ${W1}\n    - ${W2}\n"), "envtrack.yml", lookup(map[string]string{"W1": "x"}))
	require.EqualError(t, err, "envtrack.yml:4: api.write_tokens[1]: environment variable W2 is not set")

	_, err = loadBytes([]byte("state_dir: /var/lib/${DIR\n"), "envtrack.yml", lookup(nil))
	require.EqualError(t, err, `envtrack.yml:1: state_dir: unterminated variable reference "${DIR"`)
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "alpha", "B_2": "beta", "EMPTY": "", "NL": "x\ny"}
	for _, tc := range []struct {
		in, out string
		err     string // "line:col: msg"
	}{
		{in: "k: ${A}", out: "k: alpha"},
		{in: "k: ${A}${B_2}-${EMPTY}.", out: "k: alphabeta-."},
		{in: "k: $$", out: "k: $"},
		{in: "k: $${A}", out: "k: ${A}"},
		{in: "k: $$$${A}", out: "k: $${A}"},
		{in: "k: $A $ $x", out: "k: $A $ $x"},
		{in: "k: a$", out: "k: a$"},
		{in: "k: \"${A} # ${B_2}\"", out: "k: \"alpha # beta\""},
		{in: "k: '${A} # it''s ${B_2}'", out: "k: 'alpha # it''s beta'"},
		{in: "k: it's ${A} # ${X}", out: "k: it's alpha # ${X}"},
		{in: "k: a#${A}", out: "k: a#alpha"},
		{in: "# ${X} $$\nk: ${A}", out: "# ${X} $$\nk: alpha"},
		{in: "k: [${A}, '${B_2}', \"#\"] # ${X}", out: "k: [alpha, 'beta', \"#\"] # ${X}"},
		{in: "k: \"multi\n  line ${A} # still quoted\"\n# ${X}", out: "k: \"multi\n  line alpha # still quoted\"\n# ${X}"},
		{in: "k: |\n  # ${A} is content\n  x\nj: 1 # ${X}", out: "k: |\n  # alpha is content\n  x\nj: 1 # ${X}"},
		{in: "- k: >-\n    # ${A}\n  j: ${B_2} # ${X}", out: "- k: >-\n    # alpha\n  j: beta # ${X}"},
		{in: "k: ${X}", out: "k: ", err: "1:4: environment variable X is not set"},
		{in: "a: 1\nk: x${NL}", out: "a: 1\nk: x", err: "2:5: environment variable NL contains a newline"},
		{in: "k: ${A", out: "k: ${A", err: `1:4: unterminated variable reference "${A"`},
		{in: "k: ${}", out: "k: ", err: `1:4: invalid variable reference "${}"`},
		{in: "k: ${1A}", out: "k: ", err: `1:4: invalid variable reference "${1A}"`},
		{in: "k: ${A-B}", out: "k: ", err: `1:4: invalid variable reference "${A-B}"`},
		{in: "k: ${X} ${Y}", out: "k:  ", err: "1:4: environment variable X is not set"},
	} {
		out, xerr := expandEnv([]byte(tc.in), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		require.Equal(t, tc.out, string(out), "%q", tc.in)
		if tc.err == "" {
			require.Nil(t, xerr, "%q", tc.in)
			continue
		}
		require.NotNil(t, xerr, "%q", tc.in)
		require.Equal(t, tc.err, fmt.Sprintf("%d:%d: %s", xerr.line, xerr.col, xerr.msg), "%q", tc.in)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	confDir := filepath.Join(dir, "etc", "envtrack")
	require.NoError(t, os.MkdirAll(filepath.Join(confDir, "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(confDir, "secrets", "argocd.token"), []byte("from-file\r\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "influx.token"), []byte("absolute\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(confDir, "read.tokens"), []byte("r1\n#r2\n\nr3"), 0o600))
	path := filepath.Join(confDir, "envtrack.yml")
	require.NoError(t, os.WriteFile(path, []byte(`
state_dir: ../../var/envtrack
argocd:
  server: https://argocd
  token_file: secrets/argocd.token
influxdb:
  url: http://influx:8086
  bucket: b
  token_file: `+filepath.Join(dir, "influx.token")+`
api:
  read_tokens_file: read.tokens
`), 0o600))

	// The working directory is elsewhere: paths follow the config file.
	t.Chdir(t.TempDir())
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, Secret("from-file"), cfg.ArgoCD.Token)
	require.Equal(t, filepath.Join(confDir, "secrets", "argocd.token"), cfg.ArgoCD.TokenFile)
	require.Equal(t, Secret("absolute"), cfg.InfluxDB.Token)
	require.Equal(t, filepath.Join(dir, "influx.token"), cfg.InfluxDB.TokenFile)
	require.Equal(t, []Secret{"r1", "r3"}, cfg.API.ReadTokens)
	require.Equal(t, filepath.Join(dir, "var", "envtrack"), cfg.StateDir)
}

func TestStatusMatcher(t *testing.T) {
	m, err := ParseStatusMatcher("200", "300-302", " 404 ")
	require.NoError(t, err)
	for code, want := range map[int]bool{199: false, 200: true, 201: false, 300: true, 302: true, 303: false, 404: true} {
		require.Equal(t, want, m.Match(code), "%d", code)
	}
	require.Equal(t, "200,300-302,404", m.String())
	for spec, msg := range map[string]string{
		"abc":     `invalid status "abc": not a 3-digit status code`,
		"99":      `invalid status "99": not a 3-digit status code`,
		"600":     `invalid status "600": outside 100-599`,
		"200-":    `invalid status range "200-": not a 3-digit status code`,
		"300-200": `invalid status range "300-200": start is greater than end`,
		"1-2-3":   `invalid status "1-2-3": not a 3-digit status code`,
	} {
		_, err := ParseStatusMatcher(spec)
		require.EqualError(t, err, msg, spec)
	}
	_, err = ParseStatusMatcher()
	require.EqualError(t, err, "must not be empty")

	cfg, err := loadBytes([]byte("readiness: {url: {expected_status: 204}}\n"), "/envtrack.yml", loadOptions{})
	require.NoError(t, err)
	require.True(t, cfg.Readiness.URL.ExpectedStatus.Match(204))
	require.False(t, cfg.Readiness.URL.ExpectedStatus.Match(200))
	_, err = loadBytes([]byte("readiness: {url: {expected_status: []}}\n"), "envtrack.yml", loadOptions{})
	require.EqualError(t, err, "envtrack.yml:1: readiness.url.expected_status: must not be empty")
}

func TestDefaultsAreValid(t *testing.T) {
	require.Greater(t, time.Duration(DefaultURLConfig.Interval), time.Duration(DefaultURLConfig.Timeout))
	require.True(t, DefaultURLConfig.ExpectedStatus.Match(200))
	require.True(t, EnvironmentIDRegexp.MatchString("abc123"))
	require.False(t, EnvironmentIDRegexp.MatchString("-abc"))
}

func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add(Example)
	f.Add([]byte("k: ${A} $$ '${B}' # ${C}\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\nargocd:\n  <<: *x\n"))
	env := lookup(map[string]string{"A": "1", "B": "b: c", "ARGOCD_TOKEN": "t", "INFLUX_TOKEN": "i", "READ_TOKEN": "r"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := loadBytes(data, "fuzz/envtrack.yml", env)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		_ = cfg.Redacted()
	})
}

// influxdb.query_language defaults to InfluxQL, whose database and retention policy
// come from the bucket's name unless set: the mapping 1.8 applies to the v2 write API's
// bucket, 2.x's virtual DBRP mapping of a bucket, and 3.x's database.
func TestInfluxDBQueryLanguage(t *testing.T) {
	for _, tc := range []struct {
		section      string
		lang, db, rp string
	}{
		{"bucket: envtrack/autogen", "influxql", "envtrack", "autogen"},
		{"bucket: environments", "influxql", "environments", ""},
		{"{bucket: environments, database: envtrack}", "influxql", "envtrack", ""},
		{"{bucket: environments, database: envtrack, retention_policy: thirty_days}", "influxql", "envtrack", "thirty_days"},
		{"{bucket: envtrack/autogen, retention_policy: thirty_days}", "influxql", "envtrack", "thirty_days"},
		{"{bucket: envtrack/autogen, query_language: influxql}", "influxql", "envtrack", "autogen"},
		{"{bucket: environments, query_language: flux}", "flux", "", ""},
	} {
		t.Run(tc.section, func(t *testing.T) {
			text := "influxdb: {url: http://localhost:8086}\n"
			text = strings.Replace(text, "}", ", "+strings.Trim(tc.section, "{}")+"}", 1)
			cfg, err := loadBytes([]byte(text), "envtrack.yml", lookup(nil))
			require.NoError(t, err)
			i := cfg.InfluxDB
			require.Equal(t, tc.lang, i.QueryLanguage)
			require.Equal(t, tc.db, i.Database)
			require.Equal(t, tc.rp, i.RetentionPolicy)
			if tc.lang == QueryLanguageInfluxQL {
				db, rp := i.DBRP()
				require.Equal(t, []string{tc.db, tc.rp}, []string{db, rp}, "DBRP of the loaded section")
			}
		})
	}
}

// The README's InfluxDB configurations (1.x, 2.x, 3.x) load, and InfluxQL reads what
// their comments say.
func TestREADMEInfluxDBConfigs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(# InfluxDB [^\n]*\n(?:#[^\n]*\n)*influxdb:.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.Len(t, blocks, 3)
	for i, want := range [][2]string{{"envtrack", "autogen"}, {"environments", ""}, {"envtrack", ""}} {
		cfg, err := loadBytes([]byte(blocks[i][1]), "README.md", lookup(map[string]string{
			"INFLUX_CREDENTIALS": "envtrack:password", "INFLUX_TOKEN": "token-1234"}))
		require.NoError(t, err, blocks[i][1])
		require.Equal(t, QueryLanguageInfluxQL, cfg.InfluxDB.QueryLanguage)
		db, rp := cfg.InfluxDB.DBRP()
		require.Equal(t, want, [2]string{db, rp}, blocks[i][1])
	}
}
