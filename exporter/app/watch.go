package app

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/argocd"
	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// Watch mode (argocd.mode: watch), as Kubernetes informers do it:
//
//   - A session lists the Applications (the complete snapshot: Argo CD's stream marks no
//     end of its own snapshot, see argocd.Watch) and tracks the list exactly as a poll
//     does, so an Application absent from it counts as one "gone" observation and
//     termination still needs a second one. Then it opens the stream, without a
//     resourceVersion: Argo CD lists again and subscribes, so the stream's ADDED events
//     are at least as new as the list, and a change made between the two is not lost
//     (watching from the list's resourceVersion would lose it: Argo CD's broadcaster
//     keeps no history). Its first event also proves that nothing buffers the stream.
//   - Each ADDED/MODIFIED event whose evidence differs from what the session holds is
//     tracked at once; DELETED removes the Application from the session's view.
//   - Every poll_interval the session's view is tracked as a complete list (a poll
//     that costs nothing on the wire): provisioning timeouts and the second "gone"
//     observation are decided on it, only while the stream is live. When the stream is
//     down, nothing is tracked from Argo CD, so no timer becomes a transition.
//   - A broken stream reconnects with jittered backoff capped at 1 s (a new session,
//     so the snapshot is taken again); every resync_interval a new session repairs
//     any drift. A refused stream (404, 501) or one that delivers no event within the
//     request timeout although the list had Applications (a buffering proxy) falls
//     back to polling for resync_interval, then the stream is tried again.

const (
	watchBackoffInitial = 250 * time.Millisecond
	watchBackoffMax     = time.Second
)

var (
	errResync   = errors.New("resync interval elapsed")
	errBuffered = errors.New("the application stream delivered nothing within the timeout although Argo CD lists Applications (a proxy buffering it?)")
)

// watcher is the watch source of one configuration generation.
type watcher struct {
	a   *App
	src *sources

	// mu serialises tracking: an event and a tick never interleave, so a tick never
	// tracks a view older than an event already tracked.
	mu      sync.Mutex
	view    map[string]tracker.AppEvidence // by Application name: Argo CD now, as the session sees it
	pending []tracker.Observation          // a burst of events not tracked yet
	live    bool                           // the session's view is complete and the stream is open
	stats   watchStats

	failing bool // the last session failed (watchLoop's goroutine only)
}

// watchStats lets tests wait until the daemon handled what the fake Argo CD sent.
type watchStats struct {
	sessionEvents atomic.Int64 // events handled in the current session
}

// watchLoop runs the watch source until ctx ends. manualTicks leaves the evaluations
// to the caller (WatchTick), for deterministic tests.
func (a *App) watchLoop(ctx context.Context, src *sources, manualTicks bool) {
	ac := src.cfg.ArgoCD
	w := &watcher{a: a, src: src, view: map[string]tracker.AppEvidence{}}
	a.watcher.Store(w)
	defer a.watcher.CompareAndSwap(w, nil)
	b := backoff.New(watchBackoffInitial, watchBackoffMax, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)))
	for ctx.Err() == nil {
		src.argo.SetMode(argocd.ModeWatch)
		started := time.Now()
		err := w.session(ctx, manualTicks)
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(0)
		switch {
		case errors.Is(err, errResync):
			level.Debug(a.logger).Log("msg", "Argo CD resync: listing the Applications again")
			b.Reset()
		case errors.Is(err, errBuffered) || argocd.Unsupported(err):
			level.Warn(a.logger).Log("msg", "Argo CD application stream unusable; polling instead", "err", err,
				"poll_interval", ac.PollInterval, "retry_stream_in", ac.ResyncInterval)
			src.argo.SetMode(argocd.ModePoll)
			pctx, cancel := context.WithTimeout(ctx, time.Duration(ac.ResyncInterval))
			a.pollLoop(pctx, src)
			cancel()
			level.Info(a.logger).Log("msg", "trying the Argo CD application stream again")
			continue
		case err == nil || errors.Is(err, io.EOF):
			level.Info(a.logger).Log("msg", "Argo CD ended the application stream; reconnecting")
			if time.Since(started) < time.Minute {
				wait = b.Next()
			} else {
				b.Reset()
			}
		default:
			if !w.failing {
				level.Error(a.logger).Log("msg", "Argo CD watch failed; no environment changes until it answers", "err", err)
			} else {
				level.Debug(a.logger).Log("msg", "Argo CD watch failed again", "err", err)
			}
			w.failing = true
			wait = b.Next()
			if time.Since(started) > time.Minute {
				b.Reset()
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// session lists, tracks the list, then follows the stream until it ends or breaks.
func (w *watcher) session(ctx context.Context, manualTicks bool) error {
	a, src, ac := w.a, w.src, w.src.cfg.ArgoCD
	src.argo.SessionStarted()
	w.stats.sessionEvents.Store(0)
	var listed []tracker.AppEvidence
	if _, err := src.argo.Each(ctx, func(app *argocd.Application) error {
		listed = append(listed, src.mapping.Evidence(*app))
		return nil
	}); err != nil {
		return err
	}
	w.mu.Lock()
	w.live = false
	clear(w.view)
	for _, ev := range listed {
		w.view[ev.AppName] = ev
	}
	err := a.trackListed(listed, a.now())
	w.mu.Unlock()
	a.markPolled()
	if err != nil {
		return err
	}

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resync := time.AfterFunc(time.Duration(ac.ResyncInterval), func() { cancel(errResync) })
	defer resync.Stop()
	// An idle stream sends nothing, not even its header: only a non-empty list says that
	// an event must come.
	var snapshot *time.Timer
	if len(listed) > 0 {
		snapshot = time.AfterFunc(argocd.SnapshotTimeout(time.Duration(ac.RequestTimeout)), func() { cancel(errBuffered) })
		defer snapshot.Stop()
	}
	ticksDone := make(chan struct{})
	defer func() { cancel(nil); <-ticksDone }()
	goLive := sync.OnceFunc(func() {
		if snapshot != nil {
			snapshot.Stop()
		}
		w.mu.Lock()
		w.live = true
		w.mu.Unlock()
		if w.failing {
			level.Info(a.logger).Log("msg", "Argo CD answers again; tracking resumed")
			w.failing = false
		}
		level.Debug(a.logger).Log("msg", "Argo CD application stream open", "applications", len(listed))
	})
	if len(listed) == 0 {
		goLive()
	}
	go func() {
		defer close(ticksDone)
		if manualTicks {
			<-sctx.Done()
			return
		}
		t := time.NewTicker(time.Duration(ac.PollInterval))
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				_ = w.tick()
			}
		}
	}()
	defer func() {
		w.mu.Lock()
		w.live = false
		w.mu.Unlock()
	}()
	err = src.argo.Watch(sctx, goLive, func(e *argocd.WatchEvent, more bool) error {
		goLive()
		return w.handle(e, more)
	})
	w.mu.Lock()
	w.flush() // what a cut stream left queued is still evidence
	w.mu.Unlock()
	if cause := context.Cause(sctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// maxBatch bounds the observations of one burst of stream events tracked (and
// committed) together.
const maxBatch = 1000

// handle takes one stream event; events already buffered behind it (more) are tracked
// together with it, in one commit: a session's snapshot is one burst.
func (w *watcher) handle(e *argocd.WatchEvent, more bool) error {
	defer w.src.argo.EventHandled()
	defer w.stats.sessionEvents.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.take(e)
	if !more || len(w.pending) >= maxBatch {
		w.flush()
	}
	return nil
}

// take updates the view with one event and queues its observation (w.mu held).
func (w *watcher) take(e *argocd.WatchEvent) {
	name := e.Application.Metadata.Name
	if e.Type == argocd.EventDeleted {
		// Gone from Argo CD: the next evaluation counts the absence, as a poll would.
		delete(w.view, name)
		return
	}
	ev := w.src.mapping.Evidence(e.Application)
	if old, ok := w.view[name]; ok && reflect.DeepEqual(old, ev) {
		return // nothing envtrack reads changed
	}
	w.view[name] = ev
	id := ev.EnvironmentID
	if id == "" {
		id = ev.AppName
	}
	if id != name {
		// Two Applications claiming one environment: the first by name wins, as in a
		// poll (tracker.PollObservations).
		for other, o := range w.view {
			if other < name && (o.EnvironmentID == id || (o.EnvironmentID == "" && other == id)) {
				return
			}
		}
	}
	w.pending = append(w.pending, tracker.Observation{EnvironmentID: id, At: w.a.now(), App: &ev})
}

// flush tracks the queued observations (w.mu held). A failed commit is retried by the
// next evaluation: the view holds the evidence.
func (w *watcher) flush() {
	if len(w.pending) == 0 {
		return
	}
	_ = w.a.process(w.pending)
	w.pending = nil
}

// tick tracks the session's view as a complete list, if the stream is live. Only what
// time alone can change is evaluated: environments still provisioning (the timeout),
// terminating or missing from the view (absence), and any whose evidence the tracker
// has not taken yet; a ready, failed or degraded environment whose evidence the
// tracker already holds would not change, and 10,000 of them would cost a poll's CPU.
func (w *watcher) tick() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush()
	if !w.live {
		return nil
	}
	evidence := make([]tracker.AppEvidence, 0, len(w.view))
	for _, ev := range w.view {
		evidence = append(evidence, ev)
	}
	sort.Slice(evidence, func(i, j int) bool { return evidence[i].AppName < evidence[j].AppName })
	w.src.argo.Evaluated()
	obs, inconclusive := w.a.tracker.PollObservations(evidence, w.a.now())
	if inconclusive {
		return w.a.trackListed(evidence, w.a.now()) // its warning and metric
	}
	keep := obs[:0]
	for _, o := range obs {
		if o.Absent || !w.settled(o) {
			keep = append(keep, o)
		}
	}
	return w.a.process(keep)
}

// settled reports whether an observation of present evidence cannot change its
// environment: a phase that only new evidence changes, nothing pending, and the
// evidence the tracker already holds.
func (w *watcher) settled(o tracker.Observation) bool {
	s, ok := w.a.tracker.Get(o.EnvironmentID)
	if !ok || s.AbsentCount > 0 || !s.TerminationStartedAt.IsZero() || s.App == nil {
		return false
	}
	switch s.Phase {
	case tracker.PhaseReady, tracker.PhaseDegraded, tracker.PhaseFailed:
	default:
		return false
	}
	return reflect.DeepEqual(*s.App, *o.App)
}

// StartWatch runs the watch source in the background until ctx ends, with the
// evaluations left to WatchTick: for tests that drive the daemon step by step
// (Options.ManualSources).
func (a *App) StartWatch(ctx context.Context) {
	src := a.currentSources()
	if src.argo == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.watchLoop(ctx, src, true)
	}()
	a.watchDone.Store(&done)
}

// WatchTick evaluates the watch source's view now (what the ticker does every
// poll_interval). It reports whether the stream was live.
func (a *App) WatchTick() (bool, error) {
	w := a.watcher.Load()
	if w == nil {
		return false, nil
	}
	w.mu.Lock()
	live := w.live
	w.mu.Unlock()
	return live, w.tick()
}

// WatchEvents returns how many stream events the watch source handled in its current
// session (-1 without a watch source).
func (a *App) WatchEvents() int64 {
	w := a.watcher.Load()
	if w == nil {
		return -1
	}
	return w.stats.sessionEvents.Load()
}
