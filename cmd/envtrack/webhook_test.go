package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWebhookTest: `envtrack webhook test NAME` sends one sample event, signed as the
// Standard Webhooks specification says (checked here from the specification), as a
// CloudEvent, with the configured headers, and prints the answer; a rejection, a dead
// endpoint and an unknown name exit 1 with a clear message.
func TestWebhookTest(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, body)
		code := status
		mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte("thanks\n"))
	}))
	defer srv.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`webhooks:
  - name: ci
    url: `+srv.URL+`/hooks/envtrack
    secret: `+secret+`
    types: [staging]
    headers: {authorization: "Bearer receiver-token"}
`), 0o600))
	runCmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := runCmd("webhook", "test", "ci", "--config", cfg)
	require.Equal(t, 0, code, errOut)
	require.Len(t, got, 1)
	r, body := got[0], bodies[0]
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	require.True(t, strings.HasPrefix(id, "test-"), id)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), r.Header.Get("webhook-signature"))
	require.Equal(t, "Bearer receiver-token", r.Header.Get("Authorization"))
	var ce struct{ SpecVersion, ID, Type, Subject string }
	require.NoError(t, json.Unmarshal(body, &ce))
	require.Equal(t, "1.0", ce.SpecVersion)
	require.Equal(t, id, ce.ID)
	require.Equal(t, "io.blueberry.envtrack.ready", ce.Type)
	require.Equal(t, "envtrack-webhook-test", ce.Subject)
	require.Contains(t, string(body), `"type":"staging"`, "a sample the filters select")
	require.Equal(t, "webhook ci ("+srv.URL+"/hooks/envtrack, cloudevents): test event ready envtrack-webhook-test, webhook-id "+id+", signed\n"+
		"answer: 202 Accepted: thanks\n", out)
	require.NotContains(t, out+errOut, "receiver-token")

	mu.Lock()
	status = http.StatusGone
	mu.Unlock()
	code, out, errOut = runCmd("webhook", "test", "--config", cfg, "ci")
	require.Equal(t, 1, code)
	require.Contains(t, out, "answer: 410 Gone: thanks\n")
	require.Equal(t, "envtrack webhook test: ci answered 410 Gone (rejected for good: the daemon would set such an event aside)\n", errOut)

	code, _, errOut = runCmd("webhook", "test", "chat", "--config", cfg)
	require.Equal(t, 1, code)
	require.Equal(t, "envtrack webhook test: "+cfg+` has no webhook named "chat" (webhooks: ci)`+"\n", errOut)

	srv.Close()
	code, _, errOut = runCmd("webhook", "test", "ci", "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "envtrack webhook test: ci: no answer: ")
	require.Contains(t, errOut, "connection refused")

	code, _, errOut = runCmd("webhook", "send")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: envtrack webhook test NAME [--config FILE]")
}
