package scenario

import (
	"fmt"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Synthetic builds a large, deterministic history for benchmarks and page-weight
// tests: envs environments requested evenly over span before end, ten lifecycle events
// each (created, provisioning_started, ready or provisioning_failed one time in ten,
// three deployments, a degradation and its recovery, termination_started, terminated)
// and the tracker states they leave. Durations vary with the index so that percentiles
// and histograms have shape.
func Synthetic(end time.Time, span time.Duration, envs int) ([]event.Event, []tracker.State) {
	types := []string{"preview", "feature", "staging"}
	reasons := event.Reasons
	evs := make([]event.Event, 0, envs*10)
	states := make([]tracker.State, 0, envs)
	start := end.Add(-span)
	for i := range envs {
		id := fmt.Sprintf("env-%05d", i)
		s := tracker.State{ID: id, Name: id, Type: types[i%len(types)], Repository: "platform-app", Branch: "feature/" + id,
			CommitSHA: fmt.Sprintf("%040x", i), Source: tracker.SourceArgoCD}
		at := start.Add(time.Duration(int64(span) / int64(envs+1) * int64(i+1))).Truncate(time.Second)
		queue := time.Duration(5+i%40) * time.Second
		prov := time.Duration(40+(i*7919)%500) * time.Second // 40s .. 9m
		failed := i%10 == 9
		base := event.Event{EnvironmentID: id, EnvironmentName: id, Type: s.Type, Repository: s.Repository, Branch: s.Branch, CommitSHA: s.CommitSHA, Source: "argocd"}
		add := func(n event.Name, t time.Time, meta map[string]any) {
			e := base
			e.Name, e.Time, e.Metadata = n, t, meta
			evs = append(evs, e)
		}
		s.CreatedAt, s.ProvisioningStartedAt = at, at.Add(queue)
		add(event.Created, at, map[string]any{"source": "annotation"})
		add(event.ProvisioningStarted, s.ProvisioningStartedAt, map[string]any{"evidence": "creationTimestamp", "queue_duration_seconds": queue.Seconds()})
		done := s.ProvisioningStartedAt.Add(prov)
		if failed {
			s.FailedAt, s.FailureReason = done, reasons[i%len(reasons)]
			add(event.ProvisioningFailed, done, map[string]any{"reason": s.FailureReason, "provisioning_duration_seconds": prov.Seconds()})
		} else {
			s.ReadyAt, s.EverReady = done, true
			add(event.Ready, done, map[string]any{"provisioning_duration_seconds": prov.Seconds(),
				"readiness_summary": "All checks passed: sync " + done.Add(-20*time.Second).Format(time.RFC3339) + ", health " + done.Format(time.RFC3339)})
		}
		t := done
		for d := range 3 {
			t = t.Add(time.Duration(10+d*7) * time.Minute)
			add(event.Deployed, t, map[string]any{"revision": fmt.Sprintf("%040x", i*10+d), "status": "success"})
		}
		add(event.Degraded, t.Add(5*time.Minute), map[string]any{"cause": "health"})
		add(event.Recovered, t.Add(8*time.Minute), nil)
		s.TerminationStartedAt = t.Add(2 * time.Hour)
		s.TerminatedAt = s.TerminationStartedAt.Add(time.Duration(30+i%60) * time.Second)
		add(event.TerminationStarted, s.TerminationStartedAt, map[string]any{"evidence": "deletionTimestamp"})
		add(event.Terminated, s.TerminatedAt, map[string]any{"termination_duration_seconds": s.TerminatedAt.Sub(s.TerminationStartedAt).Seconds()})
		s.Phase = tracker.PhaseTerminated
		if s.TerminatedAt.After(end) {
			s.Phase = tracker.PhaseReady
		}
		states = append(states, s)
	}
	return evs, states
}

// Markers builds n CI deployment markers (001) over span before end, spread as CI
// spreads them in a real installation: about 20 environments (test, staging, prod and
// previews) and 50 applications, with test receiving three quarters of them (a long
// history: thousands of markers in one environment). Activities carry quotes,
// backslashes and "${" as build tools write them; every 97th marker has a twin in the
// same second (two deploys of one environment at once, by another application); one in
// twelve failed.
func Markers(end time.Time, span time.Duration, n int) []event.Event {
	envs := []string{"staging", "prod", "prod.eu-1", "perf:load"}
	for i := range 16 {
		envs = append(envs, fmt.Sprintf("pr-%d", 4100+i*7))
	}
	statuses := []string{"success", "success", "success", "started", "failed", "cancelled"}
	start := end.Add(-span)
	out := make([]event.Event, 0, n+n/97+1)
	for i := range n {
		env := "test"
		if i%4 == 3 {
			env = envs[(i/4)%len(envs)]
		}
		at := start.Add(time.Duration(int64(span) / int64(n+1) * int64(i+1))).Truncate(time.Second)
		status := statuses[i%len(statuses)]
		if i%12 == 11 {
			status = "failed"
		}
		m := event.Marker{
			Host:        fmt.Sprintf("runner-%02d", i%8),
			Application: fmt.Sprintf("svc-%02d", i%50),
			Activity:    fmt.Sprintf(`deploy "v1.%d.%d" from C:\ci\build\%d ${BUILD_TAG} 'nightly'`, i/100, i%100, i),
			Status:      status,
			Failed:      status == "failed",
		}
		if i%5 == 0 {
			m.Host = "" // markers pushed without a host
		}
		out = append(out, event.Event{EnvironmentID: env, EnvironmentName: env, Name: event.Deployed, Time: at,
			Metadata: m.Metadata(), Source: "api"})
		if i%97 == 0 {
			m.Application = fmt.Sprintf("svc-%02d", (i+1)%50)
			out = append(out, event.Event{EnvironmentID: env, EnvironmentName: env, Name: event.Deployed, Time: at,
				Metadata: m.Metadata(), Source: "api"})
		}
	}
	return out
}
