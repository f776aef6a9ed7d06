package webhook

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/internal/webhooktest"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// journal commits evs to a fresh store and returns it with the committed events.
func journal(t testing.TB, evs []event.Event) (*store.Store, []event.Event) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "envtrack.db"), store.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	out, err := st.Commit(nil, evs)
	require.NoError(t, err)
	return st, out
}

func runner(s sink.Sink, st *store.Store, reg prometheus.Registerer) *sink.Runner {
	d := config.DefaultDeliveryConfig
	d.Backoff = config.BackoffConfig{Initial: model.Duration(time.Millisecond), Max: model.Duration(4 * time.Millisecond)}
	return sink.NewRunner(s, st, sink.NewMetrics(reg), d, sink.Options{})
}

// TestDeliveredOncePerIDInOrder: under the runner, from the journal, through a receiver
// that answers 500 for a while: every wanted event is accepted exactly once, in journal
// order, every attempt signed; a retry carries the same id; backfilled events and those
// the filters leave out are not sent; an event answered 422 is set aside for this
// endpoint and the next ones go on.
func TestDeliveredOncePerIDInOrder(t *testing.T) {
	var evs []event.Event
	for i := range 30 {
		e := event.Event{EnvironmentID: fmt.Sprintf("pr-%d", i), Name: event.Ready, Time: t0.Add(time.Duration(i) * time.Minute), Type: "preview"}
		switch i % 10 {
		case 3:
			e.Metadata = map[string]any{event.MetaBackfill: true} // history: not sent
		case 5:
			e.Type = "staging" // filtered out
		case 7:
			e.Name = event.Created // filtered out
		}
		evs = append(evs, e)
	}
	st, committed := journal(t, evs)
	var want []string
	for _, e := range committed {
		if e.Name == event.Ready && e.Type == "preview" && !e.Backfill() {
			want = append(want, e.ID)
		}
	}
	rejected := want[10]

	rc := webhooktest.New(t, specSecret)
	rc.SetAnswer(func(n int, r *http.Request, _ http.ResponseWriter) int {
		switch {
		case n >= 4 && n < 12: // a receiver down for a while
			return http.StatusInternalServerError
		case r.Header.Get("webhook-id") == rejected:
			return http.StatusUnprocessableEntity
		}
		return http.StatusOK
	})
	s := newSink(t, config.WebhookConfig{URL: rc.URL(), Secret: specSecret, Events: []string{"ready"}, Types: []string{"preview"}}, Options{})
	require.NoError(t, st.SetCursor(s.Name(), 0)) // an endpoint that was there before these events
	reg := prometheus.NewPedanticRegistry()
	r := runner(s, st, reg)
	require.NoError(t, r.Flush(context.Background()))

	rc.MustAllVerify()
	wantAccepted := append(append([]string(nil), want[:10]...), want[11:]...)
	require.Equal(t, wantAccepted, rc.Accepted(), "each wanted event once, in journal order")
	// Every attempt was of a wanted event, and the failed ones were tried again with the
	// same id until accepted (or, for the 422, set aside): ids only ever go forward.
	var last string
	pos := map[string]int{}
	for i, id := range want {
		pos[id] = i
	}
	for _, req := range rc.Requests() {
		id := req.Header.Get("webhook-id")
		p, ok := pos[id]
		require.True(t, ok, "%s was not to be sent", id)
		if last != "" {
			require.GreaterOrEqual(t, p, pos[last], "order")
		}
		last = id
	}
	require.Len(t, rc.Requests(), len(wantAccepted)+8+1, "8 answers 500, then each event once, and the 422")

	name := config.WebhookSinkName("ci")
	require.Equal(t, name, r.Name())
	require.Equal(t, committed[len(committed)-1].Seq, r.Status().Cursor, "the cursor passes the events not sent")
	require.Equal(t, uint64(1), r.Status().SetAside)
	require.Contains(t, r.Status().LastSetAside, rejected+": seq ")
	require.Contains(t, r.Status().LastSetAside, "422 Unprocessable Entity")
	n, err := st.SetAsideCount(name)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for _, m := range []struct {
		def   metric.Def
		value float64
	}{{metric.SinkDelivered, float64(len(wantAccepted))}, {metric.SinkSetAside, 1}, {metric.SinkLag, 0}} {
		require.Equal(t, m.value, testutil.ToFloat64(collector(t, reg, m.def, name)), m.def.Name)
	}
}

// collector finds the series of def for the sink name in reg.
func collector(t *testing.T, reg *prometheus.Registry, def metric.Def, name string) prometheus.Collector {
	t.Helper()
	switch def.Type {
	case metric.Counter:
		return def.NewCounterVec(reg).WithLabelValues(name)
	default:
		return def.NewGaugeVec(reg).WithLabelValues(name)
	}
}

// TestNewEndpointStartsAtEnd: an endpoint added to a journal that holds events is not
// sent them (they are history to it) and receives what comes after; one that asks for
// history (include_backfill) receives the journal from its start.
func TestNewEndpointStartsAtEnd(t *testing.T) {
	var evs []event.Event
	for i := range 4 {
		evs = append(evs, event.Event{EnvironmentID: fmt.Sprintf("pr-%d", i), Name: event.Ready, Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	st, committed := journal(t, evs[:3])
	rc := webhooktest.New(t, specSecret)
	r := runner(newSink(t, config.WebhookConfig{URL: rc.URL(), Secret: specSecret}, Options{}), st, prometheus.NewPedanticRegistry())
	all := webhooktest.New(t, specSecret)
	history := runner(newSink(t, config.WebhookConfig{Name: "all", URL: all.URL(), Secret: specSecret, IncludeBackfill: true}, Options{}),
		st, prometheus.NewPedanticRegistry())
	later, err := st.Commit(nil, evs[3:])
	require.NoError(t, err)
	require.NoError(t, r.Flush(context.Background()))
	require.NoError(t, history.Flush(context.Background()))
	require.Equal(t, []string{later[0].ID}, rc.Accepted())
	require.Equal(t, []string{committed[0].ID, committed[1].ID, committed[2].ID, later[0].ID}, all.Accepted())
}
