package ingest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// journal is an in-memory Journal that counts its commits.
type journal struct {
	mu      sync.Mutex
	events  []event.Event
	commits int
}

func (j *journal) Commit(_ []tracker.State, evs []event.Event) ([]event.Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.commits++
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		e.Seq = uint64(len(j.events) + 1)
		j.events = append(j.events, e)
		out[i] = e
	}
	return out, nil
}

func (j *journal) CommitKeyed(states []tracker.State, evs []event.Event, _ map[string]event.Fingerprint) ([]event.Event, error) {
	return j.Commit(states, evs)
}

func (j *journal) Known(ids []event.Fingerprint) ([]bool, error) { return make([]bool, len(ids)), nil }

func (j *journal) IdempotencyKeys([]string) (map[string]event.Fingerprint, error) { return nil, nil }

func (j *journal) stats() (commits, events int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commits, len(j.events)
}

// TestGroupCommitWaitsForThePreviousGroup: after a commit of three pushes, the next
// committer waits for three pushes to be waiting (the pushers just acknowledged coming
// back) and commits them together, instead of committing the first one alone.
func TestGroupCommitWaitsForThePreviousGroup(t *testing.T) {
	j := &journal{}
	p := New(Options{Tracker: tracker.New(tracker.Config{}, nil), Journal: j})
	q := &p.queue
	q.mu.Lock()
	q.lastGroup, q.lastEnd, q.lastDur, q.maxWait = 3, time.Now(), time.Hour, time.Hour
	q.mu.Unlock()
	commits0, events0 := j.stats()
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := p.Push(fmt.Sprintf("group-%d", i), tracker.Push{Event: event.Created, Time: time.Date(2025, 1, 7, 11, 0, i, 0, time.UTC)})
			errs <- err
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
	commits1, events1 := j.stats()
	require.Equal(t, 1, commits1-commits0, "one commit")
	require.Equal(t, 3, events1-events0, "for the three pushes")
}
