package dashboards_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/dashboards"
	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/probe"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// registered collects the names of everything registered in reg.
func registered(t *testing.T, reg *prometheus.Registry, into map[string]bool) {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		require.NotNil(t, m, d.String())
		name, err := strconv.Unquote(m[1])
		require.NoError(t, err)
		into[name] = true
	}
}

var fqName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)

// TestEveryMetricIsDefined: every metric envtrack registers (the daemon with its store,
// tracker, lifecycle and sink metrics; the Argo CD client; the URL prober; the Grafana
// sink; the InfluxDB reader) is defined, and every definition (but up) is registered by the code. The
// collectors are built from the definitions (model/metric, Lifecycle), so their help, labels
// and buckets cannot differ; this catches a metric registered without a definition, or
// a definition no collector uses.
func TestEveryMetricIsDefined(t *testing.T) {
	got := map[string]bool{}
	logger := log.NewNopLogger()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "data")+"\n"), 0o600))
	reg := prometheus.NewRegistry()
	a, err := app.New(app.Options{ConfigFile: cfg, Logger: logger, Registry: reg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Journal().Close() })
	registered(t, reg, got)

	reg = prometheus.NewRegistry()
	_, err = argocd.New(config.ArgoCDConfig{Server: "http://127.0.0.1:1", Token: "token"}, argocd.Options{}, logger, reg)
	require.NoError(t, err)
	_, err = probe.New(config.DefaultURLConfig, probe.Options{}, logger, reg, time.Now)
	require.NoError(t, err)
	_, err = annotate.New(config.GrafanaConfig{URL: "http://127.0.0.1:1", Token: "token"}, logger, reg)
	require.NoError(t, err)
	influxCfg := config.DefaultInfluxDBConfig
	influxCfg.URL, influxCfg.Bucket = "http://127.0.0.1:1", "db/rp"
	_, err = influxdb.NewReader(influxCfg, logger, reg)
	require.NoError(t, err)
	registered(t, reg, got)

	s := defaultSet(t)
	defined := map[string]dashboards.Metric{}
	for _, m := range s.Metrics() {
		defined[m.Name] = m
	}
	fix := "define it in model/metric and build the collector from the definition"
	for name := range got {
		if !strings.HasPrefix(name, "envtrack_") && !strings.HasPrefix(name, "blueberry_") {
			continue // go_*, process_*: the client library's
		}
		if _, ok := defined[name]; !ok {
			t.Errorf("the code registers %s, which no definition declares: %s", name, fix)
		}
	}
	for name, d := range defined {
		if !got[name] && d.Source != dashboards.SourcePrometheus {
			t.Errorf("%s is defined (source %s) but the code registers no such metric", name, d.Source)
		}
	}
}

// envtrack_build_info is the one self-monitoring metric a library builds
// (prometheus/common/version), so its definition repeats the library's help and labels.
func TestBuildInfoDefinition(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("envtrack"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	require.Equal(t, metric.BuildInfo.Name, mfs[0].GetName())
	require.Equal(t, metric.BuildInfo.Help, mfs[0].GetHelp())
	var labels []string
	for _, l := range mfs[0].GetMetric()[0].GetLabel() {
		labels = append(labels, l.GetName())
	}
	require.ElementsMatch(t, metric.BuildInfo.Labels, labels)
}
