package ingest

import (
	"maps"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// A push that repeats what the journal holds stores nothing and is answered
// "unchanged". Two things make a repeat, both decided by a lookup in the journal's
// indexes (Journal.Known, Journal.IdempotencyKeys), never by reading an environment's
// history, so that a push costs the same into an environment holding 10,000 events as
// into a new one, and the same answer comes before and after a restart:
//
//   - the request's Idempotency-Key, bound to the fingerprint of the request it first
//     came with (keys.go);
//   - what an item says: its identity (event.Identity: environment, event, second,
//     and the revision or the marker's fields). The once-per-life events (created,
//     ready, ...) need no identity: the tracker's state absorbs their repeats.

// identities returns, per request of the group, which items repeat an event the journal
// holds or an earlier item of the same request: those are unchanged (their per entry
// stays nil). A request with an item that repeats one of an earlier request of the
// group is deferred (commitGroup): whether that one is stored is not known yet. It
// also returns the identities of the items it takes as new, for the commit to check
// (CheckingJournal). Without lookup every identity is taken as unknown to the journal.
func (p *Recorder) identities(batch []*request, lookup bool) (repeat [][]bool, absent []event.Fingerprint, err error) {
	type ref struct{ r, i int }
	items := 0
	for _, r := range batch {
		items += len(r.items)
	}
	// Sized for every item: a batch push is hundreds of markers.
	ids, refs := make([]event.Fingerprint, 0, items), make([]ref, 0, items)
	repeat = make([][]bool, len(batch))
	seen := make(map[event.Fingerprint]int, items) // identity -> the request of the group that has it
	commits := map[string]string{}                 // commit_sha an earlier push of the group sets, per environment
	for n, r := range batch {
		repeat[n] = make([]bool, len(r.items))
		if r.skip || r.deferred {
			continue
		}
		mine := make(map[event.Fingerprint]int, len(r.items)) // identity -> its first item in this request
		order := make([]event.Fingerprint, 0, len(r.items))
		own := maps.Clone(commits)
		for i, it := range r.items {
			id, ok := p.identity(it, own)
			if !ok {
				continue
			}
			if _, ok := seen[id]; ok {
				r.deferred = true
				break
			}
			if _, ok := mine[id]; ok {
				repeat[n][i] = true // the same event twice in one request: stored once
				continue
			}
			mine[id] = i
			order = append(order, id)
		}
		if r.deferred {
			continue
		}
		commits = own
		for _, id := range order {
			seen[id] = n
			ids = append(ids, id)
			refs = append(refs, ref{n, mine[id]})
		}
	}
	if len(ids) == 0 || !lookup {
		return repeat, ids, nil
	}
	known, err := p.o.Journal.Known(ids)
	if err != nil {
		return nil, nil, err
	}
	absent = make([]event.Fingerprint, 0, len(ids))
	for k, ok := range known {
		if ok {
			repeat[refs[k].r][refs[k].i] = true
		} else {
			absent = append(absent, ids[k])
		}
	}
	return repeat, absent, nil
}

// identity is the identity of the event an item will be stored as (event.Identity), if
// it has one. For a lifecycle push it mirrors what the tracker stores: the push's time
// to the second, its metadata, and its commit_sha or else the environment's.
func (p *Recorder) identity(it api.Item, commits map[string]string) (event.Fingerprint, bool) {
	switch {
	case it.Marker != nil:
		return it.Marker.Identity()
	case it.Push != nil:
		push := it.Push
		sha := push.CommitSHA
		if sha != "" {
			defer func() { commits[it.EnvironmentID] = sha }()
		}
		switch push.Event {
		case event.Deployed, event.Degraded, event.Recovered:
		default:
			return event.Fingerprint{}, false
		}
		if sha == "" {
			sha = commits[it.EnvironmentID]
		}
		if sha == "" {
			if st, ok := p.o.Tracker.Get(it.EnvironmentID); ok {
				sha = st.CommitSHA
			}
		}
		at := push.Time
		if at.IsZero() {
			at = p.o.Now() // what the tracker dates a push without a time with
		}
		e := event.Event{EnvironmentID: it.EnvironmentID, Name: push.Event, Time: at.UTC().Truncate(time.Second),
			CommitSHA: sha, Metadata: push.Metadata}
		return e.Identity()
	}
	return event.Fingerprint{}, false
}

// withKey returns the items with the request's Idempotency-Key in what they store (a
// push's IdempotencyKey, a marker's metadata): the journal's record of which request
// an event came from, and how the commit knows which keys it records (keys.go).
func withKey(items []api.Item, key string) []api.Item {
	out := make([]api.Item, len(items))
	for i, it := range items {
		switch {
		case it.Push != nil:
			p := *it.Push
			p.IdempotencyKey = key
			it.Push = &p
		case it.Marker != nil:
			m := *it.Marker
			meta := make(map[string]any, len(m.Metadata)+1)
			for k, v := range m.Metadata {
				meta[k] = v
			}
			meta[tracker.MetaIdempotencyKey] = key
			m.Metadata = meta
			it.Marker = &m
		}
		out[i] = it
	}
	return out
}
