package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/webhooktest"
)

// TestWebhookTest: `envtrack webhook test NAME` sends one sample event, signed as the
// Standard Webhooks specification says (checked here from the specification), as a
// CloudEvent, with the configured headers, and prints the answer; a rejection, a dead
// endpoint and an unknown name exit 1 with a clear message.
func TestWebhookTest(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rc := webhooktest.New(t, secret)
	rc.SetAnswer(func(int, *http.Request, http.ResponseWriter) int { return http.StatusAccepted })
	srvURL := strings.TrimSuffix(rc.URL(), "/hooks/envtrack")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`webhooks:
  - name: ci
    url: `+rc.URL()+`
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
	rc.MustAllVerify() // signed as the specification says
	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	r, body := reqs[0], reqs[0].Body
	id := r.ID()
	require.True(t, strings.HasPrefix(id, "test-"), id)
	require.Equal(t, "Bearer receiver-token", r.Header.Get("Authorization"))
	var ce struct{ SpecVersion, ID, Type, Subject string }
	require.NoError(t, json.Unmarshal(body, &ce))
	require.Equal(t, "1.0", ce.SpecVersion)
	require.Equal(t, id, ce.ID)
	require.Equal(t, "io.blueberry.envtrack.ready", ce.Type)
	require.Equal(t, "envtrack-webhook-test", ce.Subject)
	require.Contains(t, string(body), `"type":"staging"`, "a sample the filters select")
	require.Equal(t, "webhook ci ("+srvURL+"/hooks/envtrack, cloudevents): test event ready envtrack-webhook-test, webhook-id "+id+", signed\n"+
		"answer: 202 Accepted: ok\n", out)
	require.NotContains(t, out+errOut, "receiver-token")

	rc.SetAnswer(func(int, *http.Request, http.ResponseWriter) int { return http.StatusGone })
	code, out, errOut = runCmd("webhook", "test", "--config", cfg, "ci")
	require.Equal(t, 1, code)
	require.Contains(t, out, "answer: 410 Gone: ok\n")
	require.Equal(t, "envtrack webhook test: ci answered 410 Gone (rejected for good: the daemon would set such an event aside)\n", errOut)

	code, _, errOut = runCmd("webhook", "test", "chat", "--config", cfg)
	require.Equal(t, 1, code)
	require.Equal(t, "envtrack webhook test: "+cfg+` has no webhook named "chat" (webhooks: ci)`+"\n", errOut)

	rc.Server().Close()
	code, _, errOut = runCmd("webhook", "test", "ci", "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "envtrack webhook test: ci: no answer: ")
	require.Contains(t, errOut, "connection refused")

	code, _, errOut = runCmd("webhook", "send")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: envtrack webhook test NAME [--config FILE]")
}

// readmeBlock returns the code block of the README that follows marker.
func readmeBlock(t *testing.T, marker, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- "+marker+" -->\n```"+lang+"\n")
	require.True(t, ok, "the README's %s block", marker)
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return block
}

// TestREADMEWebhook: the README's receiver code is the Verify every test receiver runs
// (so it accepts every signature envtrack makes and refuses a tampered body), and its
// `envtrack webhook test` example runs as written and prints what it shows.
func TestREADMEWebhook(t *testing.T) {
	src, err := os.ReadFile("../../internal/webhooktest/verify.go")
	require.NoError(t, err)
	_, fn, ok := strings.Cut(string(src), "\nfunc Verify(")
	require.True(t, ok)
	require.Equal(t, "func Verify("+fn, readmeBlock(t, "webhook-verify", "go"))

	example := strings.Split(strings.TrimSpace(readmeBlock(t, "webhook-test-example", "sh")), "\n")
	args, ok := strings.CutPrefix(example[0], "envtrack ")
	require.True(t, ok)
	rc := webhooktest.New(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	rc.SetAnswer(func(int, *http.Request, http.ResponseWriter) int { return http.StatusNoContent })
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "envtrack.yml"), []byte(`webhooks:
  - {name: ci, url: "`+rc.URL()+`", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
`), 0o600))
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(strings.Fields(args), &stdout, &stderr), stderr.String())
	rc.MustAllVerify()
	id := rc.Requests()[0].ID()
	var want strings.Builder
	for _, l := range example[1:] {
		l = strings.TrimPrefix(l, "# ")
		l = strings.Replace(l, "https://hooks.example.com/envtrack", rc.URL(), 1)
		l = regexp.MustCompile(`test-[0-9]+`).ReplaceAllString(l, id)
		want.WriteString(l + "\n")
	}
	require.Equal(t, want.String(), stdout.String())
}
