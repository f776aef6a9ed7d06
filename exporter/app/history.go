package app

import (
	"context"
	"sync"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// historyConcurrency bounds the GET /api/v1/applications/{name} requests of one poll.
const historyConcurrency = 4

// readHistory fetches status.history for the Applications the tracker needs it for
// (tracker.NeedsHistory: an operation completed since the last one read, or the first
// sight of one running before tracking began). A failed fetch defers that
// Application's deployments to the next poll (HistoryPending); an Application seen
// for the first time is left out of this poll instead, so its backfill is not lost
// (being untracked, it cannot count as absent). It returns ctx's error if ctx ends.
func (a *App) readHistory(ctx context.Context, src *sources, apps []argocd.HistoryRef, evidence []tracker.AppEvidence) ([]tracker.AppEvidence, error) {
	need := a.tracker.NeedsHistory(evidence)
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, historyConcurrency)
		failed = make([]error, len(evidence))
	)
	for i := range evidence {
		if !need[i] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h, err := src.argo.History(ctx, apps[i].Name, apps[i].Namespace)
			if err != nil {
				failed[i] = err
				return
			}
			evidence[i].History = src.mapping.DeploymentsOf(apps[i], h)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := evidence[:0] // in place: out[j] is written only after evidence[j] was read
	nFailed := 0
	for i, ev := range evidence {
		if failed[i] != nil {
			nFailed++
			if nFailed == 1 {
				level.Warn(a.logger).Log("msg", "reading an Application's history failed; its deployments wait for the next poll",
					"application", ev.AppName, "err", failed[i])
			}
			id := ev.EnvironmentID
			if id == "" {
				id = ev.AppName
			}
			if _, tracked := a.tracker.Get(id); !tracked {
				continue
			}
			ev.HistoryPending = true
		}
		out = append(out, ev)
	}
	return out, nil
}
