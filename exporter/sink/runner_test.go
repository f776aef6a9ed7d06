package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/model/event"

	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// result is one scripted answer of the test sink.
type result struct {
	retry bool
	err   error
}

var (
	errDown   = errors.New("503 service unavailable")
	errReject = errors.New("400 field type conflict")
)

// scriptedSink is the test double: an in-memory sink that records every Deliver call and
// answers from a script. Call i gets script[i] when it has one (a nil err there means
// "answer normally"); then any batch holding a seq in reject fails permanently with it;
// otherwise the batch is accepted.
type scriptedSink struct {
	name   string
	script []result
	reject map[uint64]error
	// block makes Deliver wait for ctx to end and fail with its error.
	block bool
	// onDeliver, when set, runs at the start of every call (under no lock).
	onDeliver func(call int)

	mu        sync.Mutex
	calls     [][]uint64
	delivered []event.Event
	entered   chan struct{} // receives (without blocking) when a call starts
}

func newSink(name string) *scriptedSink {
	return &scriptedSink{name: name, entered: make(chan struct{}, 1)}
}

func (s *scriptedSink) Name() string { return s.name }

func (s *scriptedSink) Deliver(ctx context.Context, evs []event.Event) (bool, error) {
	s.mu.Lock()
	call := len(s.calls)
	s.calls = append(s.calls, seqsOf(evs))
	s.mu.Unlock()
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if s.onDeliver != nil {
		s.onDeliver(call)
	}
	if s.block {
		<-ctx.Done()
		return true, ctx.Err()
	}
	if call < len(s.script) && s.script[call].err != nil {
		return s.script[call].retry, s.script[call].err
	}
	for _, e := range evs {
		if err := s.reject[e.Seq]; err != nil {
			return false, fmt.Errorf("event %d: %w", e.Seq, err)
		}
	}
	s.mu.Lock()
	s.delivered = append(s.delivered, evs...)
	s.mu.Unlock()
	return false, nil
}

func (s *scriptedSink) Calls() [][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]uint64(nil), s.calls...)
}

func (s *scriptedSink) Delivered() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return seqsOf(s.delivered)
}

func seqsOf(evs []event.Event) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// countingRand is a deterministic backoff.Rand that counts its draws (one per backoff
// delay handed out).
type countingRand struct {
	mu    sync.Mutex
	r     *rand.Rand
	draws int
}

func newRand() *countingRand { return &countingRand{r: rand.New(rand.NewPCG(1, 2))} }

func (c *countingRand) Int64N(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draws++
	return c.r.Int64N(n)
}

func (c *countingRand) Draws() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draws
}

type fixture struct {
	path string
	st   *store.Store
	rec  *recorder
	clk  *clock
	reg  *prometheus.Registry
	m    *Metrics
	logs *testinfra.SyncBuffer
	rnd  *countingRand
}

type clock = testclock.Clock

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		path: filepath.Join(t.TempDir(), "envtrack.db"),
		clk:  testclock.New(t0),
		reg:  prometheus.NewPedanticRegistry(),
		logs: &testinfra.SyncBuffer{},
		rnd:  newRand(),
	}
	f.m = NewMetrics(f.reg)
	f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	st, err := store.Open(f.path, store.Options{NoSync: true, Now: f.clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f.st, f.rec = st, newRecorder(st)
}

// recorder is the journal as the runner sees it, recording what the runner makes
// durable (its cursors: SetCursor, and SaveCursorLazily until FlushCursors) and what it
// sets aside. The store keeps its side of that contract in its own tests (cursors_test,
// setaside_test).
type recorder struct {
	*store.Store
	mu      sync.Mutex
	lazy    map[string]uint64
	saved   map[string]uint64
	entries map[string][]asideEntry
}

type asideEntry struct {
	Event  event.Event
	Reason string
}

func newRecorder(st *store.Store) *recorder {
	return &recorder{Store: st, lazy: map[string]uint64{}, saved: map[string]uint64{}, entries: map[string][]asideEntry{}}
}

func (j *recorder) SetCursor(sink string, seq uint64) error {
	if err := j.Store.SetCursor(sink, seq); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.saved[sink] = seq
	delete(j.lazy, sink)
	return nil
}

func (j *recorder) SaveCursorLazily(sink string, seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.Store.SaveCursorLazily(sink, seq)
	j.lazy[sink] = seq
}

func (j *recorder) FlushCursors() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.Store.FlushCursors(); err != nil {
		return err
	}
	for sink, seq := range j.lazy {
		j.saved[sink] = seq
	}
	clear(j.lazy)
	return nil
}

func (j *recorder) SetAside(sink string, e event.Event, reason string) error {
	if err := j.Store.SetAside(sink, e, reason); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries[sink] = append(j.entries[sink], asideEntry{e, reason})
	return nil
}

// savedCursor is the sink's cursor as the runner made it durable: what a crash now
// would leave.
func (j *recorder) savedCursor(sink string) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.saved[sink]
}

func (j *recorder) setAside(sink string) []asideEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.entries[sink]
}

func (f *fixture) runner(s Sink, batch int) *Runner {
	return f.runnerCatchingUp(s, batch, 0)
}

// runnerCatchingUp is runner with delivery.catch_up_batch_size catchUp.
func (f *fixture) runnerCatchingUp(s Sink, batch, catchUp int) *Runner {
	logger := level.NewFilter(log.NewLogfmtLogger(f.logs), level.AllowDebug())
	d := config.DeliveryConfig{BatchSize: batch, CatchUpBatchSize: catchUp,
		Backoff: config.BackoffConfig{Initial: model.Duration(time.Millisecond), Max: model.Duration(4 * time.Millisecond)}}
	return NewRunner(s, f.rec, f.m, d, Options{Logger: logger, Rand: f.rnd})
}

// commit appends n events (environment env-<seq-ish>) to the journal.
func (f *fixture) commit(t *testing.T, n int) []event.Event {
	t.Helper()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{EnvironmentID: fmt.Sprintf("env-%d", i), Name: event.Ready, Time: t0.Add(time.Duration(i) * time.Second), Source: "argocd"}
	}
	out, err := f.st.Commit(nil, evs)
	require.NoError(t, err)
	return out
}

func (f *fixture) cursor(t *testing.T, name string) uint64 {
	t.Helper()
	c, err := f.st.Cursor(name)
	require.NoError(t, err)
	return c
}

func (f *fixture) counters(t *testing.T, name string) map[string]float64 {
	t.Helper()
	return map[string]float64{
		"delivered":           testutil.ToFloat64(f.m.delivered.WithLabelValues(name)),
		"failures_retryable":  testutil.ToFloat64(f.m.failures.WithLabelValues(name, "true")),
		"failures_permanent":  testutil.ToFloat64(f.m.failures.WithLabelValues(name, "false")),
		"set_aside":           testutil.ToFloat64(f.m.setAside.WithLabelValues(name)),
		"pruned_undelivered":  testutil.ToFloat64(f.m.pruned.WithLabelValues(name)),
		"lag":                 testutil.ToFloat64(f.m.lag.WithLabelValues(name)),
		"last_success_is_set": boolf(testutil.ToFloat64(f.m.lastSuccess.WithLabelValues(name)) > 0),
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestFlush(t *testing.T) {
	down := result{retry: true, err: errDown}
	reject := result{retry: false, err: errReject}
	tests := []struct {
		name     string
		events   int
		batch    int
		catchUp  int // delivery.catch_up_batch_size
		script   []result
		reject   map[uint64]error
		want     [][]uint64 // every Deliver call
		setAside []uint64
		failures [2]float64 // retryable, permanent
		backoffs int
	}{
		{
			name: "nothing to deliver", events: 0, batch: 3,
		},
		{
			name: "batches in order", events: 7, batch: 3,
			want: [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}},
		},
		{
			name: "two batches or more behind: catch-up batches, then batches", events: 12, batch: 2, catchUp: 5,
			want: [][]uint64{seqRange(1, 5), seqRange(6, 10), {11, 12}},
		},
		{
			name: "a catch-up batch smaller than a batch is a batch", events: 7, batch: 3, catchUp: 1,
			want: [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}},
		},
		{
			name: "isolation within a catch-up batch", events: 6, batch: 1, catchUp: 4,
			reject:   map[uint64]error{2: errReject},
			want:     [][]uint64{{1, 2, 3, 4}, {1}, {2}, {3}, {4}, {5, 6}},
			setAside: []uint64{2},
			failures: [2]float64{0, 2},
		},
		{
			name: "default batch size", events: 7,
			want: [][]uint64{seqRange(1, 7)},
		},
		{
			name: "retryable then success", events: 5, batch: 10,
			script:   []result{down, down, down},
			want:     [][]uint64{seqRange(1, 5), seqRange(1, 5), seqRange(1, 5), seqRange(1, 5)},
			failures: [2]float64{3, 0}, backoffs: 3,
		},
		{
			name: "retryable in the second batch keeps the first", events: 4, batch: 2,
			script:   []result{{}, down},
			want:     [][]uint64{{1, 2}, {3, 4}, {3, 4}},
			failures: [2]float64{1, 0}, backoffs: 1,
		},
		{
			name: "one bad event in a batch of 10 is isolated and set aside", events: 10, batch: 10,
			reject:   map[uint64]error{4: errReject},
			want:     [][]uint64{seqRange(1, 10), {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}},
			setAside: []uint64{4},
			failures: [2]float64{0, 2},
		},
		{
			name: "isolation, then batching resumes", events: 5, batch: 3,
			reject:   map[uint64]error{2: errReject},
			want:     [][]uint64{{1, 2, 3}, {1}, {2}, {3}, {4, 5}},
			setAside: []uint64{2},
			failures: [2]float64{0, 2},
		},
		{
			name: "permanent batch error that singles do not repeat", events: 3, batch: 3,
			script:   []result{reject},
			want:     [][]uint64{{1, 2, 3}, {1}, {2}, {3}},
			failures: [2]float64{0, 1},
		},
		{
			name: "retryable error of a single event during isolation is retried", events: 3, batch: 3,
			script:   []result{reject, {}, down, down},
			reject:   map[uint64]error{3: errReject},
			want:     [][]uint64{{1, 2, 3}, {1}, {2}, {2}, {2}, {3}},
			setAside: []uint64{3},
			failures: [2]float64{2, 2}, backoffs: 2,
		},
		{
			name: "every event rejected", events: 2, batch: 5,
			reject:   map[uint64]error{1: errReject, 2: errReject},
			want:     [][]uint64{{1, 2}, {1}, {2}},
			setAside: []uint64{1, 2},
			failures: [2]float64{0, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			committed := f.commit(t, tt.events)
			s := newSink("test")
			s.script, s.reject = tt.script, tt.reject
			r := f.runnerCatchingUp(s, tt.batch, tt.catchUp)
			require.NoError(t, r.Flush(context.Background()))

			require.Equal(t, tt.want, s.Calls())
			var wantDelivered []uint64
			for seq := uint64(1); seq <= uint64(tt.events); seq++ {
				if tt.reject[seq] == nil {
					wantDelivered = append(wantDelivered, seq)
				}
			}
			require.Equal(t, wantDelivered, nilIfEmpty(s.Delivered()), "each event exactly once, in order")
			require.Equal(t, uint64(tt.events), f.cursor(t, "test"))
			require.Equal(t, uint64(tt.events), r.Status().Cursor)
			require.Zero(t, r.Lag())

			var gotAside []uint64
			for _, e := range f.rec.setAside("test") {
				gotAside = append(gotAside, e.Event.Seq)
				require.Contains(t, e.Reason, errReject.Error())
			}
			require.Equal(t, tt.setAside, gotAside)

			require.Equal(t, map[string]float64{
				"delivered":           float64(len(wantDelivered)),
				"failures_retryable":  tt.failures[0],
				"failures_permanent":  tt.failures[1],
				"set_aside":           float64(len(tt.setAside)),
				"pruned_undelivered":  0,
				"lag":                 0,
				"last_success_is_set": boolf(len(wantDelivered) > 0),
			}, f.counters(t, "test"))
			require.Equal(t, tt.backoffs, f.rnd.Draws(), "one backoff delay per retryable failure")

			st := r.Status()
			require.Equal(t, uint64(len(tt.setAside)), st.SetAside)
			require.False(t, st.Failing)
			if tt.failures != [2]float64{} {
				require.NotEmpty(t, st.LastError)
			}
			for _, seq := range tt.setAside {
				require.Len(t, f.logs.Lines("level=error", "set aside", fmt.Sprintf("seq=%d ", seq),
					"event_id="+committed[seq-1].ID, "environment_id=env-", "event=ready",
					"time=2025-01-07T10:00:0", "400 field type conflict"), 1, f.logs.String())
			}
			if tt.backoffs > 0 {
				require.Len(t, f.logs.Lines("level=error", "delivery failed, will retry"), 1, "the first of a burst at error level")
				require.Len(t, f.logs.Lines("level=debug", "delivery failed, will retry"), tt.backoffs-1, "later ones at debug")
				require.Len(t, f.logs.Lines("level=info", "delivery resumed", fmt.Sprintf("failed_attempts=%d", tt.backoffs)), 1)
			}
		})
	}
}

func nilIfEmpty(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestMetricsExposition(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 3)
	s := newSink("influx")
	s.script = []result{{retry: true, err: errDown}}
	s.reject = map[uint64]error{2: errReject}
	idle := newSink("grafana")
	f.runner(idle, 10) // series exist from NewRunner on, at 0 (lag 3)
	r := f.runner(s, 10)
	require.NoError(t, r.Flush(context.Background()))

	// influx: 1 retryable failure, 1 permanent batch failure, event 2 set aside.
	const want = `
# HELP envtrack_sink_delivered_events_total Journal events the sink accepted.
# TYPE envtrack_sink_delivered_events_total counter
envtrack_sink_delivered_events_total{sink="grafana"} 0
envtrack_sink_delivered_events_total{sink="influx"} 2
# HELP envtrack_sink_delivery_failures_total Failed delivery attempts; retryable="true": transient, the batch is tried again with backoff; "false": rejected for good, its events are isolated and set aside.
# TYPE envtrack_sink_delivery_failures_total counter
envtrack_sink_delivery_failures_total{retryable="false",sink="grafana"} 0
envtrack_sink_delivery_failures_total{retryable="false",sink="influx"} 2
envtrack_sink_delivery_failures_total{retryable="true",sink="grafana"} 0
envtrack_sink_delivery_failures_total{retryable="true",sink="influx"} 1
# HELP envtrack_sink_lag_events Journal events not yet delivered to the sink (last sequence number minus the sink's cursor).
# TYPE envtrack_sink_lag_events gauge
envtrack_sink_lag_events{sink="grafana"} 3
envtrack_sink_lag_events{sink="influx"} 0
# HELP envtrack_sink_pruned_undelivered_events_total Events the journal no longer held when the sink reached them (pruned before the sink was configured): lost for this sink. Retention keeps what a configured sink has not delivered.
# TYPE envtrack_sink_pruned_undelivered_events_total counter
envtrack_sink_pruned_undelivered_events_total{sink="grafana"} 0
envtrack_sink_pruned_undelivered_events_total{sink="influx"} 0
# HELP envtrack_sink_set_aside_events_total Events the sink rejected permanently, recorded in the store's set_aside bucket and skipped.
# TYPE envtrack_sink_set_aside_events_total counter
envtrack_sink_set_aside_events_total{sink="grafana"} 0
envtrack_sink_set_aside_events_total{sink="influx"} 1
# HELP envtrack_sink_undelivered_set_aside_events_total Events set aside for the sink because it failed to deliver them within retention.max_undelivered: recorded in the store's undelivered bucket, no longer retried, and no longer kept in the journal for this sink.
# TYPE envtrack_sink_undelivered_set_aside_events_total counter
envtrack_sink_undelivered_set_aside_events_total{sink="grafana"} 0
envtrack_sink_undelivered_set_aside_events_total{sink="influx"} 0
`
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(want),
		"envtrack_sink_delivered_events_total", "envtrack_sink_delivery_failures_total", "envtrack_sink_lag_events",
		"envtrack_sink_pruned_undelivered_events_total", "envtrack_sink_set_aside_events_total",
		"envtrack_sink_undelivered_set_aside_events_total"))

	// Attempts observed: 1 retryable + 1 batch rejection + 3 singles, none for grafana.
	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "envtrack_sink_delivery_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	require.Equal(t, map[string]uint64{"grafana": 0, "influx": 5}, counts)
	require.Equal(t, 0.0, testutil.ToFloat64(f.m.lastSuccess.WithLabelValues("grafana")))
	require.Greater(t, testutil.ToFloat64(f.m.lastSuccess.WithLabelValues("influx")), float64(t0.Unix()))

	problems, err := testutil.GatherAndLint(f.reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	// Metrics are shared: NewMetrics again on the same registry keeps the same series.
	m2 := NewMetrics(f.reg)
	require.Equal(t, 2.0, testutil.ToFloat64(m2.delivered.WithLabelValues("influx")))
}

func TestCursorDurableAcrossReopen(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 5)
	s1 := newSink("influx")
	require.NoError(t, f.runner(s1, 2).Flush(context.Background()))
	require.Equal(t, seqRange(1, 5), s1.Delivered())
	require.NoError(t, f.st.Close())

	f.open(t)
	f.commit(t, 3)
	s2 := newSink("influx")
	r := f.runner(s2, 2)
	require.Equal(t, Status{Name: "influx", Cursor: 5, Lag: 3}, r.Status())
	require.Equal(t, 3.0, testutil.ToFloat64(f.m.lag.WithLabelValues("influx")))
	require.NoError(t, r.Flush(context.Background()))
	require.Equal(t, [][]uint64{{6, 7}, {8}}, s2.Calls(), "nothing delivered twice")
	require.Equal(t, uint64(8), f.cursor(t, "influx"))

	// Another sink on the same journal has its own cursor and starts from the beginning.
	s3 := newSink("grafana")
	require.NoError(t, f.runner(s3, 100).Flush(context.Background()))
	require.Equal(t, seqRange(1, 8), s3.Delivered())
}

func TestRetryableUnderRun(t *testing.T) {
	f := newFixture(t)
	s := newSink("influx")
	const failures = 4
	for range failures {
		s.script = append(s.script, result{retry: true, err: errDown})
	}
	r := f.runner(s, 100)
	var lagSeen []float64
	var mu sync.Mutex
	s.onDeliver = func(int) {
		mu.Lock()
		lagSeen = append(lagSeen, testutil.ToFloat64(f.m.lag.WithLabelValues("influx")))
		mu.Unlock()
	}
	require.Equal(t, 0.0, testutil.ToFloat64(f.m.lag.WithLabelValues("influx")))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.commit(t, 6)

	require.Eventually(t, func() bool { return len(s.Delivered()) == 6 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(f.m.lag.WithLabelValues("influx")) == 0 },
		10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	require.Equal(t, seqRange(1, 6), s.Delivered(), "every event exactly once")
	require.Len(t, s.Calls(), failures+1)
	require.Equal(t, failures, f.rnd.Draws(), "a backoff delay before each retry")
	require.Equal(t, float64(failures), testutil.ToFloat64(f.m.failures.WithLabelValues("influx", "true")))
	mu.Lock()
	require.Contains(t, lagSeen, 6.0, "lag went up while the sink was failing")
	mu.Unlock()
	st := r.Status()
	require.False(t, st.Failing)
	require.Equal(t, errDown.Error(), st.LastError)
	require.False(t, st.LastSuccess.IsZero())
	require.Len(t, f.logs.Lines("level=info", "delivery resumed", "failed_attempts=4"), 1)
}

func TestNotificationPath(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 2)
	s := newSink("influx")
	r := f.runner(s, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	require.Eventually(t, func() bool { return len(s.Delivered()) == 2 }, 10*time.Second, time.Millisecond)
	require.ErrorIs(t, r.Flush(ctx), ErrBusy)
	require.ErrorIs(t, r.Run(ctx), ErrBusy)
	for i := range 5 {
		f.commit(t, i+1) // 1+2+3+4+5 = 15 more, while Run waits or delivers
	}
	require.Eventually(t, func() bool { return len(s.Delivered()) == 17 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return r.Lag() == 0 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, seqRange(1, 17), s.Delivered())
	for _, c := range s.Calls() {
		require.LessOrEqual(t, len(c), 3)
	}
	require.Equal(t, uint64(17), f.cursor(t, "influx"))
	require.Zero(t, testutil.ToFloat64(f.m.lag.WithLabelValues("influx")))
}

func TestCancelDuringDeliver(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 3)
	s := newSink("influx")
	s.block = true
	r := f.runner(s, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-s.entered
	cancel()
	require.NoError(t, <-done)

	require.Equal(t, [][]uint64{{1, 2, 3}}, s.Calls())
	require.Zero(t, f.cursor(t, "influx"), "the cursor does not move")
	require.Zero(t, testutil.ToFloat64(f.m.failures.WithLabelValues("influx", "true")), "not a failure")
	require.Zero(t, testutil.ToFloat64(f.m.failures.WithLabelValues("influx", "false")))
	require.Zero(t, f.rnd.Draws())
	require.Empty(t, r.Status().LastError)
	require.Equal(t, uint64(3), r.Lag())

	// Run again after an idle wait; and Flush with an ended context.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	require.NoError(t, r.Run(ctx))
	require.ErrorIs(t, r.Flush(ctx), context.Canceled)
	require.Len(t, s.Calls(), 1)
}

func TestCancelWhileIdleAndWhileBackingOff(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			f := newFixture(t)
			f.commit(t, 1)
			s := newSink("influx")
			if failing {
				s.script = []result{{retry: true, err: errDown}}
			}
			logger := log.NewLogfmtLogger(f.logs)
			// A long backoff: cancel must interrupt it.
			d := config.DeliveryConfig{BatchSize: config.DefaultDeliveryConfig.BatchSize,
				Backoff: config.BackoffConfig{Initial: model.Duration(time.Hour), Max: model.Duration(time.Hour)}}
			r := NewRunner(s, f.st, f.m, d, Options{Logger: logger, Rand: maxRand{}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			<-s.entered
			if !failing {
				require.Eventually(t, func() bool { return r.Lag() == 0 }, 10*time.Second, time.Millisecond)
			} else {
				require.Eventually(t, func() bool { return r.Status().Failing }, 10*time.Second, time.Millisecond)
			}
			cancel()
			require.NoError(t, <-done)
		})
	}
}

// maxRand draws the ceiling: backoff delays are their maximum.
type maxRand struct{}

func (maxRand) Int64N(n int64) int64 { return n - 1 }

func TestPrunedBeforeDelivery(t *testing.T) {
	tests := []struct {
		name       string
		cursor     uint64
		pruneFirst int // events recorded an hour before the others, then pruned
		rest       int
		wantLost   float64
		want       []uint64
	}{
		{name: "from the start", cursor: 0, pruneFirst: 5, rest: 3, wantLost: 5, want: seqRange(6, 8)},
		{name: "part of the gap", cursor: 2, pruneFirst: 5, rest: 3, wantLost: 3, want: seqRange(6, 8)},
		{name: "cursor at the pruned edge", cursor: 5, pruneFirst: 5, rest: 3, wantLost: 0, want: seqRange(6, 8)},
		{name: "whole journal pruned", cursor: 1, pruneFirst: 4, rest: 0, wantLost: 3, want: nil},
		{name: "nothing pruned", cursor: 0, pruneFirst: 0, rest: 3, wantLost: 0, want: seqRange(1, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.commit(t, tt.pruneFirst)
			f.clk.Set(t0.Add(time.Hour))
			f.commit(t, tt.rest)
			require.NoError(t, f.st.SetCursor("influx", tt.cursor))
			n, err := f.st.Prune(t0.Add(time.Minute), nil) // a journal that holds nothing for this sink
			require.NoError(t, err)
			require.Equal(t, tt.pruneFirst, n)

			s := newSink("influx")
			r := f.runner(s, 2)
			require.NoError(t, r.Flush(context.Background()))
			require.Equal(t, tt.want, nilIfEmpty(s.Delivered()))
			last := uint64(tt.pruneFirst + tt.rest)
			require.Equal(t, last, f.cursor(t, "influx"))
			require.Equal(t, tt.wantLost, testutil.ToFloat64(f.m.pruned.WithLabelValues("influx")))
			require.Zero(t, testutil.ToFloat64(f.m.lag.WithLabelValues("influx")))
			lines := f.logs.Lines("level=error", "lost to retention")
			if tt.wantLost == 0 {
				require.Empty(t, lines)
				return
			}
			require.Len(t, lines, 1)
			require.Contains(t, lines[0], fmt.Sprintf("lost=%d first_lost_seq=%d last_lost_seq=%d",
				int(tt.wantLost), tt.cursor+1, tt.cursor+uint64(tt.wantLost)))

			// Reported once: the cursor moved past the loss durably.
			require.NoError(t, f.runner(newSink("influx"), 2).Flush(context.Background()))
			require.Len(t, f.logs.Lines("level=error", "lost to retention"), 1)
		})
	}
}

func TestStoreClosedEndsRun(t *testing.T) {
	f := newFixture(t)
	s := newSink("influx")
	r := f.runner(s, 2)
	require.NoError(t, f.st.Close())
	err := r.Run(context.Background())
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestNewRunnerDefaults(t *testing.T) {
	f := newFixture(t)
	r := NewRunner(newSink("x"), f.st, nil, config.DefaultDeliveryConfig, Options{})
	require.Equal(t, config.DefaultDeliveryConfig.BatchSize, r.batch)
	require.Equal(t, "x", r.Name())
	var calls atomic.Int32
	s := newSink("y")
	s.onDeliver = func(int) { calls.Add(1) }
	f.commit(t, 1)
	require.NoError(t, NewRunner(s, f.st, nil, config.DefaultDeliveryConfig, Options{}).Flush(context.Background()))
	require.Equal(t, int32(1), calls.Load())
}

// TestGroup: a Group runs each sink's runner at once, each delivering everything, and
// reports their status in the sinks' order.
func TestGroup(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 3)
	a, b := newSink("influx"), newSink("grafana")
	g := NewGroup([]Sink{a, b}, f.rec, f.m, config.DefaultDeliveryConfig, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return len(a.Delivered()) == 3 && len(b.Delivered()) == 3 }, 10*time.Second, time.Millisecond)
	cancel()
	<-done
	st := g.Status()
	require.Len(t, st, 2)
	require.Equal(t, []string{"influx", "grafana"}, []string{st[0].Name, st[1].Name})
	require.Equal(t, []uint64{3, 3}, []uint64{st[0].Cursor, st[1].Cursor})
}

// TestUndeliveredPastTheCeiling: while the sink fails, the events recorded longer ago
// than retention.max_undelivered are set aside for it (durably, counted, logged, on its
// status) and the cursor moves past them, so that retention can let them go; the younger
// ones are still delivered once the sink is back.
func TestUndeliveredPastTheCeiling(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 3) // recorded at t0
	f.clk.Set(t0.Add(2 * time.Hour))
	f.commit(t, 2) // recorded at t0+2h
	s := newSink("influx")
	s.script = []result{{retry: true, err: errDown}, {retry: true, err: errDown}}
	d := config.DeliveryConfig{BatchSize: 10,
		Backoff: config.BackoffConfig{Initial: model.Duration(time.Millisecond), Max: model.Duration(4 * time.Millisecond)}}
	r := NewRunner(s, f.rec, f.m, d, Options{Logger: log.NewLogfmtLogger(f.logs), Rand: f.rnd,
		MaxUndelivered: time.Hour, Now: f.clk.Now})
	require.NoError(t, r.Flush(context.Background()))

	require.Equal(t, [][]uint64{seqRange(1, 5), seqRange(4, 5), seqRange(4, 5)}, s.Calls(),
		"the first failure sets aside what is past the ceiling; the rest is retried")
	require.Equal(t, seqRange(4, 5), s.Delivered())
	require.Equal(t, uint64(5), f.cursor(t, "influx"))
	aside, err := f.st.Undelivered("influx")
	require.NoError(t, err)
	require.Len(t, aside, 3)
	for i, e := range aside {
		require.Equal(t, uint64(i+1), e.Event.Seq)
		require.Contains(t, e.Reason, "not delivered within retention.max_undelivered (1h): "+errDown.Error())
	}
	require.Equal(t, 3.0, testutil.ToFloat64(f.m.undelivered.WithLabelValues("influx")))
	require.Equal(t, uint64(3), r.Status().Undelivered)
	require.Len(t, f.logs.Lines("level=error", "events set aside", "events=3", "first_seq=1", "last_seq=3"), 1)

	// The count survives a restart.
	again := NewRunner(s, f.rec, f.m, d, Options{})
	require.Equal(t, uint64(3), again.Status().Undelivered)
}
