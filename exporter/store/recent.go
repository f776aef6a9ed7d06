package store

import (
	"maps"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// The events of the last commits, kept in memory as stored, so that sinks, which read
// what was just committed (Events from their cursor), get them without decoding the
// journal's JSON again: on CI's workload that decode was a seventh of the push path's
// CPU. Only events that decode to exactly what was committed are kept: metadata of
// strings, booleans, float64 numbers and nulls (a json.Number or an integer decodes as
// float64, a nested value as a fresh map or slice); the times are in UTC without a
// monotonic reading either way. The rest of a commit, and everything after an event
// that cannot be kept, is read from the journal as before.

// maxRecent is how many events are kept at least (and at most twice as many, each a
// few hundred bytes): a sink further behind reads the journal.
const maxRecent = 2048

// remember keeps the events of a commit (s.mu held). An append the cache did not see
// (a gap, a copy) leaves a hole before them: the cache starts again after it.
func (s *Store) remember(evs []event.Event) {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	if n := len(s.recent); n > 0 && s.recent[n-1].Seq+1 != evs[0].Seq {
		s.recent = nil
	}
	for i := range evs {
		if !verbatim(&evs[i]) {
			s.recent = nil // nothing after it either: the cache stays contiguous
			return
		}
	}
	if len(s.recent)+len(evs) > 2*maxRecent {
		// The oldest go, into a new array (the old one's head would stay reachable);
		// at most once per maxRecent events committed, so a commit of a few events does
		// not copy the cache.
		keep := max(0, maxRecent-len(evs))
		s.recent = append(make([]event.Event, 0, 2*maxRecent), s.recent[len(s.recent)-keep:]...)
		evs = evs[max(0, len(evs)-maxRecent):]
	}
	for _, e := range evs {
		e.Metadata = maps.Clone(e.Metadata) // the committer's stays its own
		if len(e.Metadata) == 0 {
			e.Metadata = nil // an empty map is not written (omitempty): it decodes as nil
		}
		s.recent = append(s.recent, e)
	}
}

// forgetRecent drops the cache (s.mu held): Prune deletes events.
func (s *Store) forgetRecent() {
	s.recentMu.Lock()
	s.recent = nil
	s.recentMu.Unlock()
}

// recentEvents answers Events(afterSeq, limit) from the cache when it holds every event
// that call would read from the journal: from afterSeq+1 up to limit events or the
// journal's last.
func (s *Store) recentEvents(afterSeq uint64, limit int) ([]event.Event, bool) {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	n := len(s.recent)
	if n == 0 || afterSeq+1 < s.recent[0].Seq || afterSeq >= s.recent[n-1].Seq {
		return nil, false
	}
	from := s.recent[afterSeq+1-s.recent[0].Seq:]
	if limit > 0 && len(from) > limit {
		from = from[:limit]
	} else if from[len(from)-1].Seq != s.last.Load() {
		return nil, false // appended since without the cache (cannot happen: s.last follows remember)
	}
	out := make([]event.Event, len(from))
	for i, e := range from {
		e.Metadata = maps.Clone(e.Metadata) // the caller's to change, as a decoded one is
		out[i] = e
	}
	return out, true
}

// verbatim reports whether e decodes from the journal as it is: valid UTF-8 in every
// string (JSON replaces invalid bytes), flat metadata of the types JSON gives back, and
// times in UTC without a monotonic clock reading.
func verbatim(e *event.Event) bool {
	for k, v := range e.Metadata {
		switch v := v.(type) {
		case string:
			if !utf8.ValidString(v) {
				return false
			}
		case bool, float64, nil:
		default:
			return false
		}
		if !utf8.ValidString(k) {
			return false
		}
	}
	for _, s := range []string{e.ID, e.EnvironmentID, e.EnvironmentName, string(e.Name), e.Type, e.Repository,
		e.Branch, e.CommitSHA, e.Source} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return e.Time == e.Time.UTC() && e.RecordedAt == e.RecordedAt.UTC()
}
