package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/dashboards"
)

// generate writes the files generated from the metric definitions (DESIGN §7): the
// dashboards, the Prometheus rules and their promtool tests, and the operations
// handbook, under --out (the repository root). Without --config it uses the defaults,
// which is what the committed files are generated with; with --config it takes the
// namespace, the targets and the deployments measurement from that file.
func generate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("generate", stderr)
	out := fs.String("out", ".", "directory to write into (the repository root): dashboards/, deploy/prometheus/, docs/")
	configFile := fs.String("config", "", "take metrics.namespace, targets and influxdb.deployments_measurement from this configuration file")
	job := fs.String("job", "", `regular expression matching envtrack's scrape job in up{job=~"..."} (default "envtrack")`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "envtrack generate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts := dashboards.DefaultOptions()
	if *configFile != "" {
		cfg, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintln(stderr, "envtrack: invalid configuration:", err)
			return 1
		}
		opts = optionsFromConfig(opts, cfg)
	}
	if *job != "" {
		opts.Job = *job
	}
	files, err := dashboards.Generate(opts)
	if err != nil {
		fmt.Fprintln(stderr, "envtrack generate:", err)
		return 1
	}
	paths, err := dashboards.Write(*out, files)
	if err != nil {
		fmt.Fprintln(stderr, "envtrack generate:", err)
		return 1
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, "wrote", filepath.Join(*out, filepath.FromSlash(p)))
	}
	return 0
}

// optionsFromConfig takes what the generated files depend on from a configuration.
func optionsFromConfig(opts dashboards.Options, cfg *config.Config) dashboards.Options {
	opts.Namespace = cfg.Metrics.Namespace
	opts.Targets = cfg.Targets
	opts.SLOs, opts.Types = cfg.SLOs, cfg.Types
	if cfg.InfluxDB != nil && cfg.InfluxDB.DeploymentsMeasurement != "" {
		opts.DeploymentsMeasurement = cfg.InfluxDB.DeploymentsMeasurement
	}
	return opts
}
