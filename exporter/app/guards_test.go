package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSecurityHeaders: pages, JSON answers and errors (401, 404, 405) all carry
// nosniff, the CSP and X-Frame-Options.
func TestSecurityHeaders(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens, enableLifecycle: true})
	read := []string{"Authorization", "Bearer reader-token"}
	for _, c := range []struct {
		method, path string
		header       []string
		status       int
	}{
		{"GET", "/", nil, 200},
		{"GET", "/insights", read, 200},
		{"GET", "/environments/nope", read, 404},
		{"GET", "/api/environments", read, 200},
		{"GET", "/api/environments", nil, 401},
		{"GET", "/api/environments/nope", read, 404},
		{"GET", "/api/nothing", nil, 404},
		{"POST", "/metrics", nil, 405},
		{"GET", "/metrics", nil, 200},
		{"GET", "/healthz", nil, 200},
		{"POST", "/-/reload", []string{"Origin", "http://evil.example", "Authorization", "Bearer ci-token"}, 403},
	} {
		code, hdr, body := d.do(c.method, c.path, "", c.header...)
		require.Equal(t, c.status, code, "%s %s: %s", c.method, c.path, body)
		require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"), "%s %s", c.method, c.path)
		require.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
			hdr.Get("Content-Security-Policy"), "%s %s", c.method, c.path)
		require.Equal(t, "DENY", hdr.Get("X-Frame-Options"), "%s %s", c.method, c.path)
	}
}

// TestReloadCrossSite: with --web.enable-lifecycle and no tokens (open, as in
// Prometheus), a cross-site form post or fetch cannot reload, and reloads over HTTP
// are limited to one per ReloadInterval.
func TestReloadCrossSite(t *testing.T) {
	d := startDaemon(t, daemonOpts{enableLifecycle: true})
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"a cross-site form", []string{"Origin", "http://evil.example", "Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"a form without Origin", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"a no-cors fetch", []string{"Origin", "http://evil.example"}, 403},
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		code, _, body := d.do("POST", "/-/reload", "x=1", c.header...)
		require.Equal(t, c.status, code, "%s: %s", c.name, body)
		require.Contains(t, body, `"error"`)
	}
	require.NotContains(t, d.logs.String(), "configuration reloaded", "nothing refused was reloaded")
	code, _, body := d.do("POST", "/-/reload", "")
	require.Equal(t, 200, code, body)
	code, hdr, body := d.do("POST", "/-/reload", "")
	require.Equal(t, 429, code, body)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	require.Contains(t, body, "at most one reload every 5s")
	require.Equal(t, 1, strings.Count(d.logs.String(), "configuration reloaded"))
}

// TestExemplarsBehindReadTokens: exemplars name environments; with api.read_tokens set
// /metrics (guarded by --web.config.file, not by the tokens) shows none, unless
// metrics.exemplars_with_read_tokens asks for them. Without read tokens they stay.
func TestExemplarsBehindReadTokens(t *testing.T) {
	for _, c := range []struct {
		name   string
		config string
		want   bool
	}{
		{"read tokens", pushTokens, false},
		{"read tokens, opted in", pushTokens + "metrics: {exemplars_with_read_tokens: true}\n", true},
		{"open reads", "api: {write_tokens: [ci-token]}\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, daemonOpts{config: c.config})
			now := time.Now().UTC().Truncate(time.Second)
			for i, ev := range []string{"provisioning_started", "ready"} {
				code, m := d.push(fmt.Sprintf(`{"environment_id":"pr-secret-1","event":%q,"timestamp":%q}`,
					ev, now.Add(time.Duration(i-2)*time.Minute).Format(time.RFC3339)))
				require.Equal(t, 202, code, m)
			}
			code, _, om := d.do("GET", "/metrics", "", "Accept", "application/openmetrics-text; version=1.0.0")
			require.Equal(t, 200, code)
			require.Contains(t, om, "blueberry_environment_provisioning_duration_seconds_bucket")
			if c.want {
				require.Contains(t, om, `# {environment_id="pr-secret-1"}`)
			} else {
				require.NotContains(t, om, "pr-secret-1")
				require.NotContains(t, om, "environment_id")
			}
		})
	}
}

// TestMaxEnvironments: beyond api.max_environments a push for a new environment id
// answers 429 with a JSON error and stores nothing, in a single push and in a batch
// (all or nothing); the environments already tracked still take their events, and a
// restart keeps the count. Before the bound, 50,000 created events for new ids were all
// accepted.
func TestMaxEnvironments(t *testing.T) {
	dir := t.TempDir()
	opts := daemonOpts{dir: dir, config: "api: {write_tokens: [ci-token], max_environments: 3}\n"}
	d := startDaemon(t, opts)
	created := func(id string) string { return fmt.Sprintf(`{"environment_id":%q,"event":"created"}`, id) }
	for _, id := range []string{"env-1", "env-2", "env-3"} {
		code, body := d.push(created(id))
		require.Equal(t, 202, code, body)
	}
	events := d.journalLen()

	code, body := d.push(created("env-4"))
	require.Equal(t, 429, code, body)
	require.Contains(t, body["error"], "envtrack tracks 3 environments, the most api.max_environments allows")
	code, body = d.push(created("env-2"))
	require.Equal(t, 200, code, "a repeat of a tracked environment: %v", body)
	code, body = d.push(`{"environment_id":"env-1","event":"provisioning_started"}`)
	require.Equal(t, 202, code, "a tracked environment goes on: %v", body)
	events++
	code, body = d.push(`[{"environment_id":"env-3","event":"provisioning_started"},` + created("env-5") + `]`)
	require.Equal(t, 429, code, body)
	require.EqualValues(t, 1, body["index"], "the batch names the new environment")
	require.Equal(t, events, d.journalLen(), "nothing refused was stored")
	code, _, page := d.do("GET", "/api/environments", "")
	require.Equal(t, 200, code)
	require.Contains(t, page, `"count":3`)

	d.stop()
	d = startDaemon(t, opts)
	code, body = d.push(created("env-6"))
	require.Equal(t, 429, code, "the bound holds after a restart: %v", body)
}

// TestRequestedExpiryWired: the daemon forgets environments still requested
// readiness.requested_expiry after their created event (here at start-up, after a
// restart), which frees their place under api.max_environments; their created event stays
// in the journal.
func TestRequestedExpiryWired(t *testing.T) {
	dir := t.TempDir()
	opts := daemonOpts{dir: dir, config: "api: {write_tokens: [ci-token], max_environments: 2}\n"}
	d := startDaemon(t, opts)
	code, body := d.push(`{"environment_id":"stale","event":"created","timestamp":"2025-01-07T10:00:00Z"}`)
	require.Equal(t, 202, code, body)
	code, body = d.push(`{"environment_id":"fresh","event":"created"}`)
	require.Equal(t, 202, code, body)
	code, body = d.push(`{"environment_id":"new","event":"created"}`)
	require.Equal(t, 429, code, body)
	events := d.journalLen()

	d.stop()
	d = startDaemon(t, opts)
	code, _, _ = d.do("GET", "/api/environments/stale", "")
	require.Equal(t, 404, code, "forgotten")
	code, _, _ = d.do("GET", "/api/environments/fresh", "")
	require.Equal(t, 200, code)
	require.Equal(t, events, d.journalLen(), "no event; the created event stays")
	require.Contains(t, d.logs.String(), "forgot environments requested and never provisioned")
	code, body = d.push(`{"environment_id":"new","event":"created"}`)
	require.Equal(t, 202, code, "its place is free: %v", body)
}
