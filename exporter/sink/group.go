package sink

import (
	"context"
	"sync"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/config"
)

// Group is the runners of one configuration's sinks, each delivering at its own pace:
// a reload stops one Group and starts the next, whose runners resume at the durable
// cursors.
type Group []*Runner

// NewGroup returns a runner for each sink.
func NewGroup(sinks []Sink, st Journal, m *Metrics, cfg config.DeliveryConfig, opts Options) Group {
	g := make(Group, 0, len(sinks))
	for _, s := range sinks {
		g = append(g, NewRunner(s, st, m, cfg, opts))
	}
	return g
}

// Run runs every runner until ctx ends. A runner that stops early (its journal closed)
// is logged; the others go on.
func (g Group) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				level.Error(r.logger).Log("msg", "sink stopped", "err", err)
			}
		}()
	}
	wg.Wait()
}

// Status is each runner's state, in the sinks' order.
func (g Group) Status() []Status {
	out := make([]Status, 0, len(g))
	for _, r := range g {
		out = append(out, r.Status())
	}
	return out
}
