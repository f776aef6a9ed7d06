package app

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReloadEndpoint: /-/reload follows Prometheus: off without --web.enable-lifecycle
// (403), POST and PUT, and a write token once tokens are configured.
func TestReloadEndpoint(t *testing.T) {
	for _, c := range []struct {
		name      string
		lifecycle bool
		config    string
		method    string
		auth      string
		status    int
	}{
		{"disabled", false, "", "POST", "", 403},
		{"disabled, with a token", false, pushTokens, "POST", "Bearer ci-token", 403},
		{"open without tokens", true, "", "POST", "", 200},
		{"PUT", true, "", "PUT", "", 200},
		{"GET is not a reload", true, "", "GET", "", 405},
		{"tokens: none sent", true, pushTokens, "POST", "", 401},
		{"tokens: a read token", true, pushTokens, "POST", "Bearer reader-token", 401},
		{"tokens: a wrong token", true, pushTokens, "POST", "Bearer nope", 401},
		{"tokens: the write token", true, pushTokens, "POST", "Bearer ci-token", 200},
		{"tokens: the write token, lower-case scheme", true, pushTokens, "POST", "bearer ci-token", 200},
		{"only read tokens", true, "api: {read_tokens: [reader-token]}\n", "POST", "Bearer reader-token", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, daemonOpts{config: c.config, enableLifecycle: c.lifecycle})
			var h []string
			if c.auth != "" {
				h = []string{"Authorization", c.auth}
			}
			code, hdr, body := d.do(c.method, "/-/reload", "", h...)
			require.Equal(t, c.status, code, body)
			require.Equal(t, "application/json", hdr.Get("Content-Type"))
			var m map[string]string
			require.NoError(t, json.Unmarshal([]byte(body), &m), body)
			if code == 200 {
				require.Equal(t, "reloaded", m["status"])
			} else {
				require.NotEmpty(t, m["error"])
				require.NotContains(t, body, "ci-token")
			}
		})
	}
}

// TestWrongMethods: every endpoint answers a wrong method 405 with Allow, in JSON; an
// unknown path stays 404.
func TestWrongMethods(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens, enableLifecycle: true})
	for _, c := range []struct {
		method, path, allow string
	}{
		{"POST", "/metrics", "GET, HEAD"},
		{"DELETE", "/healthz", "GET, HEAD"},
		{"PUT", "/readyz", "GET, HEAD"},
		{"POST", "/", "GET, HEAD"},
		{"GET", "/-/reload", "POST, PUT"},
		{"GET", "/api/events", "POST"},
		{"DELETE", "/api/environments", "GET, HEAD"},
		{"PATCH", "/api/environments/pr-1", "GET, HEAD"},
		{"POST", "/api/environments/pr-1/timeline", "GET, HEAD"},
		{"PUT", "/api/insights/performance-detailed", "GET, HEAD"},
	} {
		code, hdr, body := d.do(c.method, c.path, "")
		require.Equal(t, 405, code, "%s %s: %s", c.method, c.path, body)
		require.Equal(t, c.allow, hdr.Get("Allow"), "%s %s", c.method, c.path)
		require.Equal(t, "application/json", hdr.Get("Content-Type"))
		require.Contains(t, body, `"error"`)
	}
	for _, p := range []string{"/nothing", "/api/nothing", "/metrics/x"} {
		code, hdr, _ := d.do("GET", p, "")
		require.Equal(t, 404, code, p)
		require.Empty(t, hdr.Get("Allow"))
	}
}
