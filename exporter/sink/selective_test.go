package sink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// pickySink is a scriptedSink that wants only some events, one per call (as a webhook
// endpoint does).
type pickySink struct {
	*scriptedSink
	want func(event.Event) bool
	max  int
}

func (p *pickySink) Wants(e event.Event) bool { return p.want(e) }
func (p *pickySink) MaxBatch() int            { return p.max }

// TestSelectiveAndLimited: a Selective sink is given only the events it wants and a
// Limited one at most MaxBatch per call; the cursor moves past the others, which are not
// counted as delivered; a retry sends the failed event again, not the ones before it.
func TestSelectiveAndLimited(t *testing.T) {
	down := result{retry: true, err: errDown}
	for _, tt := range []struct {
		name      string
		events    int
		want      func(event.Event) bool
		max       int
		batch     int // delivery.batch_size (100 when zero)
		catchUp   int // delivery.catch_up_batch_size
		script    []result
		reject    map[uint64]error
		calls     [][]uint64
		delivered float64
	}{
		{
			name: "every other event, one per call", events: 6, max: 1,
			want:  func(e event.Event) bool { return e.Seq%2 == 0 },
			calls: [][]uint64{{2}, {4}, {6}}, delivered: 3,
		},
		{
			name: "nothing wanted: no call, the cursor still moves", events: 5, max: 1,
			want: func(event.Event) bool { return false },
		},
		{
			name: "the last events unwanted", events: 5, max: 2,
			want:  func(e event.Event) bool { return e.Seq <= 3 },
			calls: [][]uint64{{1, 2}, {3}}, delivered: 3,
		},
		{
			name: "a retry sends the failed event only", events: 3, max: 1,
			want:   func(event.Event) bool { return true },
			script: []result{{}, down, down},
			calls:  [][]uint64{{1}, {2}, {2}, {2}, {3}}, delivered: 3,
		},
		{
			name: "catching up, still at most MaxBatch per call", events: 10, max: 3, batch: 2, catchUp: 6,
			want:  func(event.Event) bool { return true },
			calls: [][]uint64{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10}}, delivered: 10,
		},
		{
			name: "a rejected event is set aside alone", events: 3, max: 1,
			want:   func(event.Event) bool { return true },
			reject: map[uint64]error{2: errReject},
			calls:  [][]uint64{{1}, {2}, {3}}, delivered: 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.commit(t, tt.events)
			s := &pickySink{scriptedSink: newSink("picky"), want: tt.want, max: tt.max}
			s.script, s.reject = tt.script, tt.reject
			batch := tt.batch
			if batch == 0 {
				batch = 100
			}
			r := f.runnerCatchingUp(s, batch, tt.catchUp)
			require.NoError(t, r.Flush(context.Background()))
			require.Equal(t, tt.calls, s.Calls())
			require.Equal(t, uint64(tt.events), f.cursor(t, "picky"), "the cursor passes over unwanted events")
			c := f.counters(t, "picky")
			require.Equal(t, tt.delivered, c["delivered"], "only what the sink took counts as delivered")
			require.Zero(t, c["lag"])
			if len(tt.reject) > 0 {
				st := r.Status()
				require.Equal(t, uint64(1), st.SetAside)
				require.Contains(t, st.LastSetAside, "seq 2, ready env-1 at 2025-01-07T10:00:01Z: event 2: 400 field type conflict")
			}
		})
	}
}

// retryAfterErr is a retryable failure that asks to wait.
type retryAfterErr time.Duration

func (e retryAfterErr) Error() string             { return "429 too many requests" }
func (e retryAfterErr) RetryAfter() time.Duration { return time.Duration(e) }

// TestRetryAfterHonoured: a retryable error that says how long to wait (Retry-After)
// delays the next attempt at least that long, although the backoff alone would retry
// within milliseconds.
func TestRetryAfterHonoured(t *testing.T) {
	const wait = 150 * time.Millisecond
	f := newFixture(t)
	f.commit(t, 1)
	s := newSink("slow")
	var mu sync.Mutex
	var at []time.Time
	s.onDeliver = func(int) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}
	s.script = []result{{retry: true, err: retryAfterErr(wait)}}
	r := f.runner(s, 10) // backoff at most 4ms
	require.NoError(t, r.Flush(context.Background()))
	require.Len(t, at, 2)
	require.GreaterOrEqual(t, at[1].Sub(at[0]), wait)

	require.Equal(t, wait, RetryAfter(errors.Join(errors.New("wrapped"), retryAfterErr(wait))))
	require.Zero(t, RetryAfter(errDown))
	require.Zero(t, RetryAfter(retryAfterErr(-time.Second)))
}

// currentSink is a scriptedSink that wants only what comes after it was added.
type currentSink struct{ *scriptedSink }

func (currentSink) StartAtEnd() bool { return true }

// TestCurrentStartsAtEnd: a Current sink new to a journal that holds events starts at
// its end, durably (a restart does not send the history either), and then takes every
// new event; one that was added to an empty journal keeps its cursor at 0, so that the
// events of an outage that spans a restart are delivered, not skipped.
func TestCurrentStartsAtEnd(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 3)
	s := currentSink{newSink("new")}
	r := f.runner(s, 100)
	require.NoError(t, r.Flush(context.Background()))
	require.Empty(t, s.Calls(), "the history is not sent")
	require.Equal(t, uint64(3), f.cursor(t, "new"))
	f.commit(t, 2)
	r = f.runner(s, 100) // a restart
	require.NoError(t, r.Flush(context.Background()))
	require.Equal(t, [][]uint64{{4, 5}}, s.Calls())

	g := newFixture(t)
	early := currentSink{newSink("early")}
	g.runner(early, 100) // added to an empty journal
	g.commit(t, 2)       // committed while the endpoint is down, then a restart
	require.NoError(t, g.runner(early, 100).Flush(context.Background()))
	require.Equal(t, [][]uint64{{1, 2}}, early.Calls())
}

// TestCurrentStartsWhereTheConfigurationTookEffect: the daemon names where a new Current
// sink starts (the journal's end when its configuration was loaded); events committed
// after that and before the runner first reads its cursor (a leader elected later, a
// slow start) are delivered, not taken for history.
func TestCurrentStartsWhereTheConfigurationTookEffect(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 2) // history
	loaded := f.st.LastSeq()
	f.commit(t, 3) // accepted after the configuration took effect, before the runner started
	s := currentSink{newSink("late")}
	r := NewRunner(s, f.rec, f.m, config.DefaultDeliveryConfig, Options{JournalEnd: func() uint64 { return loaded }})
	require.NoError(t, r.Flush(context.Background()))
	require.Equal(t, [][]uint64{{3, 4, 5}}, s.Calls())
	require.Equal(t, uint64(5), f.cursor(t, "late"))
}
