package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blueberry-idp/envtrack/client"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// clientFlags are shared by the commands that talk to a running envtrack.
type clientFlags struct {
	server, token *string
	timeout       *time.Duration
}

func addClientFlags(fs interface {
	String(string, string, string) *string
	Duration(string, time.Duration, string) *time.Duration
}) clientFlags {
	return clientFlags{
		server:  fs.String("server", envOr("ENVTRACK_SERVER", "http://localhost:9465"), "envtrack URL ($ENVTRACK_SERVER)"),
		token:   fs.String("token", os.Getenv("ENVTRACK_TOKEN"), "API bearer token ($ENVTRACK_TOKEN)"),
		timeout: fs.Duration("timeout", 10*time.Second, "request timeout"),
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (f clientFlags) client() (*client.Client, error) {
	return client.New(*f.server, *f.token, *f.timeout)
}

// fail prints one line and returns the exit code: what a CI log should show.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "envtrack %s: %s\n", cmd, apitypes.Printable(err.Error())) // an API error may quote stored text
	return 1
}

// annotate is 001's CI step: a deployment marker in InfluxDB's deployments measurement
// and a Grafana annotation, through the envtrack API.
func annotate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("annotate", stderr)
	cf := addClientFlags(fs)
	env := fs.String("environment", "", "environment the deployment went to (required)")
	app := fs.String("application", "", "application deployed (required)")
	activity := fs.String("activity", "", `what happened, e.g. "deployment-app1-1.2.34" (required)`)
	status := fs.String("status", "success", "success, failed, ...")
	host := fs.String("host", "", "host deployed to (optional)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--environment", *env}, {"--application", *app}, {"--activity", *activity}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "envtrack annotate: missing %s\n", strings.Join(missing, ", "))
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stderr, "annotate", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
	defer cancel()
	acc, err := c.Annotate(ctx, apitypes.DeploymentMarker{Environment: *env, Application: *app, Activity: *activity, Status: *status, Host: *host})
	if err != nil {
		return fail(stderr, "annotate", err)
	}
	fmt.Fprintf(stdout, "recorded deployment marker %s: %s %s on %s\n", apitypes.Printable(acc.ID), apitypes.Printable(*activity),
		apitypes.Printable(*status), apitypes.Printable(*env))
	return 0
}

func timeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("timeline", stderr)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	// Accept the id before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		fmt.Fprintln(stderr, "envtrack timeline: usage: envtrack timeline ENVIRONMENT_ID [--server URL] [--json]")
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stderr, "timeline", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
	defer cancel()
	if *asJSON {
		raw, err := c.TimelineRaw(ctx, id)
		if err != nil {
			return fail(stderr, "timeline", err)
		}
		printJSON(stdout, raw)
		return 0
	}
	tl, err := c.Timeline(ctx, id)
	if err != nil {
		return fail(stderr, "timeline", err)
	}
	printTimeline(stdout, tl)
	return 0
}

// printJSON prints the API's (compact) JSON indented, for people, with the raw runes
// JSON allows in strings escaped (apitypes.PrintableJSON).
func printJSON(w io.Writer, raw []byte) {
	var b bytes.Buffer
	if json.Indent(&b, bytes.TrimSpace(raw), "", "  ") != nil {
		fmt.Fprintln(w, apitypes.Printable(string(raw)))
		return
	}
	fmt.Fprintln(w, string(apitypes.PrintableJSON(b.Bytes())))
}

func printTimeline(w io.Writer, tl *apitypes.Timeline) {
	// Every string here comes from the store, possibly written by an older version that
	// did not refuse control characters: each goes through apitypes.Printable.
	fmt.Fprintf(w, "Environment %s (%s)\n\n", apitypes.Printable(tl.EnvironmentID), apitypes.Printable(tl.EnvironmentName))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tDETAILS")
	for _, e := range tl.Timeline {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Timestamp.UTC().Format(time.RFC3339), apitypes.Printable(string(e.Event)), details(e.Metadata))
	}
	tw.Flush()
	s := tl.Summary
	fmt.Fprintf(w, "\nOutcome: %s", apitypes.Printable(s.Outcome))
	if s.ProvisioningDurationSeconds != nil {
		fmt.Fprintf(w, " · provisioning %s", secs(*s.ProvisioningDurationSeconds))
	}
	if s.TotalLifetimeHours != nil {
		// Exact to the second (two decimals of an hour would hide 36 s).
		fmt.Fprintf(w, " · lifetime %s", secs(math.Round(*s.TotalLifetimeHours*3600)))
	}
	fmt.Fprintln(w)
}

// details shows the metadata users look for first, in a stable order.
func details(m map[string]any) string {
	first := []string{event.MetaReason, event.MetaProvisioningDuration, event.MetaRevision, event.MetaCause,
		event.MetaLate, event.MetaRepository, event.MetaBranch, event.MetaCommitSHA}
	var parts []string
	for _, k := range first {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+apitypes.Printable(fmt.Sprint(v)))
		}
	}
	return strings.Join(parts, " ")
}

func secs(s float64) string { return (time.Duration(s) * time.Second).String() }

func fmtOpt(v *float64, f func(float64) string) string {
	if v == nil {
		return "-"
	}
	return f(*v)
}

// printSLOs prints each type's objectives and error budgets (002: a user failure is a
// success of the platform, counted on its own).
func printSLOs(stdout io.Writer, slos []apitypes.SLOStatus) {
	if len(slos) == 0 {
		return
	}
	pct := func(v float64) string { return fmt.Sprintf("%.2f%%", v) }
	num := func(v float64) string { return fmt.Sprintf("%g", v) }
	fmt.Fprintf(stdout, "\nSLOs (each over its own window; burn rate over the last hour)\n")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tWINDOW\tSLI\tOBJECTIVE\tACTUAL\tBUDGET LEFT\tBURN RATE\tUSER FAILURES")
	for _, s := range slos {
		for _, o := range []struct {
			name string
			st   apitypes.ObjectiveStatus
		}{{"latency", s.Latency}, {"success", s.Success}} {
			name, user := o.name, "-"
			if o.st.ThresholdSeconds != nil {
				name += " <= " + secs(*o.st.ThresholdSeconds)
			} else {
				user = fmt.Sprint(s.UserFailures)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%g%%\t%s\t%s\t%s\t%s\n", apitypes.Printable(s.Type), apitypes.Printable(s.Window), name, o.st.Objective,
				fmtOpt(o.st.Actual, pct), fmtOpt(o.st.ErrorBudgetRemaining, pct), fmtOpt(o.st.BurnRate, num), user)
		}
	}
	tw.Flush()
}

// insights is the test script of 000: the metrics, a timeline, the recommendations.
func insights(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("insights", stderr)
	cf := addClientFlags(fs)
	window := fs.String("window", "7d", "window, e.g. 24h, 7d, 30d")
	typ := fs.String("type", "", "only this environment type")
	envID := fs.String("environment", "", "also show this environment's timeline")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := cf.client()
	if err != nil {
		return fail(stderr, "insights", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
	defer cancel()
	p, raw, err := c.Performance(ctx, *window, *typ)
	if err != nil {
		return fail(stderr, "insights", err)
	}
	if *asJSON {
		printJSON(stdout, raw)
		return 0
	}
	pr := p.EnvironmentPerformance.Provisioning
	fmt.Fprintf(stdout, "Provisioning performance, last %s", apitypes.Printable(p.Window))
	if p.Type != "" {
		fmt.Fprintf(stdout, " (type %s)", apitypes.Printable(p.Type))
	}
	fmt.Fprintf(stdout, "\n\n")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tATTEMPTS\tSUCCESS\tAVG\tP50\tP95\tP99")
	row := func(name string, x apitypes.Provisioning) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", apitypes.Printable(name), x.SampleSize,
			fmtOpt(x.SuccessRate, func(v float64) string { return fmt.Sprintf("%.2f%%", v) }),
			fmtOpt(x.AverageSeconds, secs), fmtOpt(x.P50Seconds, secs), fmtOpt(x.P95Seconds, secs), fmtOpt(x.P99Seconds, secs))
	}
	row("all", pr)
	types := make([]string, 0, len(p.EnvironmentPerformance.ByType))
	for k := range p.EnvironmentPerformance.ByType {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		row(k, p.EnvironmentPerformance.ByType[k])
	}
	tw.Flush()
	if len(pr.FailuresByReason) > 0 {
		reasons := make([]string, 0, len(pr.FailuresByReason))
		for r, n := range pr.FailuresByReason {
			reasons = append(reasons, fmt.Sprintf("%s %d", apitypes.Printable(r), n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(stdout, "\nFailures: %s (user %d, platform %d)\n", strings.Join(reasons, ", "), pr.UserFailures, pr.PlatformFailures)
	}
	printSLOs(stdout, p.SLOs)
	fmt.Fprintf(stdout, "\nTargets\n")
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, t := range p.Targets {
		val := "-"
		if t.Value != nil {
			val = fmt.Sprintf("%g %s", *t.Value, apitypes.Printable(t.Unit))
		}
		fmt.Fprintf(tw, "  %s\t%s\ttarget %g, alert %g\t%s\n", apitypes.Printable(t.Name), val, t.Target, t.Alert, apitypes.Printable(strings.ToUpper(t.Status)))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nRecommendations\n")
	for _, r := range p.Recommendations {
		fmt.Fprintf(stdout, "  [%s] %s: %s\n", apitypes.Printable(r.Severity), apitypes.Printable(r.Title), apitypes.Printable(r.Detail))
	}
	if *envID != "" {
		tl, err := c.Timeline(ctx, *envID)
		if err != nil {
			return fail(stderr, "insights", err)
		}
		fmt.Fprintln(stdout)
		printTimeline(stdout, tl)
	}
	return 0
}
