package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const pushTokens = "api: {write_tokens: [ci-token], read_tokens: [reader-token]}\n"

func (d *daemon) push(body string, header ...string) (int, map[string]any) {
	d.t.Helper()
	h := append([]string{"Authorization", "Bearer ci-token"}, header...)
	code, _, b := d.do("POST", "/api/events", body, h...)
	var m map[string]any
	require.NoError(d.t, json.Unmarshal([]byte(b), &m), "not JSON: %s", b)
	return code, m
}

func (d *daemon) journalLen() int {
	d.t.Helper()
	evs, err := d.app.store.Events(0, 0)
	require.NoError(d.t, err)
	return len(evs)
}

// TestPushRules: item 4 of issue 10. Each case is a push with its answer; a refused
// push stores nothing (the journal does not grow and no environment appears).
func TestPushRules(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens})
	at := func(min int) string { return fmt.Sprintf("2025-01-07T10:%02d:00Z", min) }
	life := func(id, ev string, min int) string {
		return fmt.Sprintf(`{"environment_id":%q,"event":%q,"timestamp":%q}`, id, ev, at(min))
	}
	marker := `{"kind":"deployment","environment":"test","host":"host1","application":"app1","activity":"deployment-app1-1.2.34","status":"success","timestamp":"2025-01-07T10:30:00Z"}`
	batchOf := func(times ...string) string {
		var b strings.Builder
		for _, at := range times {
			b.WriteString(strings.Replace(marker, "10:30:00", at, 1) + "\n")
		}
		return b.String()
	}
	type tc struct {
		name   string
		body   string
		header []string
		status int
		want   string // in the error, or the answer's status
	}
	cases := []tc{
		// Media types: any JSON type, any case, with parameters; none; curl -d's default.
		{"no content type", life("ct-1", "created", 1), nil, 202, "accepted"},
		{"JSON in capitals with charset", life("ct-2", "created", 1), []string{"Content-Type", "Application/JSON; charset=UTF-8"}, 202, "accepted"},
		{"a +json type", life("ct-3", "created", 1), []string{"Content-Type", "application/vnd.envtrack+json"}, 202, "accepted"},
		{"curl -d's form type", life("ct-4", "created", 1), []string{"Content-Type", "application/x-www-form-urlencoded"}, 202, "accepted"},
		{"text/plain", life("ct-5", "created", 1), []string{"Content-Type", "text/plain"}, 415, "send application/json"},
		{"XML", life("ct-6", "created", 1), []string{"Content-Type", "application/xml"}, 415, "send application/json"},
		{"lower-case bearer", life("ct-7", "created", 1), []string{"Authorization", "bearer ci-token"}, 202, "accepted"},
		{"upper-case bearer", life("ct-8", "created", 1), []string{"Authorization", "BEARER ci-token"}, 202, "accepted"},
		{"basic scheme", life("ct-9", "created", 1), []string{"Authorization", "Basic ci-token"}, 401, "missing bearer token"},

		// Environments envtrack never saw: only created and provisioning_started start one.
		{"ready for an unknown id", life("ghost", "ready", 5), nil, 422, "unknown environment"},
		{"deployed for an unknown id", life("ghost", "deployed", 5), nil, 422, "unknown environment"},
		{"degraded for an unknown id", life("ghost", "degraded", 5), nil, 422, "unknown environment"},
		{"recovered for an unknown id", life("ghost", "recovered", 5), nil, 422, "unknown environment"},
		{"failed for an unknown id", life("ghost", "provisioning_failed", 5), nil, 422, "unknown environment"},
		{"termination for an unknown id", life("ghost", "termination_started", 5), nil, 422, "unknown environment"},
		{"terminated for an unknown id", life("ghost", "terminated", 5), nil, 422, "unknown environment"},
		{"provisioning_started starts one", life("pr-1", "provisioning_started", 10), nil, 202, "accepted"},

		// Time never goes backwards.
		{"created after provisioning started", life("pr-1", "created", 11), nil, 422, "time cannot go backwards"},
		{"failed before provisioning started", life("pr-1", "provisioning_failed", 9), nil, 422, "time cannot go backwards"},
		{"ready before provisioning started", life("pr-1", "ready", 9), nil, 422, "time cannot go backwards"},
		{"ready in order", life("pr-1", "ready", 14), nil, 202, "accepted"},
		{"degraded before ready", life("pr-1", "degraded", 13), nil, 422, "time cannot go backwards"},
		{"termination started", life("pr-1", "termination_started", 50), nil, 202, "accepted"},
		{"terminated before termination started", life("pr-1", "terminated", 40), nil, 422, "before termination_started"},
		{"created in order", life("pr-1", "created", 8), nil, 202, "accepted"},
		{"terminated in order", life("pr-1", "terminated", 55), nil, 202, "accepted"},
		{"terminated again", life("pr-1", "terminated", 55), nil, 200, "unchanged"},

		// A repeated marker, and Idempotency-Key.
		{"marker", marker, nil, 202, "accepted"},
		{"the same marker again (a CI retry)", marker, nil, 200, "unchanged"},
		{"the marker at another time", strings.Replace(marker, "10:30:00", "10:31:00", 1), nil, 202, "accepted"},
		{"a marker with a key", strings.Replace(marker, "10:30:00", "10:32:00", 1), []string{"Idempotency-Key", "run-77"}, 202, "accepted"},
		{"its retry", strings.Replace(marker, "10:30:00", "10:32:00", 1), []string{"Idempotency-Key", "run-77"}, 200, "unchanged"},
		{"another body, the same key", strings.Replace(marker, "10:30:00", "10:33:00", 1), []string{"Idempotency-Key", "run-77"}, 422, "already used for a different request"},
		{"a lifecycle push with a key", life("pr-2", "created", 1), []string{"Idempotency-Key", "run-78"}, 202, "accepted"},
		{"its retry, formatted otherwise", strings.ReplaceAll(life("pr-2", "created", 1), ",", " ,\n "), []string{"Idempotency-Key", "run-78"}, 200, "unchanged"},
		{"another event with its key", life("pr-2", "provisioning_started", 2), []string{"Idempotency-Key", "run-78"}, 422, "already used for a different request"},
		{"a batch with a key", batchOf("10:40:00", "10:41:00"), []string{"Content-Type", "application/x-ndjson", "Idempotency-Key", "run-79"}, 202, "accepted"},
		{"the batch again", batchOf("10:40:00", "10:41:00"), []string{"Content-Type", "application/x-ndjson", "Idempotency-Key", "run-79"}, 200, "unchanged"},
		{"another batch with its key", batchOf("10:40:00", "10:42:00"), []string{"Content-Type", "application/x-ndjson", "Idempotency-Key", "run-79"}, 422, "already used for a different request"},
		{"a key too long", life("pr-3", "created", 1), []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "Idempotency-Key"},

		// Strings: valid UTF-8, no control characters; bounded metadata.
		{"escape sequence in a name", `{"environment_id":"pr-4","event":"created","environment_name":"\u001b[2J\u001b[31mpwned"}`, nil, 422, "control"},
		{"carriage return in an activity", strings.Replace(marker, "deployment-app1-1.2.34", `a\rb`, 1), nil, 422, "control"},
		{"bidi override in an application", strings.Replace(marker, `"app1"`, `"app\u202e1"`, 1), nil, 422, "control"},
		{"control character in metadata", `{"environment_id":"pr-4","event":"created","metadata":{"note":{"x":["ok","\u0007"]}}}`, nil, 422, "metadata.note.x[1]"},
		{"invalid UTF-8", "{\"environment_id\":\"pr-4\",\"event\":\"created\",\"environment_name\":\"\xff\xfe\"}", nil, 400, "UTF-8"},
		{"metadata over the limit", `{"environment_id":"pr-4","event":"created","metadata":{"x":"` + strings.Repeat("a", 9000) + `"}}`, nil, 422, "at most 8192"},
		{"a forged duration", `{"environment_id":"pr-4","event":"created","metadata":{"termination_duration_seconds":-14400}}`, nil, 422, "set by envtrack"},
		{"a lifecycle event posing as a marker", `{"environment_id":"pr-4","event":"created","metadata":{"kind":"deployment"}}`, nil, 422, "set by envtrack"},
		{"a failure class outside user and platform", `{"environment_id":"pr-4","event":"created","metadata":{"failure_class":"customer"}}`, nil, 422, `must be "user" or "platform"`},
		{"a forged failure matcher", `{"environment_id":"pr-4","event":"created","metadata":{"failure_matcher":"pushed"}}`, nil, 422, "set by envtrack"},
		{"a repository that is no short name", `{"environment_id":"pr-4","event":"created","repository":"a b"}`, nil, 422, "invalid repository"},
	}
	for _, c := range cases {
		before := d.journalLen()
		code, m := d.push(c.body, c.header...)
		require.Equal(t, c.status, code, "%s: %v", c.name, m)
		if code >= 400 {
			require.Contains(t, m["error"], c.want, c.name)
		} else {
			require.Equal(t, c.want, m["status"], c.name)
		}
		if code != 202 {
			require.Equal(t, before, d.journalLen(), "%s: stored something", c.name)
		}
	}
	for _, id := range []string{"ghost", "pr-4"} {
		code, _, _ := d.do("GET", "/api/environments/"+id, "", "Authorization", "Bearer reader-token")
		require.Equal(t, 404, code, "refused pushes made environment %s", id)
	}

	// No duration anywhere is negative: the timeline's summary and /metrics.
	code, _, b := d.do("GET", "/api/environments/pr-1/timeline", "", "Authorization", "Bearer reader-token")
	require.Equal(t, 200, code, b)
	var tl struct {
		Summary map[string]any `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(b), &tl))
	require.EqualValues(t, 240, tl.Summary["provisioning_duration_seconds"])
	require.EqualValues(t, 300, tl.Summary["termination_duration_seconds"])
	_, _, metrics := d.do("GET", "/metrics", "")
	for _, l := range strings.Split(metrics, "\n") {
		if strings.Contains(l, "duration_seconds_sum") {
			require.NotContains(t, l, " -", "a negative duration: %s", l)
		}
	}
}

// TestRepeatsSurviveRestart: a marker and an Idempotency-Key recorded before a restart
// are known after it, and the key stays bound to its request (issue 18: a key reused
// for another environment answered 200 "unchanged" and dropped the event).
func TestRepeatsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	marker := `{"kind":"deployment","environment":"test","application":"app1","activity":"a-1","status":"success","timestamp":"2025-01-07T10:30:00Z"}`
	first := `{"environment_id":"env-a","event":"provisioning_started"}`
	other := `{"environment_id":"env-b","event":"created"}`
	d := startDaemon(t, daemonOpts{config: pushTokens, dir: dir})
	code, m := d.push(marker)
	require.Equal(t, 202, code, m)
	code, m = d.push(first, "Idempotency-Key", "pipeline-4711")
	require.Equal(t, 202, code, m)
	reused := func(d *daemon) {
		code, m := d.push(other, "Idempotency-Key", "pipeline-4711")
		require.Equal(t, 422, code, m)
		require.Contains(t, m["error"], `Idempotency-Key "pipeline-4711" was already used for a different request`)
		code, _, _ = d.do("GET", "/api/environments/env-b", "", "Authorization", "Bearer reader-token")
		require.Equal(t, 404, code, "the refused push stored env-b")
		require.Equal(t, 2, d.journalLen())
	}
	reused(d)
	d.stop()

	d = startDaemon(t, daemonOpts{config: pushTokens, dir: dir})
	code, m = d.push(marker)
	require.Equal(t, 200, code, m)
	require.Equal(t, "unchanged", m["status"])
	code, m = d.push(first, "Idempotency-Key", "pipeline-4711")
	require.Equal(t, 200, code, m)
	require.Equal(t, "unchanged", m["status"])
	reused(d)
	code, m = d.push(other, "Idempotency-Key", "pipeline-4712")
	require.Equal(t, 202, code, m)
}

// TestDeploysInOneSecond: two deploys of one environment in the same second are two
// events when they deployed different things (issue 18: the second one vanished, the
// repeat was decided on environment, event and second alone); the same deploy told
// again is one.
func TestDeploysInOneSecond(t *testing.T) {
	d := startDaemon(t, daemonOpts{config: pushTokens})
	deployed := func(sha, rev string) string {
		meta := ""
		if rev != "" {
			meta = fmt.Sprintf(`,"metadata":{"revision":%q}`, rev)
		}
		return fmt.Sprintf(`{"environment_id":"pr-1","event":"deployed","timestamp":"2025-01-07T10:05:00.%03dZ","commit_sha":%q%s}`,
			len(sha)+len(rev), sha, meta)
	}
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"created", `{"environment_id":"pr-1","event":"created","timestamp":"2025-01-07T10:00:00Z"}`, 202},
		{"a deploy", deployed("aaa111", ""), 202},
		{"another commit in the same second", deployed("bbb222", ""), 202},
		{"the first one again", deployed("aaa111", ""), 200},
		{"a revision beside them (Argo CD's)", deployed("", "ccc333"), 202},
		{"the same revision again", deployed("", "ccc333"), 200},
		{"another revision in the same second", deployed("", "ddd444"), 202},
	} {
		code, m := d.push(c.body)
		require.Equal(t, c.status, code, "%s: %v", c.name, m)
	}
	var deploys []string
	evs, err := d.app.store.EnvironmentEvents("pr-1")
	require.NoError(t, err)
	for _, e := range evs {
		if e.Name == "deployed" {
			rev, _ := e.Meta("revision").(string)
			deploys = append(deploys, e.CommitSHA+"/"+rev)
		}
	}
	require.Equal(t, []string{"aaa111/", "bbb222/", "bbb222/ccc333", "bbb222/ddd444"}, deploys)
}
