package query

import (
	"context"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// fact is the compact form of one lifecycle event, holding only what Performance and
// Chart read. The statistics work on facts rather than event.Event values (about 250
// bytes each, with a metadata map), so that the cache can hand out a window without
// copying it: a 30-day window of the benchmark's journal is 60,000 events.
type fact struct {
	Time          time.Time
	EnvironmentID string
	Type          string
	Name          event.Name
	Reason        string  // provisioning_failed's reason
	Revision      string  // deployed's revision
	Seconds       float64 // provisioning (ready, failed), queue (started) or termination (terminated) duration
	HasSeconds    bool
	Late          bool
	Baseline      bool
	User          bool // provisioning_failed: of class user (event.ClassUser)
	seq           uint64
}

// factOf compacts e.
func factOf(e *event.Event) fact {
	f := fact{Time: e.Time, EnvironmentID: e.EnvironmentID, Type: e.Type, Name: e.Name, seq: e.Seq}
	key := ""
	switch e.Name {
	case event.Ready:
		key = event.MetaProvisioningDuration
		f.Late, f.Baseline = e.Late(), e.Baseline()
	case event.ProvisioningFailed:
		key = event.MetaProvisioningDuration
		f.Reason = e.Reason()
		f.User = e.FailureClass() == event.ClassUser
	case event.ProvisioningStarted:
		key = event.MetaQueueDuration
	case event.Terminated:
		key = event.MetaTerminationDuration
	case event.Deployed:
		f.Revision, _ = e.Meta(event.MetaRevision).(string)
	}
	if key != "" {
		f.Seconds, f.HasSeconds = duration(e.Meta(key)) // a negative one is none, as in Timeline
	}
	return f
}

// event rebuilds the event the fact was made of, with the metadata the statistics read.
func (f *fact) event() event.Event {
	e := event.Event{Seq: f.seq, EnvironmentID: f.EnvironmentID, Name: f.Name, Time: f.Time, Type: f.Type}
	meta := map[string]any{}
	if f.HasSeconds {
		switch f.Name {
		case event.Ready, event.ProvisioningFailed:
			meta[event.MetaProvisioningDuration] = f.Seconds
		case event.ProvisioningStarted:
			meta[event.MetaQueueDuration] = f.Seconds
		case event.Terminated:
			meta[event.MetaTerminationDuration] = f.Seconds
		}
	}
	if f.Late {
		meta[event.MetaLate] = true
	}
	if f.Baseline {
		meta[event.MetaBaseline] = true
	}
	if f.Reason != "" {
		meta[event.MetaReason] = f.Reason
	}
	if f.User {
		meta[event.MetaFailureClass] = event.ClassUser
	}
	if f.Revision != "" {
		meta[event.MetaRevision] = f.Revision
	}
	if len(meta) > 0 {
		e.Metadata = meta
	}
	return e
}

// factSource is a Backend that keeps facts ready (CachedJournal).
type factSource interface {
	// facts returns the lifecycle facts of every type whose time is in [from, to), in
	// time order. The slice is shared: callers only read it.
	facts(ctx context.Context, from, to time.Time) ([]fact, error)
}

// facts returns the window's facts named in names: a shared view from a factSource,
// else the backend's events compacted. Callers filter by type and name themselves.
func (s *Service) facts(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]fact, error) {
	if fs, ok := s.backend.(factSource); ok {
		return fs.facts(ctx, from, to)
	}
	evs, err := s.backend.Range(ctx, from, to, typ, names...)
	if err != nil {
		return nil, err
	}
	out := make([]fact, 0, len(evs))
	for i := range evs {
		if evs[i].IsLifecycle() {
			out = append(out, factOf(&evs[i]))
		}
	}
	return out, nil
}
