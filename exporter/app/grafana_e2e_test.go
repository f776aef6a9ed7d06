package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
	"github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestGrafanaFaults: while the fake Grafana answers 500s, then times out, then refuses
// the token, annotations wait in the journal; afterwards each arrives exactly once. The
// 401 burst is logged once, counted, and retried with backoff, not in a loop.
func TestGrafanaFaults(t *testing.T) {
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-token"))
	h := newHarness(t, harnessOpts{perKind: 1, extraConfig: fmt.Sprintf("grafana: {url: %s, token: grafana-token, timeout: 1s}\ndelivery: {backoff: {initial: 100ms, max: 1s}}\n", graf.URL())})
	var logs testinfra.SyncBuffer
	h.logger = log.NewLogfmtLogger(&logs)
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	steps := []time.Time{}
	for at := h.sc.Start; !at.After(h.sc.End()); at = at.Add(scenario.Step) {
		steps = append(steps, at)
	}
	phase := len(steps) / 4
	play := func(from, to int) {
		for _, at := range steps[from:to] {
			h.step(at)
		}
	}
	graf.SetFault(fakegrafana.ServerError("database is locked"))
	play(0, phase)
	require.NoError(t, graf.WaitRequests(ctx, 2))
	graf.SetFault(fakegrafana.Hang())
	base := graf.Requests()
	play(phase, 2*phase)
	require.NoError(t, graf.WaitRequests(ctx, base+2))

	graf.SetFault(fakegrafana.Unauthorized())
	base = graf.Requests()
	play(2*phase, 3*phase)
	require.NoError(t, graf.WaitRequests(ctx, base+3))
	time.Sleep(2 * time.Second) // let a spinning sink show itself; the count below is what matters
	during401 := graf.Requests() - base
	require.LessOrEqual(t, during401, 40, "the sink spins on 401 instead of backing off")
	graf.ClearFault()
	play(3*phase, len(steps))
	require.NoError(t, waitDelivered(ctx, h.app))

	journal := h.journal()
	checkGrafanaOnce(t, graf, journal)
	authFailures := h.gathered("envtrack_grafana_auth_failures_total")
	require.GreaterOrEqual(t, authFailures, 3.0)
	require.Len(t, logs.Lines("level=error", "401"), 1, "a 401 burst is logged once at error level:\n%s", logs.String())
}

// TestReloadRebuildsSinks: a reload that changes a sink's configuration restarts it from
// its durable cursor with the new settings; a bad file keeps the running sinks.
func TestReloadRebuildsSinks(t *testing.T) {
	graf := fakegrafana.NewServer(t, fakegrafana.WithToken("grafana-token"))
	cfg := func(tag string) string {
		return fmt.Sprintf("grafana: {url: %s, token: grafana-token, tags: [%s]}\ndelivery: {linger: 0s}\napi: {write_tokens: [w]}\n", graf.URL(), tag)
	}
	h := newHarness(t, harnessOpts{extraConfig: cfg("before")})
	h.start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	push := func(id string) {
		_, err := h.app.pushes.Push(id, tracker.Push{Event: event.Created, Time: h.sc.Start})
		require.NoError(t, err)
		require.NoError(t, waitDelivered(ctx, h.app))
	}
	push("one")
	h.writeConfig(cfg("after"))
	require.NoError(t, h.app.Reload())
	push("two")
	require.NoError(t, os.WriteFile(h.cfg, []byte("grafana: {url: 42}\n"), 0o600))
	require.Error(t, h.app.Reload())
	push("three")
	tags := map[string][]string{}
	for _, a := range graf.Annotations() {
		for _, tg := range a.Tags {
			if env, ok := strings.CutPrefix(tg, "env:"); ok {
				tags[env] = a.Tags
			}
		}
	}
	require.Contains(t, tags["one"], "before")
	require.Contains(t, tags["two"], "after")
	require.Contains(t, tags["three"], "after", "a rejected reload keeps the sinks in force")
	require.Len(t, graf.Annotations(), 3)
}

// checkGrafanaOnce: the fake Grafana holds exactly one annotation per journal event
// (by its envtrack-id tag), and nothing else.
func checkGrafanaOnce(t *testing.T, graf *fakegrafana.Server, journal []event.Event) {
	t.Helper()
	require.NoError(t, grafanaOnce(graf, journal))
}

// grafanaOnce says which event of the journal does not have exactly one annotation in
// graf, or whether graf holds others.
func grafanaOnce(graf *fakegrafana.Server, journal []event.Event) error {
	anns := graf.Annotations()
	perID := map[string]int{}
	for _, a := range anns {
		for _, tag := range a.Tags {
			if id, ok := strings.CutPrefix(tag, "envtrack-id:"); ok {
				perID[id]++
			}
		}
	}
	for _, e := range journal {
		if perID[e.ID] != 1 {
			return fmt.Errorf("event %s (%s %s) has %d annotations", e.ID, e.EnvironmentID, e.Name, perID[e.ID])
		}
	}
	if len(anns) != len(journal) {
		return fmt.Errorf("%d annotations for %d events", len(anns), len(journal))
	}
	return nil
}
