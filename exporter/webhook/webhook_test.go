package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/internal/webhooktest"
	"github.com/blueberry-idp/envtrack/model/event"
)

// specSecret is the secret of the Standard Webhooks libraries' tests.
const specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func newSink(t *testing.T, cfg config.WebhookConfig, opts Options) *Sink {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "ci"
	}
	if cfg.Format == "" {
		cfg.Format = config.WebhookFormatCloudEvents
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = config.DefaultWebhookConfig.Timeout
	}
	s, err := New(cfg, opts, nil)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func readyEvent(seq int) event.Event {
	return event.Event{
		Seq: uint64(seq), ID: "0011223344556677-" + itoa(seq), EnvironmentID: "pr-" + itoa(seq), EnvironmentName: "PR " + itoa(seq),
		Name: event.Ready, Time: t0.Add(time.Duration(seq) * time.Minute), Type: "preview",
		Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d5e6f7a8b",
		Metadata:   map[string]any{event.MetaProvisioningDuration: 225.0},
		RecordedAt: t0.Add(time.Duration(seq)*time.Minute + time.Second), Source: "argocd",
	}
}

func itoa(i int) string { return fmt.Sprintf("%03d", i) }

// TestSignSpecVector: Sign gives the signature the Standard Webhooks libraries' own tests
// expect (libraries/go/webhook_test.go, TestWebhookSign), and the test receiver's
// verification accepts it.
func TestSignSpecVector(t *testing.T) {
	key, err := config.WebhookKey(specSecret)
	require.NoError(t, err)
	body := []byte(`{"test": 2432232314}`)
	sig := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm90LXRoaXMtb25l v1a,c2lnbmVk "+sig) // a list: one match suffices
	require.NoError(t, webhooktest.Verify(specSecret, h, body))
	require.Error(t, webhooktest.Verify(specSecret, h, []byte(`{"test": 2432232315}`)), "a tampered body")
	h.Set("webhook-timestamp", "1614265331")
	require.Error(t, webhooktest.Verify(specSecret, h, body), "a tampered timestamp")
}

// TestCloudEventSigned: one POST per event, signed as the specification says (the
// receiver verifies each), the event id as webhook-id and CloudEvents id, the body a
// CloudEvents 1.0 JSON event; the receiver rejects the same request with its body
// tampered with.
func TestCloudEventSigned(t *testing.T) {
	rc := webhooktest.New(t, specSecret)
	s := newSink(t, config.WebhookConfig{URL: rc.URL(), Secret: specSecret,
		Headers: config.Headers{"Authorization": "Bearer receiver-token", "X-Team": "platform"}},
		Options{UserAgent: "envtrack/test", Web: config.WebConfig{ExternalURL: "https://envtrack.example.com/sub"}})

	evs := []event.Event{readyEvent(1), readyEvent(2), readyEvent(3)}
	retry, err := s.Deliver(context.Background(), evs)
	require.NoError(t, err)
	require.False(t, retry)
	rc.MustAllVerify()
	reqs := rc.Requests()
	require.Len(t, reqs, 3, "one request per event")
	for i, r := range reqs {
		e := evs[i]
		require.Equal(t, e.ID, r.Header.Get("webhook-id"))
		require.Equal(t, "application/cloudevents+json; charset=utf-8", r.Header.Get("Content-Type"))
		require.Equal(t, "envtrack/test", r.Header.Get("User-Agent"))
		require.Equal(t, "Bearer receiver-token", r.Header.Get("Authorization"))
		require.Equal(t, "platform", r.Header.Get("X-Team"))

		var ce map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &ce))
		require.Equal(t, "1.0", ce["specversion"])
		require.Equal(t, e.ID, ce["id"], "CloudEvents id = webhook-id")
		require.Equal(t, "https://envtrack.example.com/sub", ce["source"])
		require.Equal(t, "io.blueberry.envtrack.ready", ce["type"])
		require.Equal(t, e.EnvironmentID, ce["subject"])
		require.Equal(t, e.Time.Format(time.RFC3339), ce["time"], "the evidence's time")
		require.Equal(t, "application/json", ce["datacontenttype"])
		data := ce["data"].(map[string]any)
		require.Equal(t, e.ID, data["id"])
		require.Equal(t, "ready", data["event"])
		require.Equal(t, "preview", data["type"])
		require.Equal(t, e.EnvironmentID+" ready after 3m45s (backend-api@main 1a2b3c4d)", data["summary"])
		require.Equal(t, "https://envtrack.example.com/sub/environments/"+e.EnvironmentID, data["url"])
		require.Equal(t, 225.0, data["metadata"].(map[string]any)[event.MetaProvisioningDuration])
	}

	// The same request, its body tampered with, is refused by the receiver.
	req, err := http.NewRequest(http.MethodPost, rc.URL(), bytes.NewReader(bytes.Replace(reqs[0].Body, []byte("ready"), []byte("ready!"), 1)))
	require.NoError(t, err)
	req.Header = reqs[0].Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Error(t, rc.Requests()[3].Verified)
}

// TestAnswers: what each answer means for the runner: delivered, retried (with the
// Retry-After asked) or rejected for good; redirects are never followed.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		status     int
		header     map[string]string
		retry      bool
		retryAfter time.Duration
		errText    string
	}{
		{status: 200}, {status: 202}, {status: 204},
		{status: 301, header: map[string]string{"Location": "https://other.example.com/?token=leak"}, retry: true,
			errText: "301 Moved Permanently to https://other.example.com/?token=<secret> (redirects are not followed"},
		{status: 400, errText: "400 Bad Request: ok"},
		{status: 401}, {status: 404}, {status: 410}, {status: 422},
		{status: 408, retry: true}, {status: 500, retry: true}, {status: 502, retry: true}, {status: 503, retry: true},
		{status: 429, header: map[string]string{"Retry-After": "7"}, retry: true, retryAfter: 7 * time.Second},
		{status: 503, header: map[string]string{"Retry-After": "86400"}, retry: true, retryAfter: time.Hour},
		{status: 429, header: map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, retry: true,
			retryAfter: 90 * time.Second},
		{status: 429, header: map[string]string{"Retry-After": "soon"}, retry: true},
	} {
		rc := webhooktest.New(t, specSecret)
		rc.SetAnswer(func(_ int, _ *http.Request, w http.ResponseWriter) int {
			for k, v := range tc.header {
				w.Header().Set(k, v)
			}
			return tc.status
		})
		s := newSink(t, config.WebhookConfig{URL: rc.URL(), Secret: specSecret}, Options{Now: func() time.Time { return t0 }})
		retry, err := s.Deliver(context.Background(), []event.Event{readyEvent(1)})
		name := http.StatusText(tc.status) + " " + tc.header["Retry-After"]
		if tc.status < 300 {
			require.NoError(t, err, name)
			continue
		}
		require.Error(t, err, name)
		require.Equal(t, tc.retry, retry, name)
		require.Equal(t, tc.retryAfter, sink.RetryAfter(err), name)
		require.Contains(t, err.Error(), "event 0011223344556677-001 (ready pr-001)", name)
		if tc.errText != "" {
			require.Contains(t, err.Error(), tc.errText, name)
		}
		require.Len(t, rc.Requests(), 1, "%s: one request, no redirect followed", name)
	}
}

// TestNoAnswer: a dead endpoint and one that does not answer within the timeout are
// retryable failures, and their errors say which.
func TestNoAnswer(t *testing.T) {
	rc := webhooktest.New(t, specSecret)
	dead := rc.URL()
	rc.Server().Close()
	s := newSink(t, config.WebhookConfig{URL: dead, Secret: specSecret}, Options{})
	retry, err := s.Deliver(context.Background(), []event.Event{readyEvent(1)})
	require.True(t, retry)
	require.ErrorContains(t, err, "connection refused")
	require.NotContains(t, err.Error(), dead, "the URL stays out of errors")

	slow := webhooktest.New(t, specSecret)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow.SetAnswer(func(_ int, r *http.Request, _ http.ResponseWriter) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200
	})
	s = newSink(t, config.WebhookConfig{URL: slow.URL(), Secret: specSecret, Timeout: model.Duration(50 * time.Millisecond)}, Options{})
	retry, err = s.Deliver(context.Background(), []event.Event{readyEvent(1)})
	require.True(t, retry)
	require.ErrorContains(t, err, "no answer within 50ms")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestSlack: Slack's incoming-webhook message, one line per event with the environment
// linked to its page, mrkdwn's three characters escaped; history marked; the URL (the
// Slack secret) never in an error; unsigned without a secret.
func TestSlack(t *testing.T) {
	rc := webhooktest.New(t, "")
	rc.SetAnswer(func(n int, _ *http.Request, _ http.ResponseWriter) int {
		if n == 2 {
			return http.StatusNotFound // Slack's channel_not_found
		}
		return 200
	})
	s := newSink(t, config.WebhookConfig{Name: "chat", Format: config.WebhookFormatSlack, URL: rc.URL()},
		Options{Web: config.WebConfig{ExternalURL: "https://envtrack.example.com"}})
	failed := readyEvent(7)
	failed.Name, failed.EnvironmentID = event.ProvisioningFailed, "pr-<7>&co"
	failed.Metadata = map[string]any{event.MetaReason: "timeout", event.MetaBackfill: true}
	marker := event.Event{Seq: 8, ID: "0011223344556677-8", EnvironmentID: "staging", Name: event.Deployed,
		Metadata: event.Marker{Activity: "deploy-app1-1.2.34", Status: "success", Host: "web-1"}.Metadata()}
	_, err := s.Deliver(context.Background(), []event.Event{failed, marker})
	require.NoError(t, err)
	reqs := rc.Requests()
	require.Len(t, reqs, 2)
	require.Empty(t, reqs[0].Header.Get("webhook-signature"), "no secret, no signature")
	require.Equal(t, failed.ID, reqs[0].Header.Get("webhook-id"))
	require.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
	var msg map[string]string
	require.NoError(t, json.Unmarshal(reqs[0].Body, &msg))
	require.Equal(t, map[string]string{"text": "<https://envtrack.example.com/environments/pr-%3C7%3E&amp;co|pr-&lt;7&gt;&amp;co> provisioning failed (platform): timeout (backend-api@main 1a2b3c4d) (history)"}, msg)
	require.NoError(t, json.Unmarshal(reqs[1].Body, &msg))
	require.Equal(t, "<https://envtrack.example.com/environments/staging|staging>: deploy-app1-1.2.34 success on web-1", msg["text"])

	retry, err := s.Deliver(context.Background(), []event.Event{readyEvent(9)})
	require.False(t, retry, "404 rejects the event for good")
	require.ErrorContains(t, err, "404 Not Found")
	require.NotContains(t, err.Error(), "/hooks/envtrack")

	// Without web.external_url, no link.
	require.Equal(t, "pr-001 ready after 3m45s (backend-api@main 1a2b3c4d)", SlackText(readyEvent(1), ""))
}

// TestSecretsOutOfErrors: an endpoint echoing the request (headers, URL) in an error
// answer leaks neither the credential header nor the signing secret.
func TestSecretsOutOfErrors(t *testing.T) {
	echo := webhooktest.New(t, specSecret)
	echo.Server().Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte("bad request from " + r.Header.Get("X-Api-Key") + " signed with " + specSecret))
	})
	s := newSink(t, config.WebhookConfig{URL: echo.URL(), Secret: specSecret, Headers: config.Headers{"X-Api-Key": "key-value-1234"}}, Options{})
	_, err := s.Deliver(context.Background(), []event.Event{readyEvent(1)})
	require.ErrorContains(t, err, "400 Bad Request: bad request from <secret> signed with <secret>")
	require.NotContains(t, err.Error(), "key-value-1234")
	var se *StatusError
	require.True(t, errors.As(err, &se))
}

// TestBadID: an id that cannot be a webhook-id is refused before any request.
func TestBadID(t *testing.T) {
	rc := webhooktest.New(t, specSecret)
	s := newSink(t, config.WebhookConfig{URL: rc.URL(), Secret: specSecret}, Options{})
	e := readyEvent(1)
	e.ID = "a.b"
	_, err := s.Send(context.Background(), e)
	require.ErrorContains(t, err, `event id "a.b" cannot be a webhook-id`)
	require.Empty(t, rc.Requests())
}
