package demo

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// P95Query is the Prometheus query for the p95 provisioning time over the last hour, on
// the native histogram (precise; the generated rules use the classic _bucket series,
// whose highest finite bucket is 600s).
const P95Query = `histogram_quantile(0.95, sum(rate(blueberry_environment_provisioning_duration_seconds[1h])))`

// Run starts the demo, prints where everything is and what to try, prints a status line
// now and then, and stops everything when ctx ends (Ctrl-C).
func Run(ctx context.Context, opts Options) error {
	d, err := Start(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // interrupted while starting: everything started was stopped
		}
		return err
	}
	if opts.Started != nil {
		opts.Started(d)
	}
	id, _ := d.WaitExample(ctx, 2*time.Minute)
	d.Banner(id)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.progress("stopping: envtrack, then InfluxDB, Prometheus and Alertmanager")
			err := d.Stop()
			if err == nil {
				d.progress("stopped; everything is in %s (the next run starts clean)", d.opts.Dir)
			}
			return err
		case <-t.C:
			fmt.Fprintln(d.opts.Out, d.Status())
		}
	}
}

// WaitExample waits (at most max) for an environment that reached ready, to show its
// timeline; it falls back to any tracked environment, then to the first simulated one.
func (d *Demo) WaitExample(ctx context.Context, max time.Duration) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	for {
		fallback := ""
		for _, s := range d.app.Tracker().States() {
			if s.Source != tracker.SourceArgoCD {
				continue
			}
			if s.EverReady {
				return s.ID, true
			}
			fallback = s.ID
		}
		select {
		case <-ctx.Done():
			if fallback == "" {
				fallback = d.Sim().Stats().FirstID
			}
			return fallback, false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Banner prints where everything is and three commands to try, with id as the example
// environment.
func (d *Demo) Banner(id string) {
	w := d.opts.Out
	u := d.urls
	cli := d.opts.EnvtrackBin
	if rel, err := filepath.Rel(mustGetwd(), cli); err == nil && !strings.HasPrefix(rel, "..") {
		cli = rel
		if !strings.Contains(cli, string(filepath.Separator)) {
			cli = "." + string(filepath.Separator) + cli
		}
	}
	rules := d.rulesFile
	if rules == "" {
		rules = "none (see the warning above)"
	}
	fmt.Fprintf(w, "\nenvtrack demo is running. Ctrl-C stops everything.\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  envtrack\t%s/\tlanding page; /metrics, /api/environments, /api/insights/performance-detailed\n", u.Envtrack)
	fmt.Fprintf(tw, "  Prometheus\t%s/api/v1/alerts\tHTTP API (a module build has no web UI); rules: %s\n", u.Prometheus, rules)
	fmt.Fprintf(tw, "  Alertmanager\t%s/\talerts are also printed here\n", u.Alertmanager)
	fmt.Fprintf(tw, "  InfluxDB 1.8\t%s\tdatabase envtrack, measurements environment_lifecycle and deployments\n", u.InfluxDB)
	fmt.Fprintf(tw, "  Argo CD (simulated)\t%s/api/v1/applications\ttoken in %s\n", u.ArgoCD, filepath.Join(d.opts.Dir, "secrets", "argocd.token"))
	fmt.Fprintf(tw, "  Grafana (fake)\t%s/api/annotations\ttoken in %s\n", u.Grafana, filepath.Join(d.opts.Dir, "secrets", "grafana.token"))
	_ = tw.Flush()
	fmt.Fprintf(w, "\n  Data, configurations and logs: %s (envtrack's log: %s)\n", d.opts.Dir, filepath.Join(d.opts.Dir, "logs", "envtrack.log"))
	if d.clock.CaughtUp() {
		fmt.Fprintf(w, "  The simulated platform runs in real time.\n")
	} else {
		fmt.Fprintf(w, "  The simulated platform replays the last %s at %g× (done in %s, at %s), then runs in real time.\n",
			shortDuration(d.opts.History), d.opts.Speed, shortDuration(time.Duration(float64(d.opts.History)/d.opts.Speed).Round(time.Second)),
			d.clock.CatchUp().Format("15:04:05"))
	}
	fmt.Fprintf(w, "\n  See it: open %s/ for charts of every provisioning attempt with the deployments overlaid,\n  each environment's life on a time axis (%s/environments/%s) and %s/insights.\n", u.Envtrack, u.Envtrack, url.PathEscape(id), u.Envtrack)
	fmt.Fprintf(w, "\nTry:\n\n")
	fmt.Fprintf(w, "  curl -s %s/api/environments/%s/timeline\n\n", u.Envtrack, url.PathEscape(id))
	fmt.Fprintf(w, "  %s insights --server %s\n\n", cli, u.Envtrack)
	fmt.Fprintf(w, "  p95 provisioning time (seconds) in Prometheus:\n    %s\n    %s\n\n", P95Query, PrometheusQueryURL(u.Prometheus, P95Query))
}

// PrometheusQueryURL is the instant query's URL on Prometheus's HTTP API (a browser shows
// its JSON answer; Prometheus built from the Go module has no web UI assets).
func PrometheusQueryURL(base, expr string) string {
	return base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode()
}

// shortDuration prints 24h, 6m, 1h30m rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func mustGetwd() string {
	wd, _ := filepath.Abs(".")
	return wd
}
