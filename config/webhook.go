package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/net/http/httpguts"
	"gopkg.in/yaml.v3"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/model/event"
)

// WebhookConfig is one endpoint of the `webhooks` list (DESIGN §8): a sink of its own,
// named WebhookSinkName(Name), delivering from its own cursor in the journal, one event
// per request, signed as the Standard Webhooks specification says
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
type WebhookConfig struct {
	// Name identifies the endpoint: its sink is "webhook:<name>" in metrics, logs and
	// the landing page (so it is a short label value), and `envtrack webhook test NAME`.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret signs every request (webhook-signature): "whsec_" and the base64 of 24 to
	// 64 random bytes, the Standard Webhooks form. Required for cloudevents; optional for
	// slack, whose URL is its own secret.
	Secret     Secret `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Format of the body: WebhookFormatCloudEvents or WebhookFormatSlack.
	Format string `yaml:"format"`
	// Events and Types select what is sent: event names (a deployment marker counts as
	// "deployed") and environment types; empty means all.
	Events []string `yaml:"events"`
	Types  []string `yaml:"types"`
	// IncludeBackfill also sends history: events found on Argo CD's first look
	// (backfill) and those loaded by `envtrack import`, and, when the endpoint is new,
	// what the journal held before it (journal.retention), which live receivers do not
	// want by default: a new endpoint starts at the journal's end.
	IncludeBackfill bool           `yaml:"include_backfill"`
	Timeout         model.Duration `yaml:"timeout"`
	// Headers are added to every request; those whose name looks like a credential
	// (redact.SecretHeader) are shown as <secret>.
	Headers Headers   `yaml:"headers"`
	TLS     TLSConfig `yaml:"tls"`
}

// Values of webhooks[].format.
const (
	// WebhookFormatCloudEvents is a CloudEvents 1.0 event in structured mode, JSON format
	// (https://github.com/cloudevents/spec/blob/main/cloudevents/formats/json-format.md).
	WebhookFormatCloudEvents = "cloudevents"
	// WebhookFormatSlack is Slack's incoming-webhook message: {"text": "..."}
	// (https://api.slack.com/messaging/webhooks).
	WebhookFormatSlack = "slack"
)

// WebhookNameRegexp is what a webhook name must match: a short label value.
var WebhookNameRegexp = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// WebhookSinkName is the sink name of the webhook named name: its cursor, its metrics'
// sink label, its log lines.
func WebhookSinkName(name string) string { return "webhook:" + name }

// Standard Webhooks' symmetric secrets: "whsec_" + base64 of 24 to 64 bytes.
const (
	WebhookSecretPrefix   = "whsec_"
	webhookSecretMinBytes = 24
	webhookSecretMaxBytes = 64
)

// WebhookKey returns the HMAC-SHA256 key of a Standard Webhooks secret ("whsec_" and
// the standard base64 of 24 to 64 bytes). Its errors never quote the secret.
func WebhookKey(s Secret) ([]byte, error) {
	b64, ok := strings.CutPrefix(string(s), WebhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %q (Standard Webhooks' form: %s and the base64 of 24 to 64 random bytes)",
			WebhookSecretPrefix, WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("is not valid base64 after " + WebhookSecretPrefix)
	}
	if len(key) < webhookSecretMinBytes || len(key) > webhookSecretMaxBytes {
		return nil, fmt.Errorf("must hold %d to %d bytes after %s, has %d", webhookSecretMinBytes, webhookSecretMaxBytes,
			WebhookSecretPrefix, len(key))
	}
	return key, nil
}

// reservedWebhookHeaders are set by the sink itself.
var reservedWebhookHeaders = []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *WebhookConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultWebhookConfig
	type plain WebhookConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil {
		return err
	}
	if c.Name == "" {
		return nodeErrorf(node, "name", "must be set")
	}
	if !WebhookNameRegexp.MatchString(c.Name) {
		return nodeErrorf(node, "name", "%q is not a valid webhook name (must match %s)", c.Name, WebhookNameRegexp)
	}
	if err := requiredHTTPURL(node, "url", c.URL); err != nil {
		return err
	}
	if err := noCredentials(node, "url", c.URL); err != nil {
		return nodeErrorf(node, "url", "must not carry credentials (user:password@); use headers")
	}
	if c.Format != WebhookFormatCloudEvents && c.Format != WebhookFormatSlack {
		return nodeErrorf(node, "format", "must be %q or %q, got %q", WebhookFormatCloudEvents, WebhookFormatSlack, c.Format)
	}
	if err := secretPair(node, "secret", c.Secret != "", c.SecretFile != "", c.Format == WebhookFormatCloudEvents); err != nil {
		return err
	}
	if c.Secret != "" {
		if _, err := WebhookKey(c.Secret); err != nil {
			return nodeErrorf(node, "secret", "%w", err)
		}
	}
	for i, e := range c.Events {
		if !event.Name(e).Valid() {
			names := make([]string, len(event.Names))
			for j, n := range event.Names {
				names[j] = string(n)
			}
			return listItemError(node, "events", i, "%q is not an event (one of %s)", e, strings.Join(names, ", "))
		}
	}
	for i, t := range c.Types {
		if !EnvironmentIDRegexp.MatchString(t) {
			return listItemError(node, "types", i, "%q is not a valid type (must match %s)", t, EnvironmentIDRegexp)
		}
	}
	if err := positive(node, "timeout", c.Timeout); err != nil {
		return err
	}
	return c.Headers.check(node)
}

// listItemError is a problem with key[i], reported at the item's own line.
func listItemError(node *yaml.Node, key string, i int, format string, args ...any) error {
	err := nodeErrorf(node, fmt.Sprintf("%s[%d]", key, i), format, args...)
	if seq := mappingValue(node, key); seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
		err.(*nodeError).line = seq.Content[i].Line
	}
	return err
}

// Wants reports whether the endpoint's filters select e: its event name and environment
// type, and history only when it asked for it.
func (c *WebhookConfig) Wants(e event.Event) bool {
	if !e.Name.Valid() {
		return false // not a lifecycle event nor a marker (a journal entry of another kind)
	}
	if e.Backfill() && !c.IncludeBackfill {
		return false
	}
	if len(c.Events) > 0 && !slices.Contains(c.Events, string(e.Name)) {
		return false
	}
	return len(c.Types) == 0 || slices.Contains(c.Types, e.Type)
}

// RequestTimeout is the timeout of one request.
func (c *WebhookConfig) RequestTimeout() time.Duration { return time.Duration(c.Timeout) }

// Headers are the extra HTTP headers of a webhook. Printed (%v, YAML, JSON), the value
// of every header whose name looks like a credential is <secret>.
type Headers map[string]string

// Shown returns the headers as they may be shown: credential values masked.
func (h Headers) Shown() map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if redact.SecretHeader(k) && v != "" {
			v = redacted
		}
		out[k] = v
	}
	return out
}

// Secrets returns the values of the credential headers, for redact.New.
func (h Headers) Secrets() []string {
	var out []string
	for k, v := range h {
		if redact.SecretHeader(k) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// String implements fmt.Stringer.
func (h Headers) String() string { return fmt.Sprint(h.Shown()) }

// GoString implements fmt.GoStringer.
func (h Headers) GoString() string { return fmt.Sprintf("config.Headers(%#v)", h.Shown()) }

// MarshalYAML implements yaml.Marshaler.
func (h Headers) MarshalYAML() (any, error) { return h.Shown(), nil }

// check validates the names and values and makes the names canonical.
func (h *Headers) check(node *yaml.Node) error {
	if len(*h) == 0 {
		*h = nil
		return nil
	}
	keys := make([]string, 0, len(*h))
	for k := range *h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(Headers, len(keys))
	hnode := mappingValue(node, "headers")
	for _, k := range keys {
		v := (*h)[k]
		canon := http.CanonicalHeaderKey(k)
		var err error
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			err = nodeErrorf(hnode, k, "is not a valid header name")
		case slices.Contains(reservedWebhookHeaders, canon):
			err = nodeErrorf(hnode, k, "is set by envtrack itself")
		case !httpguts.ValidHeaderFieldValue(v):
			err = nodeErrorf(hnode, k, "must not contain line breaks or control characters")
		}
		if _, dup := out[canon]; dup && err == nil {
			err = nodeErrorf(hnode, k, "is given twice (header names are case-insensitive)")
		}
		if err != nil {
			return err
		}
		out[canon] = v
	}
	*h = out
	return nil
}

// WebConfig is how envtrack's pages are reached from outside.
type WebConfig struct {
	// ExternalURL is the URL people reach envtrack's pages at (behind a proxy, with its
	// sub-path): Slack messages link the environment's page under it. "" means no links.
	ExternalURL string `yaml:"external_url"`
}

// UnmarshalYAML implements the (v2-style) yaml.Unmarshaler interface.
func (c *WebConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = WebConfig{}
	type plain WebConfig
	node, err := decodeSection(unmarshal, (*plain)(c))
	if err != nil || c.ExternalURL == "" {
		return err
	}
	u, err := checkHTTPURL(c.ExternalURL)
	if err != nil {
		return nodeErrorf(node, "external_url", "%w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.User != nil {
		return nodeErrorf(node, "external_url", "must not have credentials, a query or a fragment")
	}
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	return nil
}

// Link returns the absolute URL of a page path (relative to envtrack's root) under
// ExternalURL, "" without one.
func (c WebConfig) Link(path string) string {
	if c.ExternalURL == "" {
		return ""
	}
	return c.ExternalURL + "/" + strings.TrimLeft(path, "/")
}

// ShownURL is the endpoint's URL as logs, check-config and the landing page show it:
// redact.URL's masking, and a Slack URL's path, which is its secret
// (https://hooks.slack.com/services/T…/B…/<secret>), masked whole.
func (c WebhookConfig) ShownURL() string {
	if c.Format != WebhookFormatSlack {
		return redact.URL(c.URL)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Scheme + "://" + u.Host + "/" + redacted
}
