package tracker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

func at(d string) time.Time {
	dd, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return t0.Add(dd)
}

// evidence builders, in the shapes a source shows during a provisioning.
type appOpt func(*Evidence)

// healthOf is the state of the health words the tests' sources use (as Argo CD's).
var healthOf = map[string]HealthState{"Healthy": HealthHealthy, "Progressing": HealthProgressing,
	"Degraded": HealthDegraded, "Missing": HealthMissing}

func newApp(opts ...appOpt) *Evidence {
	a := &Evidence{
		AppName: "pr-1", EnvironmentID: "pr-1", EnvironmentName: "pr-1", Type: "preview",
		Repository: "backend-api", Branch: "feature/x", CommitSHA: "1a2b3c4d5e6f",
		CreatedAt: t0, Sync: SyncOutOfSync, Revision: "1a2b3c4d5e6f",
		Health: HealthProgressing, HealthStatus: "Progressing", HealthSince: at("6s"),
		Op: OpRunning, OpPhase: "Running", OpStartedAt: at("5s"),
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func synced(finished string) appOpt {
	return func(a *Evidence) {
		a.Sync, a.Op, a.OpPhase, a.OpFinishedAt = SyncSynced, OpSucceeded, "Succeeded", at(finished)
	}
}

func health(status, when string) appOpt {
	return func(a *Evidence) {
		a.Health, a.HealthStatus = healthOf[status], status
		a.HealthSince = time.Time{}
		if when != "" {
			a.HealthSince = at(when)
		}
	}
}

func syncFailed(finished string) appOpt {
	return func(a *Evidence) {
		a.Op, a.OpPhase, a.OpFinishedAt, a.OpMessage = OpFailed, "Failed", at(finished), "one or more objects failed to apply"
	}
}

func withURL(u string) appOpt      { return func(a *Evidence) { a.URL = u } }
func requested(when string) appOpt { return func(a *Evidence) { a.RequestedAt = at(when) } }
func deleting(when string) appOpt  { return func(a *Evidence) { a.DeletionAt = at(when) } }
func createdAt(when string) appOpt { return func(a *Evidence) { a.CreatedAt = at(when) } }
func noCreation() appOpt           { return func(a *Evidence) { a.CreatedAt = time.Time{} } }
func redeploy(rev, start, fin string) appOpt {
	return func(a *Evidence) {
		a.Revision, a.OpStartedAt, a.OpFinishedAt, a.Op, a.OpPhase, a.Sync = rev, at(start), at(fin), OpSucceeded, "Succeeded", SyncSynced
	}
}

const url = "https://pr-1.preview.example.com/healthz"

func hist(id int64, rev, started, deployed string) Deployment {
	return Deployment{ID: id, Revision: rev, StartedAt: at(started), DeployedAt: at(deployed)}
}
func withHistory(h ...Deployment) appOpt { return func(a *Evidence) { a.History = h } }
func historyPending() appOpt             { return func(a *Evidence) { a.HistoryPending = true } }

// seen is an answer asked for at when (a list, the GET of the Application).
func seen(when string, a *Evidence) Observation {
	return Observation{EnvironmentID: "pr-1", At: at(when), AskedAt: at(when), App: a}
}

// streamed is evidence that arrived at when by a stream (or a view evaluated again):
// when it was true is unknown.
func streamed(when string, a *Evidence) Observation {
	return Observation{EnvironmentID: "pr-1", At: at(when), App: a}
}
func gone(when string) Observation {
	return Observation{EnvironmentID: "pr-1", At: at(when), Absent: true}
}
func probe(when string, ok bool) Observation {
	p := &ProbeResult{URL: url, At: at(when), OK: ok}
	if !ok {
		p.StatusCode = 503
	}
	return Observation{EnvironmentID: "pr-1", At: at(when), Probe: p}
}
func push(when string, name event.Name, evAt string, meta map[string]any) Observation {
	return Observation{EnvironmentID: "pr-1", At: at(when), Push: &Push{Event: name, Time: at(evAt), Metadata: meta}}
}
func tick(when string) Observation { return Observation{EnvironmentID: "pr-1", At: at(when)} }

// want is an expected event: name, time offset from t0, and metadata that must match.
type want struct {
	name event.Name
	at   string
	meta map[string]any
}

func TestStep(t *testing.T) {
	ready := []appOpt{synced("2m55s"), health("Healthy", "3m40s")}
	readyApp := func(extra ...appOpt) *Evidence { return newApp(append(append([]appOpt{}, ready...), extra...)...) }
	cases := []struct {
		name   string
		cfg    Config
		obs    []Observation
		want   []want
		phase  Phase
		before State
	}{
		{
			name:  "provisioning starts at creationTimestamp",
			obs:   []Observation{seen("1m", newApp())},
			want:  []want{{event.ProvisioningStarted, "0s", map[string]any{"repository": "backend-api", "branch": "feature/x", "commit_sha": "1a2b3c4d", "detected_at": "2025-01-07T10:01:00Z"}}},
			phase: PhaseProvisioning,
		},
		{
			name:  "provisioning start falls back to the sync operation's startedAt",
			obs:   []Observation{seen("1m", newApp(noCreation()))},
			want:  []want{{event.ProvisioningStarted, "5s", map[string]any{"evidence": "operationState.startedAt"}}},
			phase: PhaseProvisioning,
		},
		{
			name: "requested-at annotation gives created and the queue duration",
			obs:  []Observation{seen("1m", newApp(requested("-30s")))},
			want: []want{
				{event.Created, "-30s", nil},
				{event.ProvisioningStarted, "0s", map[string]any{"queue_duration_seconds": 30.0}},
			},
			phase: PhaseProvisioning,
		},
		{
			name: "ready without URL is the later of sync finishedAt and health transition",
			obs:  []Observation{seen("1m", newApp()), seen("4m", readyApp())},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", map[string]any{"provisioning_duration_seconds": 220.0, "detected_at": "2025-01-07T10:04:00Z"}},
			},
			phase: PhaseReady,
		},
		{
			name: "ready with URL waits for the first passing probe",
			obs: []Observation{
				seen("1m", newApp(withURL(url))), probe("2m", false),
				seen("3m50s", readyApp(withURL(url))), probe("3m45s", true), probe("4m", true),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m45s", map[string]any{"provisioning_duration_seconds": 225.0}},
			},
			phase: PhaseReady,
		},
		{
			name: "URL passing before Argo CD is ready: the last check decides",
			obs: []Observation{
				seen("1m", newApp(withURL(url))), probe("1m10s", true), seen("4m", readyApp(withURL(url))),
			},
			want: []want{{event.ProvisioningStarted, "0s", nil}, {event.Ready, "3m40s", nil}},
		},
		{
			name: "health without lastTransitionTime falls back to observation time",
			obs:  []Observation{seen("1m", newApp()), seen("5m", newApp(synced("2m55s"), health("Healthy", "")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "5m", map[string]any{"health_time_source": "observed"}},
			},
		},
		{
			name: "sync failed: time is the operation's finishedAt",
			obs:  []Observation{seen("1m", newApp(syncFailed("9s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "9s", map[string]any{"reason": "sync_failed", "provisioning_duration_seconds": 9.0}},
			},
			phase: PhaseFailed,
		},
		{
			name: "degraded before ready: time is health lastTransitionTime",
			obs:  []Observation{seen("1m", newApp()), seen("5m", newApp(health("Degraded", "4m12s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "4m12s", map[string]any{"reason": "degraded"}},
			},
			phase: PhaseFailed,
		},
		{
			name: "sync failed and degraded: the earliest evidence wins",
			obs:  []Observation{seen("5m", newApp(syncFailed("9s"), health("Degraded", "4m12s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "9s", map[string]any{"reason": "sync_failed"}},
			},
		},
		{
			name: "deleted before ready fails and starts termination at deletionTimestamp",
			obs:  []Observation{seen("1m", newApp()), seen("3m", newApp(deleting("2m30s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "2m30s", map[string]any{"reason": "deleted_before_ready"}},
				{event.TerminationStarted, "2m30s", nil},
			},
			phase: PhaseTerminating,
		},
		{
			name: "timeout: provisioning_started + timeout",
			cfg:  Config{ProvisioningTimeout: 30 * time.Minute},
			obs:  []Observation{seen("1m", newApp()), seen("29m59s", newApp()), seen("30m15s", newApp())},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "30m", map[string]any{"reason": "timeout", "pending_checks": "sync,health", "provisioning_duration_seconds": 1800.0}},
			},
			phase: PhaseFailed,
		},
		{
			name: "timeout with Argo CD ready but the URL failing is url_unreachable",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs:  []Observation{seen("1m", readyApp(withURL(url))), probe("2m", false), probe("9m", false), seen("10m", readyApp(withURL(url))), probe("10m5s", false)},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "10m", map[string]any{"reason": "url_unreachable", "url_error": "status 5xx", "pending_checks": "url"}},
			},
			phase: PhaseFailed,
		},
		{
			name:  "a probe alone cannot fire the timeout: Argo CD was not seen since the deadline",
			cfg:   Config{ProvisioningTimeout: 10 * time.Minute},
			obs:   []Observation{seen("1m", readyApp(withURL(url))), probe("10m30s", false)},
			want:  []want{{event.ProvisioningStarted, "0s", nil}},
			phase: PhaseProvisioning,
		},
		{
			name: "a failing probe after an Argo CD answer after the deadline fires url_unreachable",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs:  []Observation{seen("1m", readyApp(withURL(url))), seen("10m10s", readyApp(withURL(url))), probe("10m30s", false)},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "10m", map[string]any{"reason": "url_unreachable"}},
			},
		},
		{
			name:  "url_unreachable needs a probe that ran after the deadline",
			cfg:   Config{ProvisioningTimeout: 10 * time.Minute},
			obs:   []Observation{seen("1m", readyApp(withURL(url))), probe("9m", false), seen("10m30s", readyApp(withURL(url)))},
			want:  []want{{event.ProvisioningStarted, "0s", nil}},
			phase: PhaseProvisioning,
		},
		{
			name:  "a probe that was never sent is no evidence",
			cfg:   Config{ProvisioningTimeout: 10 * time.Minute},
			obs:   []Observation{seen("1m", readyApp(withURL(url))), seen("10m10s", readyApp(withURL(url))), {EnvironmentID: "pr-1", At: at("10m30s"), Probe: &ProbeResult{URL: url, Err: "canceled: not probed"}}},
			want:  []want{{event.ProvisioningStarted, "0s", nil}},
			phase: PhaseProvisioning,
		},
		{
			name: "blind past the deadline: ready evidence from before it wins",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs: []Observation{seen("1m", newApp(withURL(url))), probe("4m", true), probe("10m30s", true),
				seen("10m45s", newApp(withURL(url), synced("2m55s"), health("Healthy", "9m50s")))},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.Ready, "9m50s", map[string]any{"provisioning_duration_seconds": 590.0}}},
			phase: PhaseReady,
		},
		{
			name: "blind past the deadline: a real failure keeps its reason and time",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs: []Observation{seen("1m", newApp(withURL(url))), probe("10m30s", false),
				seen("10m45s", newApp(withURL(url), health("Degraded", "9m30s")))},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.ProvisioningFailed, "9m30s", map[string]any{"reason": "degraded"}}},
			phase: PhaseFailed,
		},
		{
			name: "blind past the deadline: a deletion before it wins",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs: []Observation{seen("1m", newApp(withURL(url))), probe("10m30s", false),
				seen("10m45s", newApp(withURL(url), deleting("9m")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "9m", map[string]any{"reason": "deleted_before_ready"}},
				{event.TerminationStarted, "9m", nil},
			},
			phase: PhaseTerminating,
		},
		{
			name: "blind past the deadline: gone when Argo CD answers again is deleted_before_ready",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs: []Observation{seen("1m", newApp(withURL(url))), probe("10m30s", false), gone("10m45s"),
				probe("10m50s", false), gone("11m")},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "10m45s", map[string]any{"reason": "deleted_before_ready"}},
				{event.Terminated, "10m45s", nil},
			},
			phase: PhaseTerminated,
		},
		{
			name: "blind past the deadline: the first answer after it decides the timeout",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs: []Observation{seen("1m", newApp(withURL(url))), probe("10m30s", false),
				seen("10m45s", newApp(withURL(url)))},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.ProvisioningFailed, "10m", map[string]any{"reason": "timeout"}}},
			phase: PhaseFailed,
		},
		{
			name: "ready after a timeout is late",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs:  []Observation{seen("1m", newApp()), seen("11m", newApp()), seen("12m", newApp(synced("11m30s"), health("Healthy", "11m40s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "10m", map[string]any{"reason": "timeout"}},
				{event.Ready, "11m40s", map[string]any{"late": true, "provisioning_duration_seconds": 700.0}},
			},
			phase: PhaseReady,
		},
		{
			name: "first seen after the deadline, ready late: both derived from evidence",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs:  []Observation{seen("20m", newApp(synced("11m"), health("Healthy", "12m")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "10m", map[string]any{"reason": "timeout"}},
				{event.Ready, "12m", map[string]any{"late": true}},
			},
		},
		{
			name: "ready within the timeout but noticed after it is not a failure",
			cfg:  Config{ProvisioningTimeout: 10 * time.Minute},
			obs:  []Observation{seen("1m", newApp()), seen("15m", newApp(synced("8m"), health("Healthy", "9m")))},
			want: []want{{event.ProvisioningStarted, "0s", nil}, {event.Ready, "9m", map[string]any{"detected_at": "2025-01-07T10:15:00Z"}}},
		},
		{
			name: "a sync retry after a failure becomes a late ready",
			obs:  []Observation{seen("1m", newApp(syncFailed("9s"))), seen("6m", newApp(synced("5m"), health("Healthy", "5m30s")))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "9s", map[string]any{"reason": "sync_failed"}},
				{event.Ready, "5m30s", map[string]any{"late": true}},
			},
		},
		{
			name: "deployed: a new revision synced after ready, at its finishedAt",
			obs: []Observation{
				seen("4m", readyApp()),
				seen("1h", readyApp(redeploy("1a2b3c4d5e6f", "50m", "51m"))), // same revision re-synced
				seen("2h", readyApp(func(a *Evidence) {
					a.Sync, a.Op, a.OpPhase, a.Revision = SyncOutOfSync, OpRunning, "Running", "abcdef012345"
				})),
				seen("2h5m", readyApp(redeploy("abcdef012345", "2h", "2h2m"))),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.Deployed, "2h2m", map[string]any{"revision": "abcdef012345", "previous_revision": "1a2b3c4d5e6f", "deploy_duration_seconds": 120.0}},
			},
			phase: PhaseReady,
		},
		{
			name: "degraded and recovered by health, at lastTransitionTime",
			obs: []Observation{
				seen("4m", readyApp()),
				seen("1h", readyApp(health("Progressing", "59m"))), // a rollout: not a degradation
				seen("2h", readyApp(health("Degraded", "1h55m"))),
				seen("3h", readyApp(health("Healthy", "2h40m"))),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.Degraded, "1h55m", map[string]any{"cause": "health", "health_status": "Degraded"}},
				{event.Recovered, "2h40m", nil},
			},
			phase: PhaseReady,
		},
		{
			name: "degraded and recovered by URL, at the first failing and passing probes",
			obs: []Observation{
				seen("3m", readyApp(withURL(url))), probe("4m", true),
				probe("1h", false), probe("1h1m", false), probe("1h2m", true),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "4m", nil},
				{event.Degraded, "1h", map[string]any{"cause": "url", "url_error": "status 5xx"}},
				{event.Recovered, "1h2m", nil},
			},
			phase: PhaseReady,
		},
		{
			name: "URL failures threshold: the time is still the first failing probe",
			cfg:  Config{URLFailuresBeforeDegraded: 3},
			obs: []Observation{
				seen("3m", readyApp(withURL(url))), probe("4m", true),
				probe("1h", false), probe("1h1m", false), probe("1h2m", true), // two: not yet
				probe("2h", false), probe("2h1m", false), probe("2h2m", false),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "4m", nil},
				{event.Degraded, "2h", map[string]any{"cause": "url"}},
			},
			phase: PhaseDegraded,
		},
		{
			name: "recovered only when every cause cleared",
			obs: []Observation{
				seen("3m", readyApp(withURL(url))), probe("4m", true),
				seen("1h", readyApp(withURL(url), health("Degraded", "59m"))), probe("1h1m", false),
				seen("2h", readyApp(withURL(url), health("Healthy", "1h30m"))), probe("2h10m", true),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "4m", nil},
				{event.Degraded, "59m", map[string]any{"cause": "health"}},
				{event.Recovered, "2h10m", nil},
			},
		},
		{
			name: "termination: deletionTimestamp, then gone twice; the time is the first absence",
			obs: []Observation{
				seen("4m", readyApp()),
				seen("1h", readyApp(deleting("59m30s"))),
				gone("1h1m"), gone("1h2m"), gone("1h3m"),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.TerminationStarted, "59m30s", nil},
				{event.Terminated, "1h1m", map[string]any{"termination_duration_seconds": 90.0, "total_lifetime_hours": 1.016667}},
			},
			phase: PhaseTerminated,
		},
		{
			name:  "one absence is not a termination",
			obs:   []Observation{seen("4m", readyApp()), gone("5m"), seen("6m", readyApp()), gone("7m")},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.Ready, "3m40s", nil}},
			phase: PhaseReady,
		},
		{
			name: "vanished while provisioning: deleted before ready, then terminated",
			obs:  []Observation{seen("1m", newApp()), gone("2m"), gone("3m")},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.ProvisioningFailed, "2m", map[string]any{"reason": "deleted_before_ready", "evidence": "application_gone"}},
				{event.Terminated, "2m", map[string]any{"termination_started_observed": false}},
			},
			phase: PhaseTerminated,
		},
		{
			name: "no deployment or degradation once terminating",
			obs: []Observation{
				seen("4m", readyApp()),
				seen("1h", readyApp(deleting("59m"))),
				seen("1h1m", readyApp(deleting("59m"), health("Missing", "1h"), redeploy("ffff", "1h", "1h1m"))),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil}, {event.Ready, "3m40s", nil}, {event.TerminationStarted, "59m", nil},
			},
			phase: PhaseTerminating,
		},
		{
			name: "an environment id reused after termination is a new incarnation",
			obs: []Observation{
				seen("4m", readyApp()), seen("1h", readyApp(deleting("59m"))), gone("1h1m"), gone("1h2m"),
				seen("2h", newApp(createdAt("1h50m"))),
			},
			want: []want{
				{event.ProvisioningStarted, "0s", nil}, {event.Ready, "3m40s", nil}, {event.TerminationStarted, "59m", nil},
				{event.Terminated, "1h1m", nil}, {event.ProvisioningStarted, "1h50m", nil},
			},
			phase: PhaseProvisioning,
		},
		{
			name: "a URL-only environment: the first passing probe is a baseline ready",
			obs:  []Observation{probe("1m", false), probe("2m", true), probe("3m", false), probe("4m", true)},
			want: []want{
				{event.Ready, "2m", map[string]any{"baseline": true}},
				{event.Degraded, "3m", map[string]any{"cause": "url"}},
				{event.Recovered, "4m", nil},
			},
			phase: PhaseReady,
		},
		{
			name: "pushed lifecycle: created, provisioning_started, ready, terminated",
			obs: []Observation{
				push("1m", event.Created, "0s", nil),
				push("2m", event.Created, "0s", nil), // a retry of the same push: nothing new
				push("3m", event.ProvisioningStarted, "1m", map[string]any{"repository": "web"}),
				push("6m", event.Ready, "5m", nil),
				push("9m", event.TerminationStarted, "8m", nil),
				push("10m", event.Terminated, "9m", nil),
			},
			want: []want{
				{event.Created, "0s", map[string]any{"pushed": true}},
				{event.ProvisioningStarted, "1m", map[string]any{"queue_duration_seconds": 60.0, "repository": "web"}},
				{event.Ready, "5m", map[string]any{"provisioning_duration_seconds": 240.0}},
				{event.TerminationStarted, "8m", nil},
				{event.Terminated, "9m", map[string]any{"termination_duration_seconds": 60.0, "total_lifetime_hours": 0.15}},
			},
			phase: PhaseTerminated,
		},
		{
			name:  "a pushed environment times out on a tick",
			cfg:   Config{ProvisioningTimeout: 5 * time.Minute},
			obs:   []Observation{push("0s", event.ProvisioningStarted, "0s", nil), tick("4m"), tick("6m")},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.ProvisioningFailed, "5m", map[string]any{"reason": "timeout"}}},
			phase: PhaseFailed,
		},
		{
			name:  "a pushed failure keeps its reason",
			obs:   []Observation{push("0s", event.ProvisioningStarted, "0s", nil), push("1m", event.ProvisioningFailed, "1m", map[string]any{"reason": "sync_failed"})},
			want:  []want{{event.ProvisioningStarted, "0s", nil}, {event.ProvisioningFailed, "1m", map[string]any{"reason": "sync_failed"}}},
			phase: PhaseFailed,
		},
		{
			name: "history found on the first poll is marked backfill",
			cfg:  Config{TrackingSince: at("1h")},
			obs:  []Observation{seen("2h", readyApp())},
			want: []want{
				{event.ProvisioningStarted, "0s", map[string]any{"backfill": true}},
				{event.Ready, "3m40s", map[string]any{"backfill": true}},
			},
		},
		{
			name: "deployments made while envtrack was blind come from status.history, each at its deployedAt",
			obs: []Observation{seen("4m", readyApp()), seen("30m", readyApp(redeploy("3c3c", "24m", "25m"),
				withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "2b2b", "20m", "21m30s"), hist(2, "3c3c", "24m", "25m"))))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.Deployed, "21m30s", map[string]any{"revision": "2b2b", "previous_revision": "1a2b3c4d5e6f", "deploy_duration_seconds": 90.0, "evidence": "status.history"}},
				{event.Deployed, "25m", map[string]any{"revision": "3c3c", "previous_revision": "2b2b", "deploy_duration_seconds": 60.0}},
			},
			phase: PhaseReady,
		},
		{
			name: "ready and redeployed while envtrack was blind: ready at its first sync, the redeploy at its own time",
			obs: []Observation{seen("1m", newApp()), seen("30m", readyApp(redeploy("2b2b", "20m", "21m"),
				withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "2b2b", "20m", "21m"))))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", map[string]any{"revision": "1a2b3c4d5e6f"}},
				{event.Deployed, "21m", map[string]any{"revision": "2b2b", "previous_revision": "1a2b3c4d5e6f"}},
			},
			phase: PhaseReady,
		},
		{
			name: "a re-sync of the running revision in the history is no deployment",
			obs: []Observation{seen("4m", readyApp()), seen("30m", readyApp(redeploy("2b2b", "24m", "25m"),
				withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "1a2b3c4d5e6f", "10m", "10m5s"), hist(2, "2b2b", "24m", "25m"))))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.Deployed, "25m", map[string]any{"revision": "2b2b", "previous_revision": "1a2b3c4d5e6f"}},
			},
		},
		{
			name: "history that could not be read: deployments wait for the next observation",
			obs: []Observation{seen("4m", readyApp()), seen("30m", readyApp(redeploy("3c3c", "24m", "25m"), historyPending())),
				seen("31m", readyApp(redeploy("3c3c", "24m", "25m"),
					withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "2b2b", "20m", "21m30s"), hist(2, "3c3c", "24m", "25m"))))},
			want: []want{
				{event.ProvisioningStarted, "0s", nil},
				{event.Ready, "3m40s", nil},
				{event.Deployed, "21m30s", map[string]any{"revision": "2b2b"}},
				{event.Deployed, "25m", map[string]any{"revision": "3c3c"}},
			},
		},
		{
			name: "an Application running before tracking began: each history entry is a backfilled deployment",
			cfg:  Config{TrackingSince: at("1h")},
			obs: []Observation{seen("2h", readyApp(redeploy("3c3c", "39m", "40m"),
				withHistory(hist(0, "1a2b3c4d5e6f", "5s", "2m55s"), hist(1, "2b2b", "20m", "21m30s"), hist(2, "3c3c", "39m", "40m"))))},
			want: []want{
				{event.ProvisioningStarted, "0s", map[string]any{"backfill": true}},
				{event.Ready, "3m40s", map[string]any{"backfill": true}},
				{event.Deployed, "2m55s", map[string]any{"backfill": true, "revision": "1a2b3c4d5e6f", "deploy_duration_seconds": 170.0}},
				{event.Deployed, "21m30s", map[string]any{"backfill": true, "revision": "2b2b", "previous_revision": "1a2b3c4d5e6f"}},
				{event.Deployed, "40m", map[string]any{"backfill": true, "revision": "3c3c", "previous_revision": "2b2b"}},
			},
			phase: PhaseReady,
		},
		{
			name: "environments created after tracking began are live",
			cfg:  Config{TrackingSince: at("-1h")},
			obs:  []Observation{seen("4m", readyApp())},
			want: []want{{event.ProvisioningStarted, "0s", nil}, {event.Ready, "3m40s", nil}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.before
			var got []event.Event
			for _, o := range tc.obs {
				var evs []event.Event
				s, evs = Step(s, o, loaded(tc.cfg))
				got = append(got, evs...)
			}
			require.Len(t, got, len(tc.want), "events: %s", names(got))
			for i, w := range tc.want {
				require.Equal(t, w.name, got[i].Name, "event %d: %s", i, names(got))
				require.Equal(t, at(w.at), got[i].Time, "event %d (%s) time", i, w.name)
				require.Equal(t, "pr-1", got[i].EnvironmentID)
				for k, v := range w.meta {
					require.Equal(t, v, got[i].Metadata[k], "event %d (%s) metadata %q", i, w.name, k)
				}
				if _, ok := w.meta["backfill"]; !ok {
					require.NotContains(t, got[i].Metadata, "backfill", "event %d (%s)", i, w.name)
				}
				if _, ok := w.meta["late"]; !ok {
					require.NotContains(t, got[i].Metadata, "late", "event %d (%s)", i, w.name)
				}
				require.Contains(t, got[i].Metadata, "detected_at")
			}
			if tc.phase != "" {
				require.Equal(t, tc.phase, s.Phase)
			}
			// Idempotence: the same evidence again (a restart re-reading Argo CD) emits nothing.
			last := tc.obs[len(tc.obs)-1]
			if !last.Absent {
				again, evs := Step(s, last, loaded(tc.cfg))
				require.Empty(t, evs, "the last observation repeated emitted %s", names(evs))
				require.Equal(t, s.Phase, again.Phase)
			}
		})
	}
}

func names(evs []event.Event) string {
	out := ""
	for _, e := range evs {
		out += fmt.Sprintf("[%s %s] ", e.Name, e.Time.Format("15:04:05"))
	}
	return out
}

func TestStepDescribesEvents(t *testing.T) {
	_, evs := Step(State{}, seen("1m", newApp()), loaded(Config{}))
	require.Len(t, evs, 1)
	e := evs[0]
	require.Equal(t, "pr-1", e.EnvironmentName)
	require.Equal(t, "preview", e.Type)
	require.Equal(t, "backend-api", e.Repository)
	require.Equal(t, "feature/x", e.Branch)
	require.Equal(t, "1a2b3c4d5e6f", e.CommitSHA)
	require.Equal(t, "argocd", e.Source)
}

func TestTrackerPollObservations(t *testing.T) {
	tr := New(loaded(Config{}), nil)
	commit := func(states []State, evs []event.Event) ([]event.Event, error) { return evs, nil }
	apps := []Evidence{*newApp(), *newApp(func(a *Evidence) { a.AppName, a.EnvironmentID = "pr-2", "pr-2" })}
	obs, inconclusive := tr.PollObservations(apps, at("1m"))
	require.False(t, inconclusive)
	require.Len(t, obs, 2)
	evs, err := tr.Process(obs, commit)
	require.NoError(t, err)
	require.Len(t, evs, 2)

	// An empty list while live environments are tracked proves nothing.
	for i := 0; i < 3; i++ {
		obs, inconclusive = tr.PollObservations(nil, at("2m"))
		require.True(t, inconclusive)
		require.Empty(t, obs)
	}
	// A non-empty list without pr-2 counts as an absence.
	obs, inconclusive = tr.PollObservations(apps[:1], at("3m"))
	require.False(t, inconclusive)
	require.Len(t, obs, 2)
	require.True(t, obs[1].Absent)
	require.Equal(t, "pr-2", obs[1].EnvironmentID)

	// A failed commit changes nothing.
	_, err = tr.Process(obs, func([]State, []event.Event) ([]event.Event, error) { return nil, fmt.Errorf("disk full") })
	require.Error(t, err)
	s, _ := tr.Get("pr-2")
	require.Zero(t, s.AbsentCount)
}

func TestTrackerEmptyListConfirmsOnlyDeletions(t *testing.T) {
	tr := New(loaded(Config{}), nil)
	commit := func(states []State, evs []event.Event) ([]event.Event, error) { return evs, nil }
	apps := []Evidence{*newApp(deleting("30s"))}
	obs, _ := tr.PollObservations(apps, at("1m"))
	_, err := tr.Process(obs, commit)
	require.NoError(t, err)
	var all []event.Event
	for _, when := range []string{"2m", "3m"} {
		obs, inconclusive := tr.PollObservations(nil, at(when))
		require.False(t, inconclusive)
		evs, err := tr.Process(obs, commit)
		require.NoError(t, err)
		all = append(all, evs...)
	}
	require.Len(t, all, 1)
	require.Equal(t, event.Terminated, all[0].Name)
	require.Equal(t, at("2m"), all[0].Time)
}

func TestProcessPersistsOnlyChanges(t *testing.T) {
	tr := New(loaded(Config{}), nil)
	var commits int
	commit := func(states []State, evs []event.Event) ([]event.Event, error) { commits++; return evs, nil }
	a := []Evidence{*newApp()}
	for _, when := range []string{"1m", "2m", "3m"} {
		obs, _ := tr.PollObservations(a, at(when))
		_, err := tr.Process(obs, commit)
		require.NoError(t, err)
	}
	require.Equal(t, 1, commits, "unchanged evidence must not rewrite the store")
}

// TestProcessInBatches: Process commits MaxBatch observations at a time, each batch in
// its own transaction; after a failed commit it returns the events of the batches
// committed before it, and nothing of the failed batch is applied.
func TestProcessInBatches(t *testing.T) {
	obs := func(n int, ev event.Name) []Observation {
		out := make([]Observation, n)
		for i := range out {
			out[i] = Observation{EnvironmentID: fmt.Sprintf("env-%d", i), At: at("1m"), Push: &Push{Event: ev, Time: at("1m")}}
		}
		return out
	}
	tr := New(loaded(Config{}), nil)
	var sizes []int
	commit := func(_ []State, evs []event.Event) ([]event.Event, error) {
		sizes = append(sizes, len(evs))
		return evs, nil
	}
	evs, err := tr.Process(obs(2*MaxBatch+1, event.Created), commit)
	require.NoError(t, err)
	require.Len(t, evs, 2*MaxBatch+1)
	require.Equal(t, []int{MaxBatch, MaxBatch, 1}, sizes)

	fail := errors.New("disk full")
	commits := 0
	failing := func(_ []State, evs []event.Event) ([]event.Event, error) {
		if commits++; commits == 2 {
			return nil, fail
		}
		return evs, nil
	}
	evs, err = tr.Process(obs(2*MaxBatch+1, event.ProvisioningStarted), failing)
	require.ErrorIs(t, err, fail)
	require.Len(t, evs, MaxBatch, "the first batch's events")
	first, _ := tr.Get("env-0")
	second, _ := tr.Get(fmt.Sprintf("env-%d", MaxBatch))
	require.Equal(t, PhaseProvisioning, first.Phase)
	require.Equal(t, PhaseRequested, second.Phase, "nothing of the failed batch applied")
}

// TestNeedsHistory: the history is read once per completed operation of a ready
// environment, and on the first sight of one running before tracking began.
func TestNeedsHistory(t *testing.T) {
	ready := []appOpt{synced("2m55s"), health("Healthy", "3m40s")}
	tr := New(loaded(Config{TrackingSince: at("1h")}), nil)
	commit := func(_ []State, evs []event.Event) ([]event.Event, error) { return evs, nil }
	old := *newApp(ready...)
	old.AppName, old.EnvironmentID = "old", "old"
	young := *newApp(append(ready, createdAt("1h30m"))...)
	young.AppName, young.EnvironmentID = "young", "young"
	busy := *newApp()
	busy.AppName, busy.EnvironmentID = "busy", "busy"
	require.Equal(t, []bool{true, true, false}, tr.NeedsHistory([]Evidence{old, young, busy}), "running ones, on first sight")

	live := New(loaded(Config{}), nil)
	p := *newApp()
	_, err := live.Process([]Observation{seen("1m", &p)}, commit)
	require.NoError(t, err)
	require.Equal(t, []bool{false}, live.NeedsHistory([]Evidence{p}), "provisioning")
	a := *newApp(ready...)
	require.Equal(t, []bool{true}, live.NeedsHistory([]Evidence{a}), "about to be ready")
	a.History = []Deployment{{ID: 0, Revision: "1a2b3c4d5e6f", DeployedAt: at("2m55s")}}
	_, err = live.Process([]Observation{seen("4m", &a)}, commit)
	require.NoError(t, err)
	a.History = nil
	require.Equal(t, []bool{false}, live.NeedsHistory([]Evidence{a}), "nothing happened since ready")
	b := *newApp(append(ready, redeploy("2b2b", "20m", "21m"))...)
	require.Equal(t, []bool{true}, live.NeedsHistory([]Evidence{b}), "an operation completed")
	b.History = []Deployment{{ID: 0, Revision: "1a2b3c4d5e6f", DeployedAt: at("2m55s")}, {ID: 1, Revision: "2b2b", DeployedAt: at("21m")}}
	require.Equal(t, []bool{false}, live.NeedsHistory([]Evidence{b}), "the answer carries it")
	_, err = live.Process([]Observation{seen("22m", &b)}, commit)
	require.NoError(t, err)
	b.History = nil
	require.Equal(t, []bool{false}, live.NeedsHistory([]Evidence{b}), "read once per operation")
	f := *newApp(append(ready, redeploy("3c3c", "30m", "31m"), syncFailed("31m"))...)
	require.Equal(t, []bool{true}, live.NeedsHistory([]Evidence{f}), "a failed operation may hide deployments")
	f.HistoryPending = true
	_, err = live.Process([]Observation{seen("32m", &f)}, commit)
	require.NoError(t, err)
	f.HistoryPending = false
	require.Equal(t, []bool{true}, live.NeedsHistory([]Evidence{f}), "a failed fetch is tried again")
}
