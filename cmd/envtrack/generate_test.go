package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/dashboards"
)

// generate writes exactly what dashboards.Generate renders (what the drift test of
// ./dashboards compares the committed files with).
func TestGenerateWritesTheDefinitionsFiles(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, generate([]string{"--out", dir}, &stdout, &stderr), stderr.String())
	want, err := dashboards.Generate(dashboards.DefaultOptions())
	require.NoError(t, err)
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		require.NoError(t, err)
		require.Equal(t, string(b), string(got), p)
		require.Contains(t, stdout.String(), "wrote "+filepath.Join(dir, filepath.FromSlash(p))+"\n")
	}
	require.Len(t, strings.Split(strings.TrimSpace(stdout.String()), "\n"), len(want))
}

func TestGenerateFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`state_dir: ./data
metrics: {namespace: acme}
targets: {provisioning_p50: {target: 1m, alert: 2m}, provisioning_p95: {target: 3m, alert: 5m}, success_rate: {target: 99, alert: 97}}
`), 0o600))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, generate([]string{"--out", dir, "--config", cfg, "--job", "envtrack-prod"}, &stdout, &stderr), stderr.String())
	rules, err := os.ReadFile(filepath.Join(dir, "deploy", "prometheus", "envtrack.rules.yml"))
	require.NoError(t, err)
	for _, want := range []string{
		"acme:environment_provisioning_duration_seconds:p50_rate1h > 120 ",
		"acme:environment_provisioning_duration_seconds:p95_rate1h > 300 ",
		"acme:environment_provisioning_success:ratio_rate1h < 0.97 ",
		"(14.4 * (1 - 0.99))",
		`up{job=~"envtrack-prod"} == 0`,
	} {
		require.Contains(t, string(rules), want)
	}
}

func TestGenerateErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, generate([]string{"extra"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), `unexpected argument "extra"`)

	stderr.Reset()
	require.Equal(t, 1, generate([]string{"--config", filepath.Join(t.TempDir(), "missing.yml")}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "invalid configuration")

	// A P95 alert threshold above the highest classic bucket cannot be told from them.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("targets: {provisioning_p95: {target: 10m, alert: 15m}}\n"), 0o600))
	stderr.Reset()
	require.Equal(t, 1, generate([]string{"--out", dir, "--config", cfg}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "targets.provisioning_p95.alert 15m0s is outside the histogram's classic buckets")
	_, err := os.Stat(filepath.Join(dir, "dashboards"))
	require.True(t, os.IsNotExist(err), "nothing written on error")
}
