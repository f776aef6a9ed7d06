// Defaults live here, once: each section's UnmarshalYAML starts from them, and every
// component takes its section of Config with them already applied.

package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// DefaultUserAgent is what envtrack's HTTP clients (Argo CD, URL probes) send when the
// daemon does not add its version.
const DefaultUserAgent = "envtrack"

// Defaults, applied by each section's UnmarshalYAML before it decodes.
var (
	DefaultJournalConfig = JournalConfig{
		Retention: model.Duration(30 * 24 * time.Hour),
	}
	DefaultStoreConfig = StoreConfig{
		Driver: StoreBbolt,
	}
	// A replica that dies is replaced within 15s (Kubernetes' own leader election
	// default), renewing every 5s; a few connections per replica, not dozens, on a
	// server other services share.
	DefaultPostgresConfig = PostgresConfig{
		LeaseDuration:  model.Duration(15 * time.Second),
		RenewInterval:  model.Duration(5 * time.Second),
		MaxConnections: 4,
	}
	DefaultDeliveryConfig = DeliveryConfig{
		BatchSize: 500,
		Linger:    model.Duration(100 * time.Millisecond),
		Backoff:   DefaultBackoffConfig,
	}
	DefaultMetricsConfig = MetricsConfig{
		Namespace:        "blueberry",
		NativeHistograms: true,
		MaxTypes:         50,
	}
	DefaultArgoCDConfig = ArgoCDConfig{
		PollInterval:          model.Duration(15 * time.Second),
		RequestTimeout:        model.Duration(10 * time.Second),
		Backoff:               DefaultBackoffConfig,
		Mode:                  ArgoCDModeWatch,
		ResyncInterval:        model.Duration(30 * time.Minute),
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
		RequestedExpiry:     model.Duration(7 * 24 * time.Hour),
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
		QueryLanguage:          QueryLanguageInfluxQL,
	}
	DefaultGrafanaConfig = GrafanaConfig{
		Timeout: model.Duration(10 * time.Second),
	}
	// 15 s: the low end of what the Standard Webhooks specification recommends a
	// receiver be given ("between 15 and 30s").
	DefaultWebhookConfig = WebhookConfig{
		Format:  WebhookFormatCloudEvents,
		Timeout: model.Duration(15 * time.Second),
	}
	// The server limits let a slow client hold a connection for seconds, not forever,
	// and keep room for every CI pipeline of a platform pushing at once.
	DefaultAPIConfig = APIConfig{
		MaxBodyBytes:      1 << 20,
		ReadHeaderTimeout: model.Duration(10 * time.Second),
		ReadTimeout:       model.Duration(30 * time.Second),
		WriteTimeout:      model.Duration(time.Minute),
		IdleTimeout:       model.Duration(2 * time.Minute),
		MaxHeaderBytes:    64 << 10,
		MaxConnections:    512,
		MaxBatch:          1000,
		MaxEnvironments:   100000,
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
		Store:         DefaultStoreConfig,
		Journal:       DefaultJournalConfig,
		Delivery:      DefaultDeliveryConfig,
		Metrics:       DefaultMetricsConfig,
		Readiness:     DefaultReadinessConfig,
		API:           DefaultAPIConfig,
		Targets:       DefaultTargetsConfig,
	}
}

// MaxBatchCeiling bounds api.max_batch: one batch is one transaction held in memory.
const MaxBatchCeiling = 10000
