package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-kit/log"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/webhook"
	"github.com/blueberry-idp/envtrack/model/apitypes"
)

const webhookUsage = "usage: envtrack webhook test NAME [--config FILE]"

// webhookCmd is `envtrack webhook test NAME`: one signed sample event to the endpoint
// NAME of the configuration, sent as the daemon sends (same signature, body, headers,
// timeout), and the endpoint's answer printed. It exits 0 on a 2xx answer.
func webhookCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "envtrack webhook:", webhookUsage)
		return 2
	}
	fs := newFlagSet("webhook test", stderr)
	configFile := fs.String("config", "envtrack.yml", "configuration file")
	args = args[1:]
	var name string // before or after the flags
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprintln(stderr, "envtrack webhook test:", webhookUsage)
		return 2
	}
	cfg, err := config.Load(*configFile)
	if err != nil {
		return fail(stderr, "webhook test", err)
	}
	var wc *config.WebhookConfig
	var names []string
	for i := range cfg.Webhooks {
		names = append(names, cfg.Webhooks[i].Name)
		if cfg.Webhooks[i].Name == name {
			wc = &cfg.Webhooks[i]
		}
	}
	if wc == nil {
		return fail(stderr, "webhook test", fmt.Errorf("%s has no webhook named %q (webhooks: %s)", *configFile, name, strings.Join(names, ", ")))
	}
	s, err := webhook.New(*wc, webhook.Options{UserAgent: "envtrack/" + version.Version, Web: cfg.Web}, log.NewNopLogger())
	if err != nil {
		return fail(stderr, "webhook test", err)
	}
	defer s.Close()
	e, answer, err := s.Test(context.Background())
	signed := "signed"
	if wc.Secret == "" {
		signed = "unsigned (no secret)"
	}
	fmt.Fprintf(stdout, "webhook %s (%s, %s): test event %s %s, webhook-id %s, %s\n", name, wc.ShownURL(), wc.Format, e.Name, e.EnvironmentID, e.ID, signed)
	var se *webhook.StatusError
	if err != nil && !errors.As(err, &se) {
		return fail(stderr, "webhook test", fmt.Errorf("%s: no answer: %w", name, err))
	}
	fmt.Fprintf(stdout, "answer: %d %s", answer.Status, http.StatusText(answer.Status))
	if se != nil && se.Location != "" {
		fmt.Fprintf(stdout, " to %s (redirects are not followed: set the final URL)", apitypes.Printable(se.Location))
	}
	if answer.Body != "" {
		fmt.Fprintf(stdout, ": %s", apitypes.Printable(answer.Body)) // the receiver's words, not ours
	}
	fmt.Fprintln(stdout)
	if se != nil {
		what := "rejected for good: the daemon would set such an event aside"
		if se.Retryable() {
			what = "retryable: the daemon would try again"
		}
		return fail(stderr, "webhook test", fmt.Errorf("%s answered %d %s (%s)", name, se.Status, http.StatusText(se.Status), what))
	}
	return 0
}
