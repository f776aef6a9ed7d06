package annotate

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakegrafana"
)

// TestReconcileDeletesLaterDuplicates is the paused leader's request: the old leader
// had the POST of an event on the wire when it lost its lease; the new leader looked the
// event up, found nothing, and posted it; then the old request landed. The new leader's
// reconciliation deletes the later annotation and keeps the first.
func TestReconcileDeletesLaterDuplicates(t *testing.T) {
	srv := fakegrafana.NewServer(t)
	old := newHarness(t, srv, nil)
	next := newHarness(t, srv, nil)
	evs := events(3)
	old.mustDeliver(t, evs[0])

	next.mustDeliver(t, evs...) // takes over: finds 1, posts 2 (a suspect) and 3
	old.sink.unsure = false
	old.mustDeliver(t, evs[1]) // the old leader's request lands
	require.Equal(t, 2, next.countByEventID()["0011223344556677-2"])
	kept := srv.Annotations()[1].ID

	ctx := context.Background()
	at, ok := next.sink.NextReconcile()
	require.True(t, ok)
	require.Equal(t, t0.Add(reconcileFirst), at)
	require.NoError(t, next.sink.Reconcile(ctx), "not due yet: asks nothing")
	requests := srv.Requests()

	next.clock.Add(reconcileFirst)
	require.NoError(t, next.sink.Reconcile(ctx))
	require.Equal(t, map[string]int{"0011223344556677-1": 1, "0011223344556677-2": 1, "0011223344556677-3": 1}, next.countByEventID())
	for _, a := range srv.Annotations() {
		if a.HasTag("envtrack-id:0011223344556677-2") {
			require.Equal(t, kept, a.ID, "the first annotation is kept")
		}
	}
	log := srv.Log()[requests:]
	require.Len(t, log, 2, "one look-up for every suspect, one deletion")
	require.Equal(t, http.MethodGet, log[0].Method)
	q, err := url.ParseQuery(log[0].Query)
	require.NoError(t, err)
	require.Equal(t, "true", q.Get("matchAny"))
	require.ElementsMatch(t, []string{"envtrack-id:0011223344556677-1", "envtrack-id:0011223344556677-2"}, q["tags"],
		"the event found after the takeover and the first one posted")
	require.Equal(t, http.MethodDelete, log[1].Method)
	require.Equal(t, 1.0, testutil.ToFloat64(next.sink.m.duplicatesDeleted))

	// Checked again later, at growing intervals, until the horizon: then forgotten.
	at, ok = next.sink.NextReconcile()
	require.True(t, ok)
	require.Equal(t, next.clock.Now().Add(2*reconcileFirst), at)
	for ok {
		next.clock.Set(at)
		require.NoError(t, next.sink.Reconcile(ctx))
		at, ok = next.sink.NextReconcile()
		require.True(t, !ok || at.Sub(next.clock.Now()) <= reconcileEvery)
	}
	require.GreaterOrEqual(t, next.clock.Now().Sub(t0), reconcileHorizon)
	require.Len(t, srv.Annotations(), 3)
}

// TestReconcileFailureWaits: a check that fails is tried again later, not at once (the
// runner would otherwise spin on a Grafana that is down), and the suspect is kept; an
// annotation another process deleted meanwhile (404) is no error.
func TestReconcileFailureWaits(t *testing.T) {
	srv := fakegrafana.NewServer(t)
	h := newHarness(t, srv, nil)
	evs := events(1)
	h.mustDeliver(t, evs...)
	srv.Add(fakegrafana.Annotation{Time: ms0, Text: "late", Tags: []string{"envtrack-id:0011223344556677-1"}})

	h.clock.Add(reconcileFirst)
	srv.SetFault(fakegrafana.ServerError("database is locked").For(http.MethodGet).Limit(1))
	require.Error(t, h.sink.Reconcile(context.Background()))
	at, ok := h.sink.NextReconcile()
	require.True(t, ok)
	require.Equal(t, h.clock.Now().Add(2*reconcileFirst), at)

	h.clock.Set(at)
	srv.SetFault(fakegrafana.Respond(http.StatusNotFound, "application/json", `{"message":"Annotation not found","traceID":""}`).For(http.MethodDelete).Limit(1))
	require.NoError(t, h.sink.Reconcile(context.Background()))
	require.Len(t, srv.Annotations(), 2, "the deletion answered 404: someone else's")

	h.clock.Add(time.Minute)
	require.NoError(t, h.sink.Reconcile(context.Background()))
	require.Equal(t, map[string]int{"0011223344556677-1": 1}, h.countByEventID())
}

// TestReconcileWithoutDeletePermission: a token that may post but not delete leaves the
// duplicate, says which permission is missing, and is not taken for a refused token.
func TestReconcileWithoutDeletePermission(t *testing.T) {
	srv := fakegrafana.NewServer(t)
	h := newHarness(t, srv, nil)
	h.mustDeliver(t, events(1)...)
	srv.Add(fakegrafana.Annotation{Time: ms0, Text: "late", Tags: []string{"envtrack-id:0011223344556677-1"}})
	h.clock.Add(reconcileFirst)
	srv.SetFault(fakegrafana.Forbidden().For(http.MethodDelete))
	err := h.sink.Reconcile(context.Background())
	require.ErrorContains(t, err, "annotations:delete")
	require.Len(t, srv.Annotations(), 2)
	require.Zero(t, testutil.ToFloat64(h.sink.m.authFailures))
	_, ok := h.sink.NextReconcile()
	require.True(t, ok, "checked again later")
}
