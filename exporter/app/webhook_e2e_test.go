package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/internal/webhooktest"
	"github.com/blueberry-idp/envtrack/model/event"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// waitFor polls cond until it holds; the deadline is a hang guard, not a speed check.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func sinkStatus(a *App, name string) sink.Status {
	for _, s := range a.SinkStatus() {
		if s.Name == name {
			return s
		}
	}
	return sink.Status{}
}

// TestWebhookOutageSpansRestart: a receiver that answers 503 while envtrack restarts
// loses nothing and receives nothing twice: the events delivered before the outage are
// not sent again (the endpoint's cursor is durable), those of the outage arrive once
// it ends, in journal order, every retry under the same webhook-id, every request
// signed; the endpoint that rejects an event (422) sets it aside, on the landing page,
// and holds up neither the other events nor the other endpoint.
func TestWebhookOutageSpansRestart(t *testing.T) {
	up := func(int, *http.Request, http.ResponseWriter) int { return http.StatusNoContent }
	down := func(_ int, _ *http.Request, w http.ResponseWriter) int {
		w.Header().Set("Retry-After", "0")
		return http.StatusServiceUnavailable
	}
	ci := webhooktest.New(t, webhookSecret)
	ci.SetAnswer(up)
	picky := webhooktest.New(t, webhookSecret) // rejects pr-3's ready for good
	picky.SetAnswer(func(_ int, r *http.Request, _ http.ResponseWriter) int {
		if body, _ := io.ReadAll(r.Body); strings.Contains(string(body), `"subject":"pr-3"`) {
			return http.StatusUnprocessableEntity
		}
		return http.StatusOK
	})
	dir := t.TempDir()
	cfg := pushTokens + fmt.Sprintf(`delivery: {backoff: {initial: 5ms, max: 20ms}}
webhooks:
  - {name: ci, url: %q, secret: %s}
  - {name: picky, url: %q, secret: %s, events: [ready]}
`, ci.URL(), webhookSecret, picky.URL(), webhookSecret)
	d := startDaemon(t, daemonOpts{dir: dir, config: cfg})
	env := func(id string, minute int) {
		for i, ev := range []event.Name{event.Created, event.ProvisioningStarted, event.Ready} {
			code, body := d.push(fmt.Sprintf(`{"environment_id":%q,"event":%q,"timestamp":"2025-01-07T10:%02d:00Z"}`, id, ev, minute+i))
			require.Equal(t, http.StatusAccepted, code, body)
		}
	}
	ciName := config.WebhookSinkName("ci")

	env("pr-1", 0)
	waitFor(t, "pr-1 delivered", func() bool { return len(ci.Accepted()) == 3 })

	ci.SetAnswer(down)
	before := len(ci.Requests())
	env("pr-2", 10)
	waitFor(t, "retries during the outage", func() bool { return len(ci.Requests()) >= before+3 })
	// The other endpoint is not held up by this one's outage: it has pr-2's ready.
	waitFor(t, "picky delivering during ci's outage", func() bool { return len(picky.Accepted()) == 2 })
	st := sinkStatus(d.app, ciName)
	require.True(t, st.Failing)
	require.Equal(t, uint64(3), st.Lag)
	require.Contains(t, st.LastError, "503 Service Unavailable")
	d.stop()

	d = startDaemon(t, daemonOpts{dir: dir, config: cfg})
	env("pr-3", 20)
	before = len(ci.Requests())
	waitFor(t, "retries after the restart", func() bool { return len(ci.Requests()) >= before+3 })
	ci.SetAnswer(up)

	journal := func() []event.Event {
		evs, err := d.app.store.Events(0, 0)
		require.NoError(t, err)
		return evs
	}
	waitFor(t, "the outage's events delivered", func() bool { return len(ci.Accepted()) == len(journal()) })
	ci.MustAllVerify()
	var ids []string
	pos := map[string]int{}
	for i, e := range journal() {
		ids = append(ids, e.ID)
		pos[e.ID] = i
	}
	require.Equal(t, ids, ci.Accepted(), "each event once, in journal order, across the restart")
	last := -1
	for _, r := range ci.Requests() {
		p, ok := pos[r.ID()]
		require.True(t, ok, "webhook-id %s is an event's id", r.ID())
		require.GreaterOrEqual(t, p, last, "a retry resends the same event, never an earlier one")
		last = p
	}
	waitFor(t, "caught up", func() bool { return sinkStatus(d.app, ciName).Lag == 0 })

	// picky: every ready but pr-3's, which it set aside and shows on the landing page.
	waitFor(t, "picky caught up", func() bool { return sinkStatus(d.app, config.WebhookSinkName("picky")).Lag == 0 })
	var readies []string
	var rejected string
	for _, e := range journal() {
		switch {
		case e.Name != event.Ready:
		case e.EnvironmentID == "pr-3":
			rejected = e.ID
		default:
			readies = append(readies, e.ID)
		}
	}
	require.Equal(t, readies, picky.Accepted())
	picky.MustAllVerify()
	_, _, page := d.do("GET", "/", "")
	require.Contains(t, page, `<p class="set-aside" data-sink="webhook:picky">webhook:picky set aside `+rejected+`: seq `)
	require.Contains(t, page, "422 Unprocessable Entity")
	require.NotContains(t, page, strings.TrimPrefix(webhookSecret, "whsec_"))
}
