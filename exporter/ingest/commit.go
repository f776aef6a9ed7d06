package ingest

import (
	"errors"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// owner says which request's item an observation or a marker of the group came from.
type owner struct {
	r *request
	i int
}

// commitGroup commits one group of requests and answers them. With a shared journal
// (replicas on PostgreSQL) another replica may have recorded one of the group's
// Idempotency-Keys meanwhile: the commit then fails with tracker.ErrRepeated, storing
// nothing, and the group is planned again once the keys the other replicas recorded
// are read, so that the retry is answered "unchanged".
func (p *Recorder) commitGroup(batch []*request) {
	var err error
	for attempt := 0; ; attempt++ {
		err = p.commitOnce(batch)
		if !errors.Is(err, tracker.ErrRepeated) || attempt == 2 {
			break
		}
		if err = p.repeats.catchUp(p.o.Journal); err != nil {
			break
		}
	}
	for _, r := range batch {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}

// commitOnce plans one group of requests into one commit: repeats are answered
// unchanged and left out, lifecycle pushes become the tracker's observations and
// markers its extra events, the items of one request sharing a group (all or nothing).
func (p *Recorder) commitOnce(batch []*request) error {
	var (
		obs      []tracker.Observation
		markers  []event.Event
		obsOf    []owner
		markerOf []owner
		// markerGroups: the request of each marker, for the tracker's all or nothing.
		markerGroups []int
	)
	seen := map[string]bool{} // repeats within the group
	var g *group              // Idempotency-Keys, loaded on first use
	for n, r := range batch {
		group := n + 1 // the items of one request: all or nothing
		r.per, r.err = make([][]event.Event, len(r.items)), nil
		for i, it := range r.items {
			if key := itemKey(it); key != "" {
				if g == nil {
					if err := p.repeats.load(p.o.Journal); err != nil {
						return err
					}
					g = p.repeats.group()
				}
				if g.repeat(idempotencyKey(key)) {
					continue // unchanged: a retry of a recorded push
				}
			}
			if p.repeated(it, seen) {
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
	per, rejected, stored, err := p.o.Tracker.ProcessBatch(obs, markers, markerGroups, p.o.Journal.Commit)
	if err == nil {
		for i, o := range obsOf {
			o.r.per[o.i] = per[i]
			if rejected[i] != nil && o.r.err == nil {
				// 422 naming the item. The tracker stored nothing of its batch: the
				// items of one request share a group, all or nothing.
				o.r.err = &api.ItemError{Index: o.i, Err: rejected[i]}
				if g != nil {
					for _, it := range o.r.items { // none of the request was recorded
						if key := itemKey(it); key != "" {
							g.forget(idempotencyKey(key))
						}
					}
				}
			}
		}
		if g != nil {
			g.commit()
		}
		for i, o := range markerOf {
			o.r.per[o.i] = stored[i]
		}
		var all []event.Event
		for _, evs := range per {
			all = append(all, evs...)
		}
		for _, evs := range stored {
			all = append(all, evs...)
		}
		p.o.Committed(all)
	}
	return err
}
