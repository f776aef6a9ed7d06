package app

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer answers every request with status, echoing everything it was sent: the
// request line, every header (Authorization included) and the body, as a careless
// proxy or a verbose API error does.
func echoServer(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		var b strings.Builder
		fmt.Fprintf(&b, "you sent: %s %s\n", r.Method, r.URL.String())
		if r.URL.User != nil {
			fmt.Fprintf(&b, "userinfo: %s\n", r.URL.User.String())
		}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		fmt.Fprintf(&b, "body: %s", body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
		w.WriteHeader(status)
		msg, _ := jsonString(b.String())
		fmt.Fprintf(w, `{"message":%s,"error":%s}`, msg, msg)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(strings.ToValidUTF8(s, "?"))
	return string(b), err
}

// TestNoSecretsFromEchoingServers: each outgoing client (Argo CD, InfluxDB writes and
// Flux queries, Grafana, the URL probes) is pointed at a server that echoes its request
// in an error answer. No token, password or Authorization value reaches the logs, the
// errors the API answers, /metrics or the landing page.
func TestNoSecretsFromEchoingServers(t *testing.T) {
	const (
		argoToken    = "argo-token-AAAA1111"
		influxUser   = "influxuser"
		influxPass   = "influx-pass-BBBB2222"
		grafanaToken = "glsa_grafana-CCCC3333"
		probePass    = "probe-pass-DDDD4444"
		writeToken   = "ci-write-EEEE5555"
		readToken    = "reader-FFFF6666"
		probeToken   = "probe-token-GGGG7777"                   // in the probed URL's query
		hookSecret   = "whsec_SGhISGhISGhISGhISGhISGhISGhISGhI" // signs the webhooks
		hookToken    = "hook-token-HHHH8888"                    // a webhook's Authorization header
		hookQuery    = "hook-query-IIII9999"                    // in a webhook URL's query
		slackPath    = "T0000/B0000/slack-JJJJ0000"             // a Slack URL's path is its secret
	)
	secrets := []string{argoToken, influxPass, grafanaToken, probePass, writeToken, readToken, probeToken,
		base64.StdEncoding.EncodeToString([]byte(influxUser + ":" + influxPass)),
		base64.StdEncoding.EncodeToString([]byte("probe:" + probePass)),
		url.QueryEscape(influxPass), hookSecret, strings.TrimPrefix(hookSecret, "whsec_"), hookToken, hookQuery, slackPath}

	argo, argoHits := echoServer(t, http.StatusBadRequest)
	influx, influxHits := echoServer(t, http.StatusInternalServerError) // retried: the write also echoes the body
	grafana, grafanaHits := echoServer(t, http.StatusBadRequest)
	probed, probeHits := echoServer(t, http.StatusInternalServerError)
	hook, hookHits := echoServer(t, http.StatusBadRequest)            // set aside: the landing page names it
	slack, slackHits := echoServer(t, http.StatusInternalServerError) // retried
	pu, err := url.Parse(probed.URL)
	require.NoError(t, err)
	probeURL := "http://probe:" + probePass + "@" + pu.Host + "/health?access_token=" + probeToken

	cfg := fmt.Sprintf(`argocd:
  server: %s
  token: %s
  poll_interval: 100ms
  request_timeout: 2s
  backoff: {initial: 100ms, max: 200ms}
influxdb:
  url: %s
  token: "%s:%s"
  org: blueberry
  bucket: envtrack/autogen
grafana:
  url: %s
  token: %s
delivery:
  backoff: {initial: 100ms, max: 200ms}
readiness:
  url: {interval: 100ms, timeout: 100ms}
environments:
  - {id: web, url: %q}
api:
  write_tokens: [%s]
  read_tokens: [%s]
webhooks:
  - {name: ci, url: "%s/hook?token=%s", secret: %s, headers: {Authorization: "Bearer %s"}}
  - {name: chat, url: "%s/services/%s", format: slack}
`, argo.URL, argoToken, influx.URL, influxUser, influxPass, grafana.URL, grafanaToken, probeURL, writeToken, readToken,
		hook.URL, hookQuery, hookSecret, hookToken, slack.URL, slackPath)
	a, logs := runApp(t, cfg, Options{})
	base := "http://" + a.Addr()

	call := func(method, path, token, body string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("POST", "/api/events", writeToken, `{"environment_id":"pr-1","event":"created"}`)
	require.Equal(t, http.StatusAccepted, code, body)

	// Every client has talked to its echo server and failed: the sinks have an error to
	// show, the poller and the prober have logged theirs.
	ready := func() (bool, string) {
		failed := 0
		for _, st := range a.SinkStatus() {
			if st.LastError != "" || st.SetAside > 0 {
				failed++
			}
		}
		diag := fmt.Sprintf("hits: argo %d influx %d grafana %d probe %d hook %d slack %d; sinks %+v",
			argoHits.Load(), influxHits.Load(), grafanaHits.Load(), probeHits.Load(), hookHits.Load(), slackHits.Load(), a.SinkStatus())
		return failed == 4 && argoHits.Load() >= 2 && influxHits.Load() >= 2 && grafanaHits.Load() >= 1 && probeHits.Load() >= 2 &&
			hookHits.Load() >= 1 && slackHits.Load() >= 2, diag
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ok, diag := ready()
		if ok {
			break
		}
		require.True(t, time.Now().Before(deadline), "the clients never all failed: %s", diag)
	}

	// The echoes did reach envtrack: the errors quote them (so the test shows the
	// scrubbing, not an absence of echo).
	var sinkErrs []string
	for _, st := range a.SinkStatus() {
		sinkErrs = append(sinkErrs, st.Name+": "+st.LastError)
	}

	// A Flux query against the echoing InfluxDB: its error answer quotes the request.
	_, timeline := call("GET", "/api/environments/pr-1/timeline", readToken, "")
	_, perf := call("GET", "/api/insights/performance-detailed?window=7d", readToken, "")
	_, metrics := call("GET", "/metrics", "", "")
	_, landing := call("GET", "/", readToken, "")
	_, envs := call("GET", "/api/environments", readToken, "")
	require.Contains(t, metrics, "envtrack_build_info")
	require.Contains(t, landing, "<html")

	// Argo CD's error as the source reports it (its log line: the watch lists the
	// names first, and fails there).
	var argoErr string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "Argo CD watch failed") {
			argoErr = l
			break
		}
	}
	require.Contains(t, argoErr, "400 Bad Request", "the echo came back to the source")

	places := map[string]string{
		"logs": logs.String(), "sink errors": strings.Join(sinkErrs, "\n"), "timeline answer": timeline,
		"insights answer": perf, "/metrics": metrics, "landing page": landing, "environments": envs,
		"Argo CD error": argoErr,
	}
	for where, text := range places {
		for _, s := range secrets {
			require.NotContains(t, text, s, "a secret in the %s", where)
		}
	}
	// The echoes did reach envtrack, scrubbed: the test shows the scrubbing, not an
	// absence of echo.
	require.Contains(t, logs.String(), "Authorization: Bearer <secret>")
	require.Contains(t, landing, "Authorization: Bearer &lt;secret&gt;", "the landing page's last-error cell")
	require.Contains(t, envs, `probe:\u003csecret\u003e@`)
	require.Contains(t, landing, `webhook:ci set aside `, "the webhook's rejection, on the landing page")
	require.Contains(t, landing, "/hook?token=&lt;secret&gt;", "the echoed request line, scrubbed")
}
