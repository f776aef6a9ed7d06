package annotate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/go-kit/log/level"
	"github.com/grafana-tools/sdk"

	"github.com/blueberry-idp/envtrack/model/tags"
)

// Reconciling duplicates. The look-up before posting (see the package documentation)
// cannot see a request that is still on its way: a leader paused past its lease (or a
// request of this process that timed out) may have a POST on the wire that lands after
// the next attempt found nothing and posted the same event. Fencing stops every write a
// process starts after it lost its lease, not one already sent. So the events delivered
// while the sink was unsure (and the first one posted after a failure or a takeover) are
// suspects: the sink asks Grafana again, later, for their annotations, and deletes all but
// the first (the lowest annotation id) of an event that has more than one. Each suspect
// is checked at growing intervals, from reconcileFirst to reconcileEvery, until
// reconcileHorizon has passed since it was delivered.
const (
	maxSuspects      = 10000
	reconcileFirst   = time.Second
	reconcileEvery   = 30 * time.Second
	reconcileHorizon = time.Hour
	// reconcileChunk events are looked up in one request (tags=envtrack-id:… repeated,
	// matchAny=true).
	reconcileChunk = 50
)

// suspect is an event whose annotation may yet arrive twice.
type suspect struct {
	since time.Time     // when the sink delivered it
	due   time.Time     // next check
	wait  time.Duration // since the previous check
}

// suspectLocked adds the event id to the suspects (a suspect again starts over).
func (s *Sink) suspectLocked(id string) {
	if id == "" {
		return
	}
	now := s.now()
	if _, ok := s.suspects[id]; !ok && len(s.suspects) >= maxSuspects {
		s.dropOldestSuspectLocked()
	}
	s.suspects[id] = &suspect{since: now, due: now.Add(reconcileFirst), wait: reconcileFirst}
}

func (s *Sink) dropOldestSuspectLocked() {
	var oldest string
	var at time.Time
	for id, sp := range s.suspects {
		if oldest == "" || sp.since.Before(at) {
			oldest, at = id, sp.since
		}
	}
	delete(s.suspects, oldest)
}

// NextReconcile implements sink.Reconciler: when a suspect is next due, ok false when
// there is none.
func (s *Sink) NextReconcile() (at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.suspects {
		if !ok || sp.due.Before(at) {
			at, ok = sp.due, true
		}
	}
	return at, ok
}

// Reconcile implements sink.Reconciler: it checks the suspects that are due and deletes
// the later duplicates of their annotations. A suspect whose check failed is checked
// again later, as one that was checked; only a successful check past reconcileHorizon
// ends it.
func (s *Sink) Reconcile(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconcileLocked(ctx)
}

func (s *Sink) reconcileLocked(ctx context.Context) error {
	now := s.now()
	var due []string
	for id, sp := range s.suspects {
		if !sp.due.After(now) {
			due = append(due, id)
		}
	}
	sort.Strings(due)
	var err error
	for len(due) > 0 && err == nil {
		chunk := due[:min(len(due), reconcileChunk)]
		due = due[len(chunk):]
		err = s.dedupe(ctx, chunk)
		now := s.now()
		if err != nil {
			chunk = append(chunk, due...) // none of the rest is checked either
		}
		for _, id := range chunk {
			sp := s.suspects[id]
			if err == nil && now.Sub(sp.since) >= reconcileHorizon {
				delete(s.suspects, id)
				continue
			}
			// After a failure too: Grafana is asked again later, not at once.
			sp.wait = min(2*sp.wait, reconcileEvery)
			sp.due = now.Add(sp.wait)
		}
	}
	return s.secrets.Error(err)
}

// dedupe looks up the annotations of the event ids and deletes, for each id with more
// than one, all but the one Grafana stored first.
func (s *Sink) dedupe(ctx context.Context, ids []string) error {
	const op = "find duplicate annotations"
	// Twice as many as the ids: an event has its annotation, and rarely one duplicate.
	// An answer cut at the limit leaves the rest for the suspect's next check.
	limit := uint(2 * len(ids))
	var list []sdk.AnnotationResponse
	ex, err := s.do(ctx, func(ctx context.Context) error {
		params := []sdk.GetAnnotationsParams{sdk.WithAnnotationType(), sdk.WithLimit(limit), withMatchAny()}
		for _, id := range ids {
			params = append(params, sdk.WithTag(tags.EventID(id)))
		}
		var err error
		list, err = s.client.GetAnnotations(ctx, params...)
		return err
	})
	if err := s.check(ctx, op, ex, err); err != nil {
		return err
	}
	byTag := make(map[string]string, len(ids)) // envtrack-id tag -> event id
	for _, id := range ids {
		byTag[tags.EventID(id)] = id
	}
	byEvent := map[string][]uint{}
	for _, a := range list {
		for _, t := range a.Tags {
			if id, ok := byTag[t]; ok {
				byEvent[id] = append(byEvent[id], a.ID)
				break
			}
		}
	}
	for _, id := range ids {
		anns := byEvent[id]
		if len(anns) < 2 {
			continue
		}
		sort.Slice(anns, func(i, j int) bool { return anns[i] < anns[j] })
		for _, dup := range anns[1:] {
			// A leader that lost its lease learns it here, before its next write.
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.deleteAnnotation(ctx, dup); err != nil {
				return err
			}
			s.m.duplicatesDeleted.Inc()
			level.Info(s.logger).Log("msg", "deleted a duplicate annotation", "event_id", id,
				"annotation_id", dup, "kept", anns[0])
		}
	}
	return nil
}

// deleteAnnotation deletes one annotation; one already gone (404) is no error.
func (s *Sink) deleteAnnotation(ctx context.Context, id uint) error {
	const op = "delete duplicate annotation"
	ex, err := s.do(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteAnnotation(ctx, id)
		return err
	})
	if ex.status == http.StatusForbidden {
		// Not the token's fault as a whole (posting works): one permission is missing.
		// The duplicate stays; the suspect is checked again later.
		return fmt.Errorf("grafana: %s %d: forbidden (%s): the service account needs annotations:delete (the Editor role has it)",
			op, id, answerMessage(ex.body))
	}
	err = s.check(ctx, op, ex, err)
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == 404 {
		return nil
	}
	return err
}

// withMatchAny asks for the annotations carrying any of the tags, not all of them (the
// sdk has no option for it).
func withMatchAny() sdk.GetAnnotationsParams {
	return func(v url.Values) { v.Set("matchAny", strconv.FormatBool(true)) }
}
