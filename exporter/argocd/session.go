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
	"github.com/blueberry-idp/envtrack/model/event"
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
//   - An open stream is no answer: Argo CD's plain stream says nothing while nothing
//     changes, so silence cannot tell idle from stalled. The session asks for the SSE
//     form, whose keepalives come every 15 s; silence longer than that plus the request
//     timeout is a stall, and the session is ended and a new one started. Nothing that
//     the view shows decides a deadline (the stream's events carry only the time their
//     session was asked for): when one passes, the Application is read on its own
//     (Client.Application, tracker.Due), and that answer decides. An answer that shows
//     what the stream has not is a stream behind: the session ends too (a plain stream's
//     only stall signal), before a held event older than that answer can be taken.
//   - Every interval in which the source does not see Argo CD (a session that ended or
//     stalled until the next one is live; a failed poll until the next that answers) is
//     a gap, recorded durably through the Tracker (Blind) and counted in
//     envtrack_argocd_blind_seconds_total.

const (
	watchBackoffInitial = 250 * time.Millisecond
	watchBackoffMax     = time.Second
)

var (
	errResync   = errors.New("resync interval elapsed")
	errBuffered = errors.New("the application stream delivered nothing within the timeout although Argo CD lists Applications (a proxy buffering it?)")
	errStalled  = errors.New("the application stream delivered nothing, not even its keepalives, for too long (stalled)")
	errBehind   = errors.New("the application stream is behind: Argo CD shows an Application as the stream has not")
)

// historyShare decides whether a session asks the stream for status.history
// (StreamHandler.History): when at least one listed name in historyShare is not in the
// view, or the view is empty (the first session of a process). A first sight needs
// the history of every Application found running (its backfill), and reading them one
// by one (GET /api/v1/applications/{name}, argocd.history_concurrency at a time) took
// most of the first sight of 100,000 Applications; in the stream they cost a few hundred
// bytes per Application (revisionHistoryLimit entries, 10 by default, of five narrow
// fields), where one whole Application (its status.resources, its last sync's result)
// weighs kilobytes. A resync, whose snapshot brings Applications the view already holds,
// is sent without it, and the few histories it needs are read.
const historyShare = 10

// maxConfirm bounds the Applications one evaluation reads to confirm passed deadlines;
// the rest wait for the next evaluation. Deadlines are rare: this is a guard.
const maxConfirm = 100

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
	view   map[string]tracker.ViewApp
	claims map[string]claim // environment id -> the Applications in the view claiming it
	// changed holds the environments whose Applications the view set or dropped since
	// the last evaluation that tracked, or whose evidence the tracker has not taken:
	// what an evaluation looks at besides those time alone can change
	// (tracker.ViewChanges). A session's first evaluation looks at the whole view.
	changed map[string]struct{}
	whole   bool                  // the next evaluation looks at the whole view (a session's first, until one tracks)
	refs    map[string]HistoryRef // by name: what reading a history needs
	pending []tracker.Observation // a burst of events not tracked yet
	ctx     context.Context       // the session's, for reading histories
	run     context.Context       // Run's, for tracking (set once)
	expect  map[string]struct{}   // listed names the session's snapshot has not brought yet
	// progress is when the session's snapshot last brought a listed name (real time).
	progress time.Time
	seen     map[string]struct{} // names the session's stream brought
	live     bool                // the session's view is complete and the stream is open
	stats    watchStats

	end        context.CancelCauseFunc // ends the session (a stall, a stream behind)
	asked      time.Time               // when the session's stream was asked for: its events show Argo CD at or after it
	heard      time.Time               // the last sign of the stream's life: going live, an event, a keepalive, a confirmation that agreed
	sse        bool                    // the session's stream is the SSE form, with keepalives
	confirming sync.WaitGroup          // confirmations in flight (at most one round)
	inFlight   bool                    // a round of confirmations runs
	resumed    bool                    // the stream speaks again after a stall: evaluate once caught up

	outage outage // whether the last session failed (watchLoop's goroutine, and goLive)

	streamHistory bool // the session's stream carries status.history (historyShare)
	// historyShare is historyShare; 0 never asks the stream for status.history (tests
	// of the reads a session without it makes).
	historyShare int
}

// watchStats lets tests wait until the daemon handled what the fake Argo CD sent.
type watchStats struct {
	sessionEvents     atomic.Int64 // events handled in the current session
	sessionKeepalives atomic.Int64 // keepalives received in the current session
	confirmRounds     atomic.Int64 // rounds of confirmations finished
}

// newWatcher returns the watch source's state for a Run with ctx that tracks to t.
func (s *Source) newWatcher(ctx context.Context, t Tracker) *watcher {
	return &watcher{s: s, t: t, run: ctx, view: map[string]tracker.ViewApp{}, claims: map[string]claim{},
		changed: map[string]struct{}{}, refs: map[string]HistoryRef{}, historyShare: historyShare}
}

// claim is who claims an environment in the view: how many Applications, and the first
// by name, which owns it (as in a poll, tracker.PollObservations).
type claim struct {
	n     int
	owner string
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
			s.blind(ctx, w.t, err, s.now())
			level.Warn(s.logger).Log("msg", "Argo CD application stream unusable; polling instead", "err", err,
				"poll_interval", s.cfg.PollInterval, "retry_stream_in", s.cfg.ResyncInterval)
			s.client.SetMode(ModePoll)
			pctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.ResyncInterval))
			s.pollLoop(pctx, w.t)
			cancel()
			level.Info(s.logger).Log("msg", "trying the Argo CD application stream again")
		case err == nil || errors.Is(err, io.EOF):
			s.blind(ctx, w.t, io.EOF, s.now())
			level.Info(s.logger).Log("msg", "Argo CD ended the application stream; reconnecting")
			if time.Since(started) < time.Minute {
				return b.Next()
			}
			b.Reset()
		default:
			from := s.now()
			if errors.Is(err, errStalled) || errors.Is(err, errBehind) {
				from = w.lastHeard() // nothing is known to have come through since
			}
			s.blind(ctx, w.t, err, from)
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
	w.mu.Lock()
	w.asked = w.s.now() // the names show Argo CD from then: with none listed, the view is complete
	w.mu.Unlock()
	names, err := c.Names(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.live = false
	w.expect = make(map[string]struct{}, len(names))
	unseen := 0 // listed names the view does not hold: Applications new to envtrack, or to this process
	for _, n := range names {
		w.expect[n] = struct{}{}
		if _, ok := w.view[n]; !ok {
			unseen++
		}
	}
	// An empty view (a process's first session, even on an Argo CD that lists nothing
	// yet) asks too: what comes is new.
	history := w.historyShare > 0 && (len(w.view) == 0 || unseen > 0 && unseen*w.historyShare >= len(names))
	w.streamHistory = history
	w.seen = make(map[string]struct{}, len(names))
	w.progress = time.Time{}
	w.mu.Unlock()

	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	w.ctx, w.end, w.sse = sctx, cancel, false
	w.stats.sessionKeepalives.Store(0)
	w.mu.Unlock()
	resync := time.AfterFunc(time.Duration(ac.ResyncInterval), func() { cancel(errResync) })
	defer resync.Stop()
	if len(names) > 0 {
		// An idle stream sends nothing, not even its header: only listed Applications
		// say that events must come. Some came, and none of the rest for the timeout:
		// those were deleted in between. A snapshot still coming (100,000 Applications
		// take longer than the timeout) is waited for: a view made complete before it
		// arrived would count every Application not yet delivered as gone.
		timeout := c.SnapshotTimeout()
		var snapshot *time.Timer
		snapshot = time.AfterFunc(timeout, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if sctx.Err() != nil || w.live {
				return // the session ended (never live again), or went live
			}
			if len(w.seen) == 0 {
				cancel(errBuffered)
				return
			}
			if wait := timeout - time.Since(w.progress); wait > 0 {
				snapshot.Reset(wait) // a listed Application came within the timeout
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
	w.mu.Lock()
	w.asked = w.s.now()
	w.mu.Unlock()
	err = c.Watch(sctx, StreamHandler{History: history, Connected: w.connected, Event: w.handle, Keepalive: w.keepalive})
	// Blind from here on: no evaluation (nor the snapshot timer) may use the view.
	cause := context.Cause(sctx)
	cancel(nil)
	<-ticksDone
	w.confirming.Wait()
	w.mu.Lock()
	if !errors.Is(cause, errBehind) {
		w.flush() // what a cut stream left queued is still evidence
	} else {
		w.pending = nil // older than what a confirmation showed: the next snapshot brings it
	}
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
	// Done with: a map keeps its size when emptied, and these hold every name once
	// more (issue 23, memory: 100,000 names).
	w.seen, w.expect = nil, nil
	w.flush()
	w.live = true
	clear(w.changed)
	w.whole = true // the evaluation below looks at the whole view, until one tracks
	w.heard = latest(w.heard, w.s.now())
	w.outage.answered(w.s.logger)
	w.s.seeing(w.run, w.t, w.asked) // its snapshot shows Argo CD from when it was asked for
	level.Debug(w.s.logger).Log("msg", "Argo CD application stream live", "applications", len(w.view))
	_ = w.evaluate()
	w.t.Polled()
}

// connected notes the form of the session's stream (its header came).
func (w *watcher) connected(sse bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sse = sse
}

// keepalive notes a keepalive of the SSE form: the stream is alive.
func (w *watcher) keepalive() {
	defer w.stats.sessionKeepalives.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.heardAt(w.s.now())
	w.caughtUp()
}

// caughtUp evaluates the view at once when the stream speaks again after a silence it
// was stalled in (w.mu held): the deadlines that passed meanwhile are decided now, as
// when a new session goes live, not at the next tick.
func (w *watcher) caughtUp() {
	if w.resumed && w.live && len(w.pending) == 0 {
		w.resumed = false
		_ = w.evaluate() // what changed during the silence, and what time can change
	}
}

// stallSlack is how late a keepalive may come before the silence it ends counts as a
// stall (network jitter is milliseconds; a held answer is seconds).
const stallSlack = 5 * time.Second

// heardAt notes a sign of the stream's life at now (w.mu held). On an SSE stream a
// silence longer than the keepalive interval (and stallSlack) means that what it sent
// was held on the way, even when it comes through in the end: envtrack did not see Argo
// CD in between, and records it.
func (w *watcher) heardAt(now time.Time) {
	if w.sse && w.live && !w.heard.IsZero() && now.Sub(w.heard) > KeepaliveInterval+stallSlack {
		w.s.missed(w.run, w.t, event.Gap{From: w.heard, To: now, Source: event.GapArgoCD, Reason: event.GapStalled})
		w.resumed = true
	}
	w.heard = latest(w.heard, now)
}

func (w *watcher) lastHeard() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heard
}

// stallAfter is the silence after which an SSE stream is stalled: a keepalive is due
// every KeepaliveInterval, and may take a request's time on the way.
func (w *watcher) stallAfter() time.Duration {
	return KeepaliveInterval + w.s.client.timeout
}

// maxBurst bounds the stream events tracked together (one commit): a session's
// snapshot of 10,000 Applications is twenty bursts. With the stream read ahead
// (Client.Watch) bursts are full; bursts of 1,000 raised the peak memory of a first
// sight of 10,000 by 8 MiB (a commit's environments, events and pages at once) for
// no shorter first sight.
const maxBurst = 500

// handle takes one stream event; events already buffered behind it (more) are tracked
// together with it, in one commit: a session's snapshot is one burst.
func (w *watcher) handle(e *WatchEvent, more bool) error {
	defer w.s.client.EventHandled()
	defer w.stats.sessionEvents.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := context.Cause(w.ctx); err != nil {
		return err // ended (a stall, a stream behind): what it still brings is not taken
	}
	w.heardAt(w.s.now())
	w.take(e)
	if !more || len(w.pending) >= maxBurst {
		w.flush()
	}
	if !w.live && len(w.expect) == 0 {
		w.goLive()
	}
	if !more {
		w.caughtUp()
	}
	return nil
}

// take updates the view with one event and queues its observation (w.mu held).
func (w *watcher) take(e *WatchEvent) {
	name := e.Application.Metadata.Name
	if w.seen != nil { // until live
		w.seen[name] = struct{}{}
	}
	if _, ok := w.expect[name]; ok {
		delete(w.expect, name)
		w.progress = time.Now() // the snapshot's timeout runs on the real clock
	}
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
	if w.claims[id].owner != name {
		// Two Applications claiming one environment: the first by name wins, as in a
		// poll (tracker.PollObservations).
		return
	}
	w.pending = append(w.pending, tracker.Observation{EnvironmentID: id, At: w.s.now(), AskedAt: w.asked, App: &ev})
}

// set puts an Application in the view (w.mu held), counting the environment it claims.
func (w *watcher) set(name string, v tracker.ViewApp) {
	if old, ok := w.view[name]; ok {
		w.unclaim(name, old)
	}
	w.view[name] = v
	id := claimed(name, v)
	c := w.claims[id]
	if c.n++; c.owner == "" || name < c.owner {
		c.owner = name
	}
	w.claims[id] = c
	w.changedNow(id)
}

// changedNow notes that environment id's Applications changed in the view (w.mu held).
// Only a live view's evaluations read it: a session goes live by evaluating the whole
// view, so a snapshot of 100,000 Applications leaves nothing here.
func (w *watcher) changedNow(id string) {
	if w.live {
		w.changed[id] = struct{}{}
	}
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
	w.changedNow(id)
	c := w.claims[id]
	if c.n--; c.n <= 0 {
		delete(w.claims, id)
		return
	}
	if c.owner == name {
		// The owner goes: the next by name owns it (rare: two Applications claiming one
		// environment), found in the view, where name is still in place.
		c.owner = ""
		for other, o := range w.view {
			if other != name && claimed(other, o) == id && (c.owner == "" || other < c.owner) {
				c.owner = other
			}
		}
	}
	w.claims[id] = c
}

// Len and Owner are the view as tracker.ViewChanges reads it (w.mu held).
func (w *watcher) Len() int { return len(w.view) }

func (w *watcher) Owner(id string) (string, *tracker.Evidence, bool) {
	c, ok := w.claims[id]
	if !ok {
		return "", nil, false
	}
	return c.owner, w.view[c.owner].Evidence, true
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
	// Tracked or not, their environments are in changed (set): a failed commit or an
	// unread history leaves the evidence in the view for the next evaluation.
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
		at       = map[string]tracker.Observation{} // by Application: its times
		out      []tracker.Observation
	)
	for _, o := range obs {
		if o.App == nil {
			out = append(out, o)
			continue
		}
		evidence = append(evidence, *o.App)
		apps = append(apps, w.refs[o.App.AppName])
		at[o.App.AppName] = o
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
		out = append(out, tracker.Observation{EnvironmentID: id, At: at[ev.AppName].At, AskedAt: at[ev.AppName].AskedAt, App: &ev})
	}
	return out
}

// tick evaluates the view, if it is complete and the stream live, and not stalled: an
// SSE stream silent for longer than stallAfter is ended (a new session follows).
func (w *watcher) tick() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flush()
	if !w.live {
		return nil
	}
	if now := w.s.now(); w.sse && now.Sub(w.heard) > w.stallAfter() {
		level.Warn(w.s.logger).Log("msg", "the Argo CD application stream is stalled: reconnecting",
			"silent_for", now.Sub(w.heard), "bound", w.stallAfter())
		w.live = false
		w.end(errStalled)
		return nil
	}
	return w.evaluate()
}

// evaluate tracks the view as a poll would track a complete list (w.mu held), minus
// what time alone cannot change. A session's first evaluation (until one tracks), and
// one of an empty view (which the empty-list guard must judge), look at every
// Application and environment (tracker.ViewObservations); the others only at what
// changed since the last evaluation and what time can change (tracker.ViewChanges),
// which observes the same.
func (w *watcher) evaluate() error {
	w.s.client.Evaluated()
	at := w.s.now()
	var obs []tracker.Observation
	if w.whole || len(w.view) == 0 {
		var inconclusive bool
		obs, inconclusive = w.t.ViewObservations(w.view, at)
		if inconclusive {
			w.s.client.m.polls.WithLabelValues("inconclusive").Inc()
			level.Warn(w.s.logger).Log("msg", "the Argo CD stream shows no Applications while live environments are tracked; not taken as evidence of deletion")
		}
	} else {
		changed := make([]string, 0, len(w.changed))
		for id := range w.changed {
			changed = append(changed, id)
		}
		obs = w.t.ViewChanges(w, changed, at)
	}
	type looked struct{ id, name string }
	var apps []looked
	for _, o := range obs {
		if o.App != nil {
			apps = append(apps, looked{o.EnvironmentID, o.App.AppName})
		}
	}
	if len(obs) > 0 { // nothing to observe (the idle case) is an evaluation that tracked
		if obs = w.withHistory(obs); obs == nil {
			return nil // the session ended
		}
		if err := w.t.Track(w.run, obs); err != nil {
			return err
		}
		w.taken(obs)
	}
	w.whole = false
	clear(w.changed)
	for _, a := range apps {
		if w.view[a.name].Evidence != nil {
			w.changed[a.id] = struct{}{} // not taken (its history unread): again next time
		}
	}
	w.confirm(at)
	return nil
}

// confirm starts a round of confirmations (w.mu held), unless one runs: each Application
// whose deadline passed on evidence asked for before it (tracker.Due) is read on its
// own, in the background (an evaluation never waits on Argo CD), and what the answer
// shows is tracked with the time it was asked for, which decides the deadline. A read
// that fails leaves the decision waiting for the next evaluation.
func (w *watcher) confirm(at time.Time) {
	if w.inFlight || w.ctx == nil {
		return
	}
	due := w.t.Due(at, maxConfirm)
	if len(due) == 0 {
		return
	}
	refs := make([]HistoryRef, len(due))
	for i, d := range due {
		ref, ok := w.refs[d.AppName]
		if !ok {
			ref = HistoryRef{Name: d.AppName, source: -1}
		}
		refs[i] = ref
	}
	ctx := w.ctx
	w.inFlight = true
	w.confirming.Add(1)
	go func() {
		defer w.confirming.Done()
		answers := w.s.readAll(ctx, refs)
		w.mu.Lock()
		defer w.mu.Unlock()
		defer w.stats.confirmRounds.Add(1)
		w.inFlight = false
		if context.Cause(ctx) != nil {
			return // the session ended: the next one decides
		}
		w.confirmed(ctx, answers)
	}()
}

// confirmed tracks what the confirmations showed (w.mu held), and ends the session when
// one shows what the stream has not (a stream behind: nothing it brings after may be
// taken, for it would be older than what was just tracked).
func (w *watcher) confirmed(ctx context.Context, answers []answer) {
	var (
		obs    []tracker.Observation
		behind bool
		agreed time.Time
	)
	for _, a := range answers {
		if a.err != nil {
			w.s.client.m.confirmations.WithLabelValues("failed").Inc()
			continue
		}
		ev := a.ev
		id := ev.EnvironmentID
		if id == "" {
			id = ev.AppName
		}
		if w.shows(a.ref.Name, id, ev) {
			agreed = latest(agreed, a.asked)
			w.s.client.m.confirmations.WithLabelValues("confirmed").Inc()
		} else {
			behind = true
			w.s.client.m.confirmations.WithLabelValues("behind").Inc()
		}
		obs = append(obs, tracker.Observation{EnvironmentID: id, At: a.at, AskedAt: a.asked, App: &ev})
	}
	if len(obs) == 0 {
		return
	}
	if err := w.t.Track(w.run, obs); err != nil {
		return // not recorded: the next evaluation asks again
	}
	for _, o := range obs {
		if v, ok := w.view[o.App.AppName]; ok && v.Evidence != nil {
			v.Evidence = nil // the tracker holds newer
			w.view[o.App.AppName] = v
		}
	}
	if behind {
		level.Warn(w.s.logger).Log("msg", "Argo CD shows an Application as the application stream has not: reconnecting")
		w.live = false
		w.end(errBehind)
		return
	}
	w.heard = latest(w.heard, agreed)
}

// shows reports whether the view (or, where the view keeps none, the tracker) already
// shows ev for the Application name claiming environment id.
func (w *watcher) shows(name, id string, ev tracker.Evidence) bool {
	v, ok := w.view[name]
	if !ok {
		return false
	}
	if v.Evidence == nil {
		return w.t.Holds(id, ev)
	}
	a, b := *v.Evidence, ev
	a.History, a.HistoryPending, b.History, b.HistoryPending = nil, false, nil, false
	return reflect.DeepEqual(a, b)
}
