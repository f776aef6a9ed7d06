// Defaults live here, once: each section's UnmarshalYAML starts from them, and every
// component takes its section of Config with them already applied.

package config

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/blueberry-idp/envtrack/model/event"
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
	DefaultRetentionConfig = RetentionConfig{
		Events:         model.Duration(30 * 24 * time.Hour),
		MaxUndelivered: model.Duration(90 * 24 * time.Hour),
	}
	DefaultDeliveryConfig = DeliveryConfig{
		BatchSize:        500,
		CatchUpBatchSize: 5000,
		Linger:           model.Duration(100 * time.Millisecond),
		Backoff:          DefaultBackoffConfig,
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
		HistoryConcurrency:    4,
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
		TerminationTimeout:  TypedTimeout{Default: model.Duration(30 * time.Minute)},
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
	// DefaultSLO is 000's table as objectives, for every type slos: does not name: 95 %
	// of ready attempts within 5m (its P95 target), 98 % of attempts not failed by the
	// platform (its success-rate target), over 30 days (Sloth's and the SRE workbook's
	// default period, whose page alert burns at 14.4, as the targets' burn-rate alert).
	DefaultSLO = SLO{
		Latency: LatencyObjective{Objective: 95, Threshold: model.Duration(5 * time.Minute)},
		Success: SuccessObjective{Objective: 98},
		Window:  model.Duration(30 * 24 * time.Hour),
	}
	DefaultSLOs = SLOs{SLODefault: DefaultSLO}

	// DefaultFailures decide user or platform for the failures the file's failures:
	// leave undecided, first match wins; what none matches is the platform's. Each is
	// drawn from the messages Argo CD writes (paths in github.com/argoproj/argo-cd v3,
	// gitops-engine in its gitops-engine/ directory); the platform's come first because
	// Argo CD wraps its own outages in the same ComparisonError as a broken chart.
	DefaultFailures = Failures{
		{
			// The repo-server or a Git/Helm host did not answer: controller/state.go
			// GetRepoObjs ("failed to connect to repo server: %w"); the repo-server's gRPC
			// status as grpc-go prints it ("rpc error: code = Unavailable desc = ...",
			// google.golang.org/grpc/internal/status), and the net package's dial errors.
			Name: "argocd-repo-server-unavailable", Class: event.ClassPlatform,
			Message: mustRegexp(`failed to connect to repo server|rpc error: code = (Unavailable|DeadlineExceeded|ResourceExhausted|Canceled)|context deadline exceeded|connection refused|i/o timeout|TLS handshake timeout`, false),
		},
		{
			// The destination cluster: controller/state.go CompareAppState ("Failed to
			// load live state: "), GetRepoObjs ("failed to get cluster version for cluster
			// %q"), controller/sync.go ("Failed to get destination cluster: %v"),
			// util/argo/argo.go ValidatePermissions ("Unable to get cluster: %v"), and
			// the Kubernetes API server answering 503 (apimachinery's ServiceUnavailable,
			// "the server is currently unable to handle the request").
			Name: "argocd-cluster-unavailable", Class: event.ClassPlatform,
			Message: mustRegexp(`Failed to load live state|failed to get cluster version for cluster|Failed to get destination cluster|Unable to get cluster|the server is currently unable to handle the request`, false),
		},
		{
			// No capacity for the request (002's system problem): a ResourceQuota refused a
			// resource ("exceeded quota", which controller/cache/cache.go
			// isResourceQuotaConflictErr looks for in Kubernetes' Forbidden answers).
			Name: "kubernetes-quota-exceeded", Class: event.ClassPlatform,
			Message: mustRegexp(`exceeded quota`, false),
		},
		{
			// The environment's manifests do not render: a failing helm template or
			// kustomize build (util/exec/exec.go CmdError "`%v` failed %v", run by
			// util/helm/cmd.go template and util/kustomize), a path that is not in the
			// repository (util/app/path/path.go "app path does not exist"), a revision
			// that does not exist (util/git/client.go "unable to resolve '%s' to a commit
			// SHA"), YAML or JSON that does not parse (gitops-engine/pkg/utils/kube/kube.go
			// SplitYAML "failed to unmarshal manifest", which
			// reposerver/repository/repository.go calls; its findManifests "Failed to
			// unmarshal generated json").
			Name: "argocd-manifest-generation", Class: event.ClassUser,
			Message: mustRegexp("`(helm|kustomize)[^`]*` failed|app path does not exist|unable to resolve '[^']*' to a commit SHA|failed to unmarshal manifest|Failed to unmarshal generated json", false),
		},
		{
			// The Application's spec is invalid: util/argo/argo.go ValidateRepo and
			// ValidatePermissions set InvalidSpecError conditions (a source without path
			// or chart, a repository or destination the project does not permit), which
			// controller/sync.go copies into the operation's message through
			// FormatAppConditions ("InvalidSpecError: ...").
			Name: "argocd-invalid-spec", Class: event.ClassUser,
			Message: mustRegexp(`InvalidSpecError:`, false),
		},
		{
			// What else fails to compare is the desired state's: controller/state.go
			// CompareAppState's ComparisonError conditions ("Failed to load target
			// state: ..."), copied into the operation's message as "ComparisonError: ..."
			// (controller/sync.go), once the platform's outages above are ruled out.
			Name: "argocd-comparison-error", Class: event.ClassUser,
			Message: mustRegexp(`ComparisonError:`, false),
		},
		{
			// Manifests the cluster refuses: gitops-engine/pkg/sync/sync_context.go ("one
			// or more synchronization tasks are not valid") and the Kubernetes API's
			// validation errors in "one or more objects failed to apply" (apimachinery
			// NewInvalid: `%s %q is invalid: %s`).
			Name: "kubernetes-invalid-manifests", Class: event.ClassUser,
			Message: mustRegexp(`one or more synchronization tasks are not valid| is invalid: `, false),
		},
		{
			// Deleted before it was ready: the pull request was closed, the user gave up.
			Name: "deleted-before-ready", Class: event.ClassUser,
			Reason: mustRegexp(event.ReasonDeletedBeforeReady, true),
		},
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
		Retention:     DefaultRetentionConfig,
		Delivery:      DefaultDeliveryConfig,
		Metrics:       DefaultMetricsConfig,
		Readiness:     DefaultReadinessConfig,
		API:           DefaultAPIConfig,
		Targets:       DefaultTargetsConfig,
		SLOs:          DefaultSLOs,
		Failures:      DefaultFailures,
	}
}

// MaxBatchCeiling bounds api.max_batch: one batch is one transaction held in memory.
const MaxBatchCeiling = 10000
