// Command envtrack-demo runs envtrack's whole pipeline on this machine (`make demo`): a
// simulated platform on a fake Argo CD, envtrack, InfluxDB 1.8, Prometheus with the
// generated rules, Alertmanager and a fake Grafana, all on 127.0.0.1, data in .demo/.
// main only wires: flags, signals, demo.Run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/blueberry-idp/envtrack/internal/demo"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("envtrack-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demo.Options
	fs.StringVar(&o.Dir, "dir", ".demo", "directory of the servers' data, configurations and logs (cleaned at start)")
	fs.StringVar(&o.ToolsDir, "tools", ".cache/bin", "directory holding influxd, prometheus, promtool and alertmanager (make tools)")
	fs.StringVar(&o.RulesFile, "rules", "deploy/prometheus/envtrack.rules.yml", "Prometheus rule file (run without it when absent)")
	fs.StringVar(&o.EnvtrackBin, "envtrack", "bin/envtrack", "envtrack CLI, for the commands to try")
	fs.Float64Var(&o.Speed, "speed", 240, "how much faster than real time the simulated platform replays the past (240: a day in 6 minutes)")
	fs.DurationVar(&o.History, "history", 24*time.Hour, "simulated time replayed before the present; then it runs in real time")
	fs.Float64Var(&o.PerHour, "per-hour", 20, "environments requested per simulated hour, on average (busier in working hours)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the simulated platform (0: random)")
	fs.BoolVar(&o.AnyPorts, "any-ports", false, "take free ports instead of the usual ones (9465, 9090, 9093, 8086, 8088, 8080, 3000)")
	fs.DurationVar(&o.ScrapeInterval, "scrape-interval", 5*time.Second, "Prometheus scrape and rule evaluation interval")
	fs.StringVar(&o.LogLevel, "log.level", "info", "envtrack's log level (its log is in DIR/logs/envtrack.log)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "envtrack-demo: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o.Out = stdout

	// The first Ctrl-C (or SIGTERM) stops everything in order; a second kills the servers
	// and exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	started := make(chan *demo.Demo, 1)
	o.Started = func(d *demo.Demo) { started <- d }
	go func() {
		<-sigs
		cancel()
		<-sigs
		select {
		case d := <-started:
			d.Kill()
		default: // still starting: the servers die with this process (Linux), or on their own
		}
		fmt.Fprintln(stderr, "envtrack-demo: killed")
		os.Exit(130)
	}()
	if err := demo.Run(ctx, o); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "envtrack-demo:", err)
		return 1
	}
	return 0
}
