package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/webhooktest"
)

// TestPushedURLSecretsAppearNowhere (issue 18): URLs pushed in an event's metadata or a
// marker's fields, with a password or a secret query parameter, are
// redacted as the configured URLs are, before they are stored: no output shows the
// secret (the API's timeline and environments, the environment and landing pages, the
// Grafana annotation's text and tags, the webhook bodies, the logs), while each shows the
// rest of the URL.
func TestPushedURLSecretsAppearNowhere(t *testing.T) {
	secrets := []string{"RepoPass123", "AccTok456", "UrlPass789", "SigVal012", "TokNote345", "ApiKey678"}
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-token"))
	hook := webhooktest.New(t, webhookSecret)
	cfg := fmt.Sprintf(`api: {write_tokens: [w]}
grafana: {url: %s, token: grafana-token}
delivery: {linger: 0s, backoff: {initial: 5ms, max: 20ms}}
webhooks:
  - {name: ci, url: %q, secret: %s}
`, graf.URL(), hook.URL(), webhookSecret)
	a, logs := runApp(t, cfg, Options{})
	base := "http://" + a.Addr()
	push := func(body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/api/events", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer w")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
	}
	push(`{"environment_id":"pr-7","event":"created",
	  "metadata":{"repo_url":"https://ci:RepoPass123@git.example/org/app.git","pipeline_url":"https://ci.example/p/1?access_token=AccTok456&page=2",
	    "url":"https://bot:UrlPass789@ci.example/x?sig=SigVal012",
	    "links":[{"note":"see https://ci.example/y?token=TokNote345 now"}]}}`)
	push(`{"kind":"deployment","environment":"pr-7","application":"app1","activity":"deploy https://h.example/d?api_key=ApiKey678","status":"success"}`)
	waitFor(t, "the annotations and the webhooks", func() bool {
		return len(graf.Annotations()) >= 2 && len(hook.Accepted()) >= 2
	})

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
		return string(b)
	}
	var annotations, webhooks strings.Builder
	for _, an := range graf.Annotations() {
		fmt.Fprintf(&annotations, "%s %v\n", an.Text, an.Tags)
	}
	for _, r := range hook.Requests() {
		webhooks.Write(r.Body)
	}
	for _, out := range []struct {
		name, text string
		shows      []string // the rest of the URL is still shown
	}{
		{"API timeline", get("/api/environments/pr-7/timeline"), []string{"ci.example/p/1?access_token=", "git.example/org/app.git"}},
		{"API environment", get("/api/environments/pr-7"), nil},
		{"API environments", get("/api/environments"), nil},
		{"environment page", get("/environments/pr-7"), []string{"ci.example/p/1"}},
		{"landing page", get("/"), nil},
		{"Grafana annotations", annotations.String(), []string{"h.example/d?api_key="}},
		{"webhook bodies", webhooks.String(), []string{"ci.example/p/1?access_token="}},
		{"logs", logs.String(), nil},
	} {
		t.Run(out.name, func(t *testing.T) {
			for _, s := range secrets {
				require.NotContains(t, out.text, s)
			}
			for _, s := range out.shows {
				require.Contains(t, out.text, s)
			}
		})
	}
}
