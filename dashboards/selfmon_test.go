package dashboards_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/dashboards"
	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/probe"
)

// registered is what the code registers for one metric name.
type registered struct {
	help   string
	labels []string
	typ    dashboards.Type // "" when the registry holds no series yet to tell it
}

var descRegexp = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), (?:unit: "(?:[^"\\]|\\.)*", )?constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// describe collects the descriptions (and, where series exist, the types) of everything
// registered in reg.
func describe(t *testing.T, reg *prometheus.Registry, into map[string]registered) {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	for d := range ch {
		m := descRegexp.FindStringSubmatch(d.String())
		require.NotNil(t, m, d.String())
		name, err := strconv.Unquote(m[1])
		require.NoError(t, err)
		help, err := strconv.Unquote(m[2])
		require.NoError(t, err)
		var labels []string
		for _, c := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`).FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, c[1])
		}
		for _, l := range strings.Split(m[4], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		into[name] = registered{help: help, labels: labels}
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		r, ok := into[mf.GetName()]
		if !ok {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			r.typ = dashboards.Counter
		case dto.MetricType_GAUGE:
			r.typ = dashboards.Gauge
		case dto.MetricType_HISTOGRAM:
			r.typ = dashboards.Histogram
		}
		into[mf.GetName()] = r
	}
}

// TestDefinitionsMatchTheCode: every metric envtrack registers (the daemon with its
// store, tracker, lifecycle and sink metrics; the Argo CD client; the URL prober; the
// Grafana sink) is defined, with the help and labels the code registers it with, and
// every definition (but up) is registered by the code. The dashboards, rules and
// handbook are generated from the definitions, so this keeps them true to the code.
func TestDefinitionsMatchTheCode(t *testing.T) {
	got := map[string]registered{}
	logger := log.NewNopLogger()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "data")+"\n"), 0o600))
	reg := prometheus.NewRegistry()
	a, err := app.New(app.Options{ConfigFile: cfg, Logger: logger, Registry: reg, ManualSources: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Store().Close() })
	describe(t, reg, got)

	reg = prometheus.NewRegistry()
	_, err = argocd.New(argocd.Config{Server: "http://127.0.0.1:1", Token: "token", RequestTimeout: time.Second}, logger, reg)
	require.NoError(t, err)
	_, err = probe.New(probe.Config{Interval: 10 * time.Second, Timeout: 5 * time.Second, Concurrency: 1, Match: probe.DefaultMatch}, logger, reg, time.Now)
	require.NoError(t, err)
	_, err = annotate.New(annotate.Config{URL: "http://127.0.0.1:1", Token: "token", Timeout: time.Second}, logger, reg)
	require.NoError(t, err)
	describe(t, reg, got)

	s := defaultSet(t)
	defined := map[string]dashboards.Metric{}
	for _, m := range s.Metrics() {
		defined[m.Name] = m
	}
	fix := "fix dashboards/catalog.go (the dashboards, rules and handbook are generated from it) and run `go test ./dashboards -update`"
	for name, r := range got {
		if !strings.HasPrefix(name, "envtrack_") && !strings.HasPrefix(name, "blueberry_") {
			continue // go_*, process_*: the client library's
		}
		d, ok := defined[name]
		if !ok {
			t.Errorf("the code registers %s, which no definition declares: %s", name, fix)
			continue
		}
		if d.Help != r.help {
			t.Errorf("%s: the code's help is %q, the definition's %q: %s", name, r.help, d.Help, fix)
		}
		labels := append([]string(nil), d.Labels...)
		sort.Strings(labels)
		if strings.Join(labels, ",") != strings.Join(r.labels, ",") {
			t.Errorf("%s: the code's labels are %v, the definition's %v: %s", name, r.labels, labels, fix)
		}
		if r.typ != "" && r.typ != d.Type {
			t.Errorf("%s: the code registers a %s, the definition says %s: %s", name, r.typ, d.Type, fix)
		}
	}
	for name, d := range defined {
		if _, ok := got[name]; !ok && d.Source != dashboards.SourcePrometheus {
			t.Errorf("%s is defined (source %s) but the code registers no such metric: %s", name, d.Source, fix)
		}
	}
}
