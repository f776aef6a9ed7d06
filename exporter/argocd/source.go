package argocd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/backoff"
	"github.com/blueberry-idp/envtrack/exporter/clock"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Tracker is the tracking side as the source needs it (the daemon wires the tracker and
// the journal behind it): where observations go, and what the tracker already holds, so
// that unchanged Applications cost nothing and absences are decided against its states.
type Tracker interface {
	// Track records the observations (and the events their transitions emit) durably.
	// An error means they were not recorded: the next answer derives them again.
	Track(ctx context.Context, obs []tracker.Observation) error
	// Polled says that the source finished its first look at Argo CD (a poll, answered
	// or not, or a watch whose view became complete): the daemon is ready.
	Polled()

	// Blind records durably a window in which the source could not see Argo CD: open
	// while g.To is zero (one already open keeps its start, even one a previous process
	// left), closed when it is set, which makes it a gap of the timelines and an
	// annotation.
	Blind(ctx context.Context, g event.Gap) error
	// Due lists the environments whose deadline passed on evidence asked for before it:
	// the source reads each Application on its own to confirm (tracker.Tracker.Due).
	Due(at time.Time, max int) []tracker.Due

	Holds(id string, ev tracker.Evidence) bool
	Get(id string) (tracker.State, bool)
	NeedsHistory(evidence []tracker.Evidence) []bool
	PollObservations(evidence []tracker.Evidence, at time.Time) (obs []tracker.Observation, inconclusive bool)
	ViewObservations(view map[string]tracker.ViewApp, at time.Time) (obs []tracker.Observation, inconclusive bool)
	ViewChanges(v tracker.View, changed []string, at time.Time) []tracker.Observation
}

// Clock is the time the source lives on: Now stamps observations, Sleep waits between
// two polls (the interval, or a retry's backoff), Every paces the evaluations of the
// watch's view. who names the waiting loop (loopPoll, loopView). exporter/clock.Real is
// the real one; tests step a played one.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, who string, d time.Duration) bool
	Every(ctx context.Context, who string, d time.Duration, f func())
}

// Source follows the Argo CD Applications of one argocd section and hands what they
// show to a Tracker, as a Prometheus discoverer hands target groups to its manager: it
// owns its loop (Run), in the section's mode. A reload builds a new Source.
type Source struct {
	cfg     config.ArgoCDConfig
	client  *Client
	mapping Mapping
	logger  log.Logger
	clock   Clock
	listed  atomic.Int64 // Applications in the last poll's list (a capacity hint)
	sight   sight        // whether the source sees Argo CD (blind.go)
	// reads bounds the single-Application reads in flight (histories, confirmations):
	// argocd.history_concurrency.
	reads chan struct{}
}

// Names of the source's loops on its Clock.
const (
	loopPoll = "argocd"      // the polls
	loopView = "argocd view" // the evaluations of the watch's view
)

// New builds the source of the validated argocd section cfg: its client (which reads the
// CA file now, so that a bad configuration fails at start or reload, not at the first
// poll) and its mapping. Metrics are registered on reg (nil: not registered); registering
// twice on one registry reuses the collectors.
func New(cfg config.ArgoCDConfig, opts Options, logger log.Logger, reg prometheus.Registerer) (*Source, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real{NowFunc: opts.Now}
	}
	c, err := newClient(cfg, opts, clk, logger, reg)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, client: c, mapping: newMapping(cfg, c.m.badAnnotations), logger: logger, clock: clk,
		reads: make(chan struct{}, max(cfg.HistoryConcurrency, 1))}, nil
}

func (s *Source) now() time.Time { return s.clock.Now() }

// Run follows Argo CD until ctx ends: it polls every poll_interval (argocd.mode: poll),
// or watches the application stream, falling back to polling while the stream is
// unusable (watch).
func (s *Source) Run(ctx context.Context, t Tracker) {
	if s.cfg.Mode == config.ArgoCDModePoll {
		s.pollLoop(ctx, t)
		return
	}
	s.watchLoop(ctx, s.newWatcher(ctx, t), false)
}

// pollLoop polls every poll_interval; after an error it retries sooner, with capped
// exponential backoff and jitter (pollRetryWait), never later than one interval.
func (s *Source) pollLoop(ctx context.Context, t Tracker) {
	interval, initial := time.Duration(s.cfg.PollInterval), time.Duration(s.cfg.Backoff.Initial)
	b := backoff.New(initial, time.Duration(s.cfg.Backoff.Max), rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)))
	var o outage
	retry(ctx, func(ctx context.Context, d time.Duration) bool { return s.clock.Sleep(ctx, loopPoll, d) }, func(ctx context.Context) time.Duration {
		err := s.poll(ctx, t)
		switch {
		case ctx.Err() != nil:
			return 0
		case err != nil:
			o.failed(s.logger, "poll", err)
			return pollRetryWait(interval, initial, b)
		}
		o.answered(s.logger)
		b.Reset()
		return interval
	})
}

// pollRetryWait is how long the poller waits after a failed Argo CD call. Backoff
// protects Argo CD from a flood of retries, not envtrack from seeing: the wait grows
// from backoff.initial but never beyond the poll interval, so tracking resumes within
// one poll interval of Argo CD answering again (a 6 s fault used to leave envtrack
// blind for 13 s and more). It is never below initial, whatever the jitter draws.
func pollRetryWait(interval, initial time.Duration, b *backoff.Backoff) time.Duration {
	return min(interval, max(initial, b.Next()))
}

// retry runs attempt until ctx ends, sleeping between two attempts what the last one
// returned (nothing when it returned 0). The poll loop and the watch loop both run in
// it; each decides its own wait, and sleeps on its own clock: the polls on the source's,
// the reconnections of the stream on the real one.
func retry(ctx context.Context, sleep func(context.Context, time.Duration) bool, attempt func(context.Context) time.Duration) {
	for wait := time.Duration(0); sleep(ctx, wait); {
		wait = attempt(ctx)
	}
}

// outage says when the source goes blind and when it sees again, once each: while
// Argo CD does not answer, no environment changes (nothing is tracked from it).
type outage struct{ failing bool }

func (o *outage) failed(logger log.Logger, op string, err error) {
	if !o.failing {
		level.Error(logger).Log("msg", fmt.Sprintf("Argo CD %s failed; no environment changes until it answers", op), "err", err)
	} else {
		level.Debug(logger).Log("msg", fmt.Sprintf("Argo CD %s failed again", op), "err", err)
	}
	o.failing = true
}

func (o *outage) answered(logger log.Logger) {
	if o.failing {
		level.Info(logger).Log("msg", "Argo CD answers again; tracking resumed")
	}
	o.failing = false
}

// poll lists the Applications once and tracks what the answer shows. A failed,
// timed-out, truncated or non-JSON answer changes nothing: the source is blind from the
// time it asked until an answer comes.
func (s *Source) poll(ctx context.Context, t Tracker) (err error) {
	defer t.Polled()
	asked := s.now() // the answer shows Argo CD at or after it
	defer func() {
		switch {
		case ctx.Err() != nil:
		case err != nil:
			s.blind(ctx, t, err, asked)
		default:
			s.seeing(ctx, t, asked)
		}
	}()
	// Item by item: only the evidence of each Application is kept, never the answer
	// (and, for reading histories, its HistoryRef).
	n := int(s.listed.Load()) // last time's count: no regrowing of 10,000-item slices
	var (
		evidence = make([]tracker.Evidence, 0, n)
		apps     = make([]HistoryRef, 0, n)
	)
	_, err = s.client.Each(ctx, func(app *Application) error {
		evidence = append(evidence, s.mapping.Evidence(*app))
		apps = append(apps, RefOf(app))
		return nil
	})
	if err != nil {
		s.client.m.polls.WithLabelValues("error").Inc()
		return err
	}
	s.listed.Store(int64(len(evidence)))
	at := s.now()
	if evidence, err = s.readHistory(ctx, t, apps, evidence); err != nil {
		return err
	}
	return s.trackListed(ctx, t, evidence, asked, at)
}

// trackListed tracks what a complete list of the Applications, asked for at asked,
// shows at at.
func (s *Source) trackListed(ctx context.Context, t Tracker, evidence []tracker.Evidence, asked, at time.Time) error {
	obs, inconclusive := t.PollObservations(evidence, at)
	for i := range obs {
		obs[i].AskedAt = asked
	}
	if inconclusive {
		s.client.m.polls.WithLabelValues("inconclusive").Inc()
		level.Warn(s.logger).Log("msg", "Argo CD listed no Applications while live environments are tracked; not taken as evidence of deletion")
	} else {
		s.client.m.polls.WithLabelValues("success").Inc()
	}
	return t.Track(ctx, obs)
}
