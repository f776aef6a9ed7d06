package webhook

import (
	"context"
	"strconv"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// SampleEnvironment and SampleSource mark the event `envtrack webhook test` sends, so
// that a receiver can tell it from a real one.
const (
	SampleEnvironment = "envtrack-webhook-test"
	SampleSource      = "webhook-test"
)

// Sample is the event `envtrack webhook test` sends at now: one the endpoint's filters
// select (their first event name and type; a ready of a preview without filters), of
// the environment SampleEnvironment. Its id is new at each call ("test-" and now in
// Unix nanoseconds), so a receiver that drops repeats takes every test.
func (s *Sink) Sample(now time.Time) event.Event {
	e := event.Event{
		ID: "test-" + strconv.FormatInt(now.UnixNano(), 10), EnvironmentID: SampleEnvironment, EnvironmentName: "envtrack webhook test",
		Name: event.Ready, Time: now.UTC().Truncate(time.Second), RecordedAt: now.UTC(), Type: "preview",
		Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", Source: SampleSource,
		Metadata: map[string]any{event.MetaProvisioningDuration: 225.0},
	}
	if len(s.cfg.Events) > 0 {
		e.Name = event.Name(s.cfg.Events[0])
	}
	if len(s.cfg.Types) > 0 {
		e.Type = s.cfg.Types[0]
	}
	return e
}

// Test sends Sample once, signed like every delivery, and returns it with the answer
// (a non-2xx answer is a *StatusError, with the answer too).
func (s *Sink) Test(ctx context.Context) (event.Event, Answer, error) {
	e := s.Sample(s.opts.Now())
	a, err := s.Send(ctx, e)
	return e, a, err
}
