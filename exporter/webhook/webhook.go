// Package webhook is the webhook sink: each endpoint of the `webhooks` list receives the
// journal's events, one signed POST per event, from its own cursor (DESIGN §8).
//
// # Signatures (Standard Webhooks)
//
// Every request carries the headers of the Standard Webhooks specification
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
// "Webhook headers" and "Signature scheme"):
//
//   - webhook-id: the event's id, stable across retries and restarts (the journal's id
//     and the event's sequence number, never containing '.'), so that the receiver can
//     drop a repeat: delivery is at least once;
//   - webhook-timestamp: the attempt's time, in Unix seconds (a retry has a new one);
//   - webhook-signature: "v1," and the base64 of HMAC-SHA256(key, id "." timestamp "."
//     body), where key is the secret's bytes after "whsec_" (base64-decoded).
//
// # Bodies
//
// format cloudevents: one CloudEvents 1.0 event in structured mode, JSON format
// (https://github.com/cloudevents/spec/blob/main/cloudevents/formats/json-format.md, §3;
// HTTP binding §3.2: Content-Type application/cloudevents+json): specversion "1.0", id
// (the event's id, as webhook-id), source, type "io.blueberry.envtrack.<event>" (a
// deployment marker is "io.blueberry.envtrack.marker.deployment"), subject (the
// environment id), time (the event's evidence time), datacontenttype application/json
// and data (Data).
//
// format slack: Slack's incoming-webhook message {"text": "..."}
// (https://api.slack.com/messaging/webhooks), one line per event (event.Summary) with
// the environment linked to its page when web.external_url is set; &, < and > escaped as
// Slack's formatting reference asks (https://api.slack.com/reference/surfaces/formatting#escaping).
//
// # Answers
//
// A 2xx answer delivers the event. Network errors, timeouts, 5xx, 408 and 429 are
// retried with the runner's jittered backoff, waiting at least what a Retry-After header
// asks; a redirect (3xx: never followed, as the specification advises) is retried too,
// being the endpoint's configuration, not the event's fault. Any other 4xx is the
// event's permanent rejection: the runner sets it aside for this endpoint (counted in
// envtrack_sink_set_aside_events_total{sink="webhook:NAME"}, on the landing page) and
// goes on; other sinks and endpoints are never held up, each having its own runner.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/model/event"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// maxAnswer bounds the answer body read; maxSnippet what of it an error or `envtrack
// webhook test` quotes.
const (
	maxAnswer  = 64 << 10
	maxSnippet = 200
)

// maxRetryAfter bounds a Retry-After: an endpoint asking for more is asked again within
// the hour.
const maxRetryAfter = time.Hour

// Options are what a Sink needs beyond its section.
type Options struct {
	// UserAgent of the requests; "" means config.DefaultUserAgent.
	UserAgent string
	// Web is the web section: Slack messages link the environment's page under its
	// external_url, and a CloudEvents source is that URL.
	Web config.WebConfig
	// Now is the attempts' clock (webhook-timestamp); nil means time.Now.
	Now func() time.Time
}

// Sink delivers events to one webhook endpoint. It is a sink.Selective (the endpoint's
// filters), a sink.Limited one (one event per request) and a sink.Current one (a new
// endpoint starts at the journal's end).
type Sink struct {
	cfg     config.WebhookConfig
	name    string
	key     []byte // nil: requests are not signed (a Slack endpoint without a secret)
	hc      *http.Client
	secrets *redact.Secrets
	opts    Options
	render  func(event.Event) ([]byte, error)
	ctype   string
}

// New returns the sink of one webhooks entry, as config.Load validated it. It does no
// I/O; logger is unused for now (the runner logs deliveries) and may be nil.
func New(cfg config.WebhookConfig, opts Options, _ log.Logger) (*Sink, error) {
	if opts.UserAgent == "" {
		opts.UserAgent = config.DefaultUserAgent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sink{cfg: cfg, name: config.WebhookSinkName(cfg.Name), opts: opts}
	if cfg.Secret != "" {
		key, err := config.WebhookKey(cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("%s: secret %w", s.name, err)
		}
		s.key = key
	}
	base, err := cfg.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	// Errors never show the secret, a credential header, or a Slack URL's path (its
	// secret); the URL itself is left out of them (see send).
	secrets := append([]string{string(cfg.Secret), cfg.URL}, cfg.Headers.Secrets()...)
	if cfg.Format == config.WebhookFormatSlack {
		if u, err := url.Parse(cfg.URL); err == nil && len(u.Path) > 1 {
			secrets = append(secrets, u.Path, strings.TrimPrefix(u.Path, "/"))
		}
	}
	s.secrets = redact.New(secrets...)
	s.hc = &http.Client{
		Transport:     s.secrets.Transport(base),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	switch cfg.Format {
	case config.WebhookFormatSlack:
		s.render, s.ctype = s.slack, "application/json"
	default:
		s.render, s.ctype = s.cloudEvent, "application/cloudevents+json; charset=utf-8"
	}
	return s, nil
}

// Name implements sink.Sink: "webhook:<name>".
func (s *Sink) Name() string { return s.name }

// Wants implements sink.Selective: the endpoint's filters.
func (s *Sink) Wants(e event.Event) bool { return s.cfg.Wants(e) }

// StartAtEnd implements sink.Current: an endpoint new to the journal is not sent what the
// journal already holds (history), unless it asked for history (include_backfill).
func (s *Sink) StartAtEnd() bool { return !s.cfg.IncludeBackfill }

// MaxBatch implements sink.Limited: one event per request, so that the cursor moves
// after each and a retry sends only the event that failed.
func (s *Sink) MaxBatch() int { return 1 }

// Close releases idle connections.
func (s *Sink) Close() { s.hc.CloseIdleConnections() }

// Deliver implements sink.Sink: one request per event, in order.
func (s *Sink) Deliver(ctx context.Context, events []event.Event) (retry bool, err error) {
	for _, e := range events {
		if _, err := s.Send(ctx, e); err != nil {
			return retryable(err), fmt.Errorf("event %s (%s %s): %w", e.ID, e.Name, e.EnvironmentID, err)
		}
	}
	return false, nil
}

// Answer is what the endpoint answered.
type Answer struct {
	Status int
	Body   string // a one-line snippet of the body
}

// Send posts e, signed, once: a non-2xx answer is a *StatusError. `envtrack webhook
// test` calls it directly (with no filter).
func (s *Sink) Send(ctx context.Context, e event.Event) (Answer, error) {
	if e.ID == "" || strings.Contains(e.ID, ".") {
		// The specification forbids '.' in the id (it delimits the signed content).
		return Answer{}, fmt.Errorf("event id %q cannot be a webhook-id", e.ID)
	}
	body, err := s.render(e)
	if err != nil {
		return Answer{}, fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Answer{}, s.secrets.Error(err)
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", s.ctype)
	req.Header.Set("User-Agent", s.opts.UserAgent)
	ts := s.opts.Now().Unix()
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if s.key != nil {
		req.Header.Set(HeaderSignature, Sign(s.key, e.ID, ts, body))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may be the secret (Slack)
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", s.cfg.RequestTimeout(), err)
		}
		return Answer{}, s.secrets.Error(err)
	}
	defer resp.Body.Close()
	// A 2xx answer whose body breaks off still took the event: the read error is moot.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	a := Answer{Status: resp.StatusCode, Body: snippet(s.secrets.String(string(raw)))}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return a, &StatusError{Status: resp.StatusCode, Body: a.Body,
			Location: redact.URL(resp.Header.Get("Location")), After: retryAfter(resp.Header.Get("Retry-After"), s.opts.Now())}
	}
	return a, nil
}

// Sign is the Standard Webhooks symmetric signature of one request: "v1," and the
// base64 of HMAC-SHA256(key, id "." timestamp "." body).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Status   int
	Body     string        // a snippet, secrets removed
	Location string        // a redirect's target, redacted
	After    time.Duration // what Retry-After asked, 0 if nothing
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Location != "" {
		msg += " to " + e.Location + " (redirects are not followed: set the final URL)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Retryable says whether the answer may change by itself: 5xx, 408 and 429 (the
// Standard Webhooks specification's throttling answers), and redirects, which are the
// endpoint's configuration. Any other 4xx rejects this event for good.
func (e *StatusError) Retryable() bool {
	return e.Status >= 500 || e.Status < 400 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// RetryAfter is what the endpoint asked to wait (sink.RetryAfter).
func (e *StatusError) RetryAfter() time.Duration { return e.After }

// retryable: an answer says; every other failure (no answer, a timeout) may pass.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	return true
}

// retryAfter parses a Retry-After value (delay-seconds or an HTTP date, RFC 9110
// §10.2.3), bounded by maxRetryAfter; 0 when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// snippet is a body as one bounded line.
func snippet(body string) string {
	return event.Truncate(strings.Join(strings.Fields(body), " "), maxSnippet)
}

// Sinks is the sink.Func of the `webhooks` list: one sink per endpoint, each with its
// own runner and durable cursor, so that a slow or dead endpoint holds up nothing else.
func Sinks(cfg *config.Config, logger log.Logger, _ prometheus.Registerer) ([]sink.Sink, error) {
	out := make([]sink.Sink, 0, len(cfg.Webhooks))
	for _, w := range cfg.Webhooks {
		s, err := New(w, Options{UserAgent: "envtrack/" + version.Version, Web: cfg.Web}, log.With(logger, "component", "webhook"))
		if err != nil {
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}
