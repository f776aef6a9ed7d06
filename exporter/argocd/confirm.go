package argocd

import (
	"context"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// answer is what reading one Application on its own gave: its evidence (history
// included), when it was asked for and when it came, or why it did not.
type answer struct {
	ref       HistoryRef
	ev        tracker.Evidence
	asked, at time.Time
	err       error
}

// readAll reads the Applications refs name, each on its own (Client.Application), at
// most argocd.history_concurrency at once with the history reads (Source.reads): the confirmations of passed deadlines. An answer
// asked for after a deadline shows the Application as it is then, whatever a stream
// shows, so the tracker decides the deadline on it.
func (s *Source) readAll(ctx context.Context, refs []HistoryRef) []answer {
	out := make([]answer, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		s.reads <- struct{}{}
		go func() {
			defer func() { <-s.reads; wg.Done() }()
			a := answer{ref: ref, asked: s.now()}
			app, err := s.client.Application(ctx, ref.Name, ref.Namespace)
			a.at, a.err = s.now(), err
			if err == nil {
				a.ev = s.mapping.Evidence(*app)
				a.ev.History = s.mapping.Deployments(*app, app.Status.History)
			}
			out[i] = a
		}()
	}
	wg.Wait()
	return out
}
