package ingest

import (
	"errors"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// errLookUp: a group planned without looking its keys up refused a keyed request, and
// no commit checked its key: the group is planned again from the lookups.
var errLookUp = errors.New("a refused request's Idempotency-Key was not looked up")

// owner says which request's item an observation or a marker of the group came from.
type owner struct {
	r *request
	i int
}

// commitGroup commits one group of requests and answers them, returning those it
// deferred (commitOnce). With a shared journal (replicas on PostgreSQL) another replica
// may record one of the group's Idempotency-Keys between the lookup and the commit: the
// commit then fails with tracker.ErrRepeated, storing nothing, and the group is planned
// again, when the lookup finds the key, so that the retry is answered "unchanged" (or
// the reuse refused).
//
// With a CheckingJournal the first attempt looks nothing up (it plans from "nothing
// repeats", which the commit checks); the group is planned from the lookups only after
// that commit found a repeat.
func (p *Recorder) commitGroup(batch []*request) (deferred []*request) {
	var err error
	cj, checking := p.o.Journal.(CheckingJournal)
	for attempt := 0; ; attempt++ {
		err = p.commitOnce(batch, cj, checking && attempt == 0)
		if !errors.Is(err, tracker.ErrRepeated) && !errors.Is(err, errLookUp) || attempt == 2 {
			break
		}
	}
	for _, r := range batch {
		switch {
		case err != nil:
			if r.err == nil {
				r.err = err
			}
		case r.deferred:
			deferred = append(deferred, r)
			continue
		}
		close(r.done)
	}
	return deferred
}

// commitOnce plans one group of requests into one commit: retried Idempotency-Keys
// and repeated events are answered unchanged and left out (keys.go, dedupe.go),
// lifecycle pushes become the tracker's observations and markers its extra events, the
// items of one request sharing a group (all or nothing). An error fails the whole group.
//
// A request that repeats the key or an event of an earlier request of the same group
// is not decided here: it is marked deferred, to go first into the next group, which
// finds the earlier request stored or refused. Answering it "unchanged" now would lose
// its event if the tracker refused the earlier request.
//
// Without lookup (optimistic), every key is taken as not recorded and every identity as
// unknown; cj (not nil then) checks both in the commit, so that a retried request
// applies nothing (a push a state absorbs may still change the state's fields). A
// retried request the tracker refuses is decided by a commit of the others' events
// that checks its key; without one, it is planned again from the lookups (errLookUp).
// With cj and the lookups, the commit still checks the keys and identities found
// absent: another replica may record one meanwhile.
func (p *Recorder) commitOnce(batch []*request, cj CheckingJournal, optimistic bool) error {
	for _, r := range batch {
		r.per = make([][]event.Event, len(r.items))
		r.skip, r.deferred, r.err = false, false, nil
	}
	fresh, err := p.checkKeys(batch, !optimistic)
	if err != nil {
		return err
	}
	repeat, absent, err := p.identities(batch, !optimistic)
	if err != nil {
		return err
	}
	var (
		obs      []tracker.Observation
		markers  []event.Event
		obsOf    []owner
		markerOf []owner
		// markerGroups: the request of each marker, for the tracker's all or nothing.
		markerGroups []int
	)
	items := 0
	for _, r := range batch {
		items += len(r.items)
	}
	// Sized for every item at once: a batch push is hundreds of markers, and regrowing
	// copies of events was the most the push allocated.
	markers = make([]event.Event, 0, items)
	for n, r := range batch {
		if r.skip || r.deferred {
			continue
		}
		group := n + 1 // the items of one request: all or nothing
		for i, it := range r.items {
			if repeat[n][i] {
				continue // unchanged: already in the journal
			}
			if it.Marker != nil {
				markers = append(markers, *it.Marker)
				markerGroups = append(markerGroups, group)
				markerOf = append(markerOf, owner{r, i})
				continue
			}
			obs = append(obs, tracker.Observation{EnvironmentID: it.EnvironmentID, At: p.o.Now(), Push: it.Push, Group: group})
			obsOf = append(obsOf, owner{r, i})
		}
	}
	// The keys of the requests whose events this commit stores are recorded in the same
	// transaction: a retry after a crash finds both or neither.
	var (
		recorded  map[string]event.Fingerprint
		committed bool
	)
	commit := func(states []tracker.State, evs []event.Event) ([]event.Event, error) {
		recorded = keysIn(evs, fresh)
		if cj != nil {
			newKeys := make([]string, 0, len(fresh))
			for k := range fresh {
				newKeys = append(newKeys, k)
			}
			out, err := cj.CommitChecked(states, evs, recorded, newKeys, absent)
			committed = err == nil
			return out, err
		}
		return p.o.Journal.CommitKeyed(states, evs, recorded)
	}
	per, rejected, stored, err := p.o.Tracker.ProcessBatch(obs, markers, markerGroups, commit)
	if err != nil {
		return err
	}
	if optimistic && !committed {
		for i, o := range obsOf {
			if rejected[i] != nil && o.r.key.Name != "" {
				return errLookUp // nothing stored: whether its key is recorded decides
			}
		}
	}
	refused := map[*request]bool{}
	for i, o := range obsOf {
		o.r.per[o.i] = per[i]
		if rejected[i] != nil && o.r.err == nil {
			// 422 naming the item. The tracker stored nothing of its batch: the items of
			// one request share a group, all or nothing.
			o.r.err = &api.ItemError{Index: o.i, Err: rejected[i]}
			refused[o.r] = true
		}
	}
	for i, o := range markerOf {
		o.r.per[o.i] = stored[i]
	}
	// A request that was accepted but stored nothing (every item repeats what is known)
	// binds its key too: the same key with another request is refused after it as well.
	left := map[string]event.Fingerprint{}
	for _, r := range batch {
		if k := r.key.Name; k != "" && !r.skip && !r.deferred && !refused[r] {
			if _, ok := recorded[k]; !ok && fresh[k] == r.key.Fingerprint {
				left[k] = r.key.Fingerprint
			}
		}
	}
	if len(left) > 0 {
		_, err := p.o.Journal.CommitKeyed(nil, nil, left)
		if errors.Is(err, tracker.ErrRepeated) {
			// The key was recorded meanwhile (by another replica), or before this group
			// when it was not looked up: this request stored nothing, and its answer
			// stands unless the key came with another request.
			err = p.reused(batch, left)
		}
		if err != nil {
			for _, r := range batch {
				if _, ok := left[r.key.Name]; ok && r.err == nil {
					r.err = err // stored nothing: the client retries
				}
			}
		}
	}
	n := 0
	for _, evs := range per {
		n += len(evs)
	}
	for _, evs := range stored {
		n += len(evs)
	}
	all := make([]event.Event, 0, n)
	for _, evs := range per {
		all = append(all, evs...)
	}
	for _, evs := range stored {
		all = append(all, evs...)
	}
	p.o.Committed(all)
	return nil
}
