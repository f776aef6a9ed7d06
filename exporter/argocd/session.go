package argocd

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/clock"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Watch mode (argocd.mode: watch), as Kubernetes informers do it:
//
//   - A session first lists the names of the Applications (fields=items.metadata.name,
//     a small answer): Argo CD's stream marks no end of its own snapshot (see
//     Client.Watch), the list says which Applications the snapshot must bring. Then it
//     opens the stream without a resourceVersion: Argo CD lists again and subscribes,
//     so the snapshot is at least as new as the names, and a change made between the
//     two is not lost (watching from the list's resourceVersion would lose it: Argo
//     CD's broadcaster keeps no history). The first event also proves that nothing
//     buffers the stream.
//   - Each event whose evidence differs from the view is tracked at once (a burst, such
//     as the snapshot, in one commit); DELETED removes the Application from the view.
//   - Once the snapshot brought every listed name (or, after the snapshot timeout, some
//     of them: the others were deleted meanwhile), the view is complete: what the
//     session did not see is gone, and the view is evaluated like a poll's list (so an
//     Application absent from it counts as one "gone" observation, and termination
//     still needs a second), then again every poll_interval: provisioning timeouts and
//     absences are decided there, only while the stream is live. When the stream is
//     down nothing is tracked from Argo CD, so no timer becomes a transition.
//   - A broken stream reconnects with jittered backoff capped at 1 s (a new session);
//     every resync_interval a new session repairs any drift. A refused stream (404,
//     501) or one that delivers no event within the request timeout although Argo CD
//     lists Applications (a buffering proxy) falls back to polling for
//     resync_interval, then the stream is tried again.

const (
	watchBackoffInitial = 250 * time.Millisecond
	watchBackoffMax     = time.Second
)

var (
	errResync   = errors.New("resync interval elapsed")
	errBuffered = errors.New("the application stream delivered nothing within the timeout although Argo CD lists Applications (a proxy buffering it?)")
)

// watcher is the watch source's state: the view of Argo CD and the session following it.
type watcher struct {
	s *Source
	t Tracker

	// mu serialises tracking: an event and a tick never interleave, so a tick never
	// tracks a view older than an event already tracked.
	mu sync.Mutex
	// view is Argo CD now, as the stream shows it, by Application name. An Application
	// keeps its evidence there only until the tracker took it (then the tracker's state
	// holds it): 10,000 settled Applications cost a name, an id and a HistoryRef each.
	view    map[string]tracker.ViewApp
	claims  map[string]int        // environment id -> Applications in the view claiming it
	refs    map[string]HistoryRef // by name: what reading a history needs
	pending []tracker.Observation // a burst of events not tracked yet
	ctx     context.Context       // the session's, for reading histories
	run     context.Context       // Run's, for tracking (set once)
	expect  map[string]struct{}   // listed names the session's snapshot has not brought yet
	seen    map[string]struct{}   // names the session's stream brought
	live    bool                  // the session's view is complete and the stream is open
	stats   watchStats

	outage outage // whether the last session failed (watchLoop's goroutine, and goLive)
}

// watchStats lets tests wait until the daemon handled what the fake Argo CD sent.
type watchStats struct {
	sessionEvents atomic.Int64 // events handled in the current session
}

// newWatcher returns the watch source's state for a Run with ctx that tracks to t.
func (s *Source) newWatcher(ctx context.Context, t Tracker) *watcher {
	return &watcher{s: s, t: t, run: ctx, view: map[string]tracker.ViewApp{}, claims: map[string]int{}, refs: map[string]HistoryRef{}}
}

// watchLoop runs the watch source w until ctx ends. manualTicks leaves the evaluations
// to the caller (w.tick), for deterministic tests.
func (s *Source) watchLoop(ctx context.Context, w *watcher, manualTicks bool) {
	b := backoff.New(watchBackoffInitial, watchBackoffMax, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)))
	// Reconnections wait on the real clock: they pace the connection, not the looks.
	var real clock.Real
	retry(ctx, func(ctx context.Context, d time.Duration) bool { return real.Sleep(ctx, loopPoll, d) }, func(ctx context.Context) time.Duration {
		s.client.SetMode(ModeWatch)
		started := time.Now()
		err := w.session(ctx, manualTicks)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errResync):
			level.Debug(s.logger).Log("msg", "Argo CD resync: listing the Applications again")
			b.Reset()
		case errors.Is(err, errBuffered) || Unsupported(err) || errors.Is(err, ErrEventTooLarge):
			level.Warn(s.logger).Log("msg", "Argo CD application stream unusable; polling instead", "err", err,
				"poll_interval", s.cfg.PollInterval, "retry_stream_in", s.cfg.ResyncInterval)
			s.client.SetMode(ModePoll)
			pctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.ResyncInterval))
			s.pollLoop(pctx, w.t)
			cancel()
			level.Info(s.logger).Log("msg", "trying the Argo CD application stream again")
		case err == nil || errors.Is(err, io.EOF):
			level.Info(s.logger).Log("msg", "Argo CD ended the application stream; reconnecting")
			if time.Since(started) < time.Minute {
				return b.Next()
			}
			b.Reset()
		default:
			w.outage.failed(s.logger, "watch", err)
			wait := b.Next()
			if time.Since(started) > time.Minute {
				b.Reset()
			}
			return wait
		}
		return 0
	})
}

// session lists the names of the Applications, then follows the stream until it ends
// or breaks: the stream's snapshot brings every Application (tracked in bursts), and
// once every listed name came (or the snapshot timeout passed after some did), the view
// is complete and evaluated at once, then every poll_interval.
func (w *watcher) session(ctx context.Context, manualTicks bool) error {
	c, ac := w.s.client, w.s.cfg
	c.SessionStarted()
	w.stats.sessionEvents.Store(0)
	names, err := c.Names(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.live = false
	w.expect = make(map[string]struct{}, len(names))
	for _, n := range names {
		w.expect[n] = struct{}{}
	}
	w.seen = make(map[string]struct{}, len(names))
	w.mu.Unlock()

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	w.ctx = sctx
	w.mu.Unlock()
	resync := time.AfterFunc(time.Duration(ac.ResyncInterval), func() { cancel(errResync) })
	defer resync.Stop()
	if len(names) > 0 {
		// An idle stream sends nothing, not even its header: only listed Applications
		// say that events must come. Some came: the rest were deleted in between.
		snapshot := time.AfterFunc(c.SnapshotTimeout(), func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if sctx.Err() != nil {
				return // the session ended: never live again
			}
			if len(w.seen) == 0 {
				cancel(errBuffered)
				return
			}
			w.goLive()
		})
		defer snapshot.Stop()
	} else {
		w.mu.Lock()
		w.goLive()
		w.mu.Unlock()
	}
	ticksDone := make(chan struct{})
	go func() {
		defer close(ticksDone)
		if manualTicks {
			<-sctx.Done()
			return
		}
		// The view's evaluations, every poll_interval from the session's start (going
		// live evaluates at once): where provisioning deadlines and absences are decided
		// while the stream is live.
		started := false
		w.s.clock.Every(sctx, loopView, time.Duration(ac.PollInterval), func() {
			if started {
				_ = w.tick()
			}
			started = true
		})
	}()
	err = c.Watch(sctx, nil, w.handle)
	// Blind from here on: no evaluation (nor the snapshot timer) may use the view.
	cause := context.Cause(sctx)
	cancel(nil)
	<-ticksDone
	w.mu.Lock()
	w.flush() // what a cut stream left queued is still evidence
	w.live = false
	w.mu.Unlock()
	if ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// goLive marks the view complete (w.mu held): what the session did not see is gone,
// the view is evaluated at once, and the daemon is ready.
func (w *watcher) goLive() {
	if w.live {
		return
	}
	for name := range w.view {
		if _, ok := w.seen[name]; !ok {
			w.drop(name)
		}
	}
	w.flush()
	w.live = true
	w.outage.answered(w.s.logger)
	level.Debug(w.s.logger).Log("msg", "Argo CD application stream live", "applications", len(w.view))
	_ = w.evaluate()
	w.t.Polled()
}

// maxBurst bounds the stream events tracked together (one commit): a session's
// snapshot of 10,000 Applications is ten bursts.
const maxBurst = 1000

// handle takes one stream event; events already buffered behind it (more) are tracked
// together with it, in one commit: a session's snapshot is one burst.
func (w *watcher) handle(e *WatchEvent, more bool) error {
	defer w.s.client.EventHandled()
	defer w.stats.sessionEvents.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.take(e)
	if !more || len(w.pending) >= maxBurst {
		w.flush()
	}
	if !w.live && len(w.expect) == 0 {
		w.goLive()
	}
	return nil
}

// take updates the view with one event and queues its observation (w.mu held).
func (w *watcher) take(e *WatchEvent) {
	name := e.Application.Metadata.Name
	w.seen[name] = struct{}{}
	delete(w.expect, name)
	if e.Type == EventDeleted {
		// Gone from Argo CD: the next evaluation counts the absence, as a poll would.
		w.drop(name)
		return
	}
	w.refs[name] = RefOf(&e.Application)
	ev := w.s.mapping.Evidence(e.Application)
	id := ev.EnvironmentID
	if id == "" {
		id = ev.AppName
	}
	old, inView := w.view[name]
	if old.Evidence != nil && reflect.DeepEqual(*old.Evidence, ev) ||
		old.Evidence == nil && w.t.Holds(id, ev) {
		if !inView || old.EnvironmentID != ev.EnvironmentID {
			w.set(name, tracker.ViewApp{EnvironmentID: ev.EnvironmentID})
		}
		return // nothing envtrack reads changed
	}
	w.set(name, tracker.ViewApp{EnvironmentID: ev.EnvironmentID, Evidence: &ev})
	if w.claims[id] > 1 {
		// Two Applications claiming one environment: the first by name wins, as in a
		// poll (tracker.PollObservations).
		for other, o := range w.view {
			if other < name && (o.EnvironmentID == id || (o.EnvironmentID == "" && other == id)) {
				return
			}
		}
	}
	w.pending = append(w.pending, tracker.Observation{EnvironmentID: id, At: w.s.now(), App: &ev})
}

// set puts an Application in the view (w.mu held), counting the environment it claims.
func (w *watcher) set(name string, v tracker.ViewApp) {
	if old, ok := w.view[name]; ok {
		w.unclaim(name, old)
	}
	w.view[name] = v
	w.claims[claimed(name, v)]++
}

// drop takes an Application out of the view (w.mu held).
func (w *watcher) drop(name string) {
	if old, ok := w.view[name]; ok {
		w.unclaim(name, old)
		delete(w.view, name)
	}
	delete(w.refs, name)
}

func (w *watcher) unclaim(name string, v tracker.ViewApp) {
	id := claimed(name, v)
	if w.claims[id]--; w.claims[id] <= 0 {
		delete(w.claims, id)
	}
}

// claimed is the environment an Application of the view claims.
func claimed(name string, v tracker.ViewApp) string {
	if v.EnvironmentID != "" {
		return v.EnvironmentID
	}
	return name
}

// flush tracks the queued observations (w.mu held). A failed commit leaves their
// evidence in the view: the next evaluation tracks them again from there.
func (w *watcher) flush() {
	if len(w.pending) == 0 {
		return
	}
	obs := w.withHistory(w.pending)
	w.pending = nil
	if obs != nil && w.t.Track(w.run, obs) == nil {
		w.taken(obs)
	}
}

// taken drops from the view the evidence the tracker now holds (w.mu held). An
// Application whose history could not be read keeps it, to be tracked again.
func (w *watcher) taken(obs []tracker.Observation) {
	for _, o := range obs {
		if o.App == nil || o.App.HistoryPending {
			continue
		}
		if v, ok := w.view[o.App.AppName]; ok && v.Evidence != nil {
			v.Evidence = nil
			w.view[o.App.AppName] = v
		}
	}
}

// withHistory reads the status.history of the Applications whose observation needs it
// (tracker.NeedsHistory), as a poll does; nil when the session ended meanwhile (the
// evidence stays dirty for the next session).
func (w *watcher) withHistory(obs []tracker.Observation) []tracker.Observation {
	var (
		evidence []tracker.Evidence
		apps     []HistoryRef
		at       = map[string]time.Time{}
		out      []tracker.Observation
	)
	for _, o := range obs {
		if o.App == nil {
			out = append(out, o)
			continue
		}
		evidence = append(evidence, *o.App)
		apps = append(apps, w.refs[o.App.AppName])
		at[o.App.AppName] = o.At
	}
	if len(evidence) == 0 {
		return out
	}
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	evidence, err := w.s.readHistory(ctx, w.t, apps, evidence)
	if err != nil {
		return nil
	}
	for i := range evidence {
		ev := evidence[i]
		id := ev.EnvironmentID
		if id == "" {
			id = ev.AppName
		}
		out = append(out, tracker.Observation{EnvironmentID: id, At: at[ev.AppName], App: &ev})
	}
	return out
}

// tick evaluates the view, if it is complete and the stream live.
func (w *watcher) tick() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush()
	if !w.live {
		return nil
	}
	return w.evaluate()
}

// evaluate tracks the view as a poll would track a complete list (w.mu held), minus
// what time alone cannot change (tracker.ViewObservations).
func (w *watcher) evaluate() error {
	w.s.client.Evaluated()
	at := w.s.now()
	obs, inconclusive := w.t.ViewObservations(w.view, at)
	if inconclusive {
		w.s.client.m.polls.WithLabelValues("inconclusive").Inc()
		level.Warn(w.s.logger).Log("msg", "the Argo CD stream shows no Applications while live environments are tracked; not taken as evidence of deletion")
	}
	if obs = w.withHistory(obs); obs == nil {
		return nil
	}
	if err := w.t.Track(w.run, obs); err != nil {
		return err
	}
	w.taken(obs)
	return nil
}
