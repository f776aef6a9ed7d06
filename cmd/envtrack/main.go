// Command envtrack tracks environment lifecycles from Argo CD, URL probes and pushed
// events, and delivers them to the TSDBs. main only wires: flags, logger, signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	grafana "github.com/blueberry-idp/envtrack/annotate"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/exporter/influxdb"
	"github.com/blueberry-idp/envtrack/exporter/logging"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/webhook"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// sinks are the daemon's sinks beyond InfluxDB's: Grafana's annotations (outside
// exporter) and the webhooks.
var sinks = []sink.Func{
	sink.FromSection("grafana", func(c *config.Config) *config.GrafanaConfig { return c.Grafana }, grafana.New),
	webhook.Sinks,
}

const usage = `usage: envtrack <command> [flags]

commands:
  serve          run the daemon (--config FILE)
  check-config   validate a configuration file and print it, secrets redacted
  annotate       record a deployment marker (CI step): --environment --application --activity --status [--host]
  timeline ID    print an environment's timeline (--json for the API's JSON)
  insights       provisioning percentiles, success rate, targets and recommendations (--window 7d)
  import FILE|-  load history (NDJSON or CSV) through the batch push; --dry-run
  store copy     copy a journal between drivers: --from bbolt:PATH|postgres:DSN --to ...
  webhook test NAME  send one signed sample event to the webhook NAME and print its answer (--config FILE)
  generate       rewrite dashboards/, deploy/prometheus/ and docs/operations.md from the definitions
  version        print version information

Run 'envtrack <command> --help' for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stderr)
	case "check-config":
		return checkConfig(rest, stdout, stderr)
	case "annotate":
		return annotate(rest, stdout, stderr)
	case "timeline":
		return timeline(rest, stdout, stderr)
	case "insights":
		return insights(rest, stdout, stderr)
	case "generate":
		return generate(rest, stdout, stderr)
	case "import":
		return importHistory(rest, stdout, stderr)
	case "store":
		return storeCmd(rest, stdout, stderr)
	case "webhook":
		return webhookCmd(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version.Print("envtrack"))
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "envtrack: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("envtrack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// defaultGOGC is the garbage collector's target unless GOGC is set, as Prometheus
// does (its runtime.gogc, 75 by default): at 10,000 environments the heap is mostly
// the tracker's states, and 75 instead of Go's 100 keeps ~5 MiB less resident for a
// little more GC work (docs/benchmarks.md).
const defaultGOGC = 75

func serve(args []string, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	configFile := fs.String("config", "envtrack.yml", "configuration file")
	listen := fs.String("web.listen-address", "", "address to listen on (overrides listen_address)")
	webConfig := fs.String("web.config.file", "", "exporter-toolkit web configuration: TLS and basic auth on every endpoint (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)")
	logLevel := fs.String("log.level", "info", "log level: "+strings.Join(logging.Levels, ", "))
	logFormat := fs.String("log.format", "logfmt", "log format: "+strings.Join(logging.Formats, ", "))
	lifecycle := fs.Bool("web.enable-lifecycle", false, "enable POST /-/reload (needs a write token when api.write_tokens are set)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := logging.New(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "envtrack:", err)
		return 2
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(app.Options{ConfigFile: *configFile, Logger: logger, ListenAddress: *listen, WebConfigFile: *webConfig,
		EnableLifecycle: *lifecycle, Sinks: sinks})
	if err != nil {
		level.Error(logger).Log("msg", "cannot start", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = a.Reload() // logged and counted by the app
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		level.Error(logger).Log("msg", "envtrack stopped with an error", "err", err)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config", stderr)
	configFile := fs.String("config", "envtrack.yml", "configuration file")
	webConfig := fs.String("web.config.file", "", "also check this exporter-toolkit web configuration (as serve would)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*configFile)
	if err == nil {
		err = app.Check(cfg, app.Options{WebConfigFile: *webConfig, Sinks: sinks}) // what serve checks beyond the file itself
	}
	if err != nil {
		fmt.Fprintln(stderr, "envtrack: invalid configuration:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid; effective configuration, secrets redacted:\n", *configFile)
	fmt.Fprint(stdout, cfg.Redacted())
	// As serve does at start-up: ask InfluxDB once whether it answers envtrack's reads.
	// A refusal is no configuration error (and InfluxDB may just be down): a warning.
	if c := cfg.InfluxDB; c != nil {
		if err := influxdb.Probe(context.Background(), *c); err != nil {
			fmt.Fprintln(stderr, "envtrack: warning:", err)
		}
	}
	return 0
}
