// Package journal opens the daemon's journal for the configured store.driver (bbolt:
// exporter/store, one replica; postgres: exporter/store/postgres, shared by every
// replica) and runs what depends on the driver: which replica leads (Lead) and how a
// replica follows the others' commits (Follow). The daemon and the tools see the
// journal only through the interfaces here and those its consumers declare.
package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/ingest"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/retention"
	"github.com/blueberry-idp/envtrack/exporter/sink"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/store/postgres"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/metric"
)

// StoreFile is the name of the embedded (bbolt) journal inside state_dir.
const StoreFile = "envtrack.db"

// Journal is the daemon's journal as its consumers see it, each through the interface
// it declares: the pushes and the tracker's commit (ingest), the sinks' cursors (sink),
// the queries (query), retention, and the daemon's own start-up and landing page.
type Journal interface {
	ingest.Journal // Commit too, the tracker's (tracker.CommitFunc)
	sink.Journal
	query.SeqJournal
	retention.Journal
	query.Gaps // the windows not observed, on the timelines

	Gap(event.Gap) (*event.Gap, error)               // a source's blind window (tracking.Blind)
	Environments() (map[string]tracker.State, error) // the tracker's state at start
	CreatedAt() time.Time                            // tracking began: older evidence is history
	Stats() store.Stats                              // the landing page
	Close() error
}

// Leader is the journal as the leader-only loops write it: the sources' commits (through
// the tracker), the sinks' cursors and set-aside events, retention. With postgres every
// write is fenced by the lease: once another replica leads, it fails and stores nothing.
type Leader interface {
	Commit(states []tracker.State, events []event.Event) ([]event.Event, error)
	Gap(event.Gap) (*event.Gap, error) // the sources' blind windows
	sink.Journal
	retention.Journal
}

// Opened is an open journal and its driver's way of leading and following.
type Opened struct {
	Journal
	pg     *postgres.Store // nil with bbolt
	cfg    config.StoreConfig
	logger log.Logger

	leader prometheus.Gauge
	epoch  prometheus.Gauge
}

// Open opens the journal cfg.Store names (bbolt: in state_dir) and registers its metrics
// with reg.
func Open(cfg *config.Config, logger log.Logger, now func() time.Time, reg prometheus.Registerer) (*Opened, error) {
	o := &Opened{cfg: cfg.Store, logger: logger, leader: metric.Leader.NewGauge(nil), epoch: metric.LeaderEpoch.NewGauge(nil)}
	slog := log.With(logger, "component", "store")
	switch cfg.Store.Driver {
	case config.StorePostgres:
		p := cfg.Store.Postgres
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := postgres.Open(ctx, string(p.DSN), postgres.Options{
			Logger: slog, Now: now, MaxConns: p.MaxConnections,
			LeaseDuration: time.Duration(p.LeaseDuration), RenewInterval: time.Duration(p.RenewInterval),
		})
		if err != nil {
			return nil, err
		}
		o.Journal, o.pg = st, st
		reg.MustRegister(postgres.NewCollector(st))
	default:
		if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
			return nil, fmt.Errorf("state_dir: %w", err)
		}
		st, err := store.Open(filepath.Join(cfg.StateDir, StoreFile), store.Options{Logger: slog, Now: now})
		if err != nil {
			return nil, err
		}
		o.Journal = st
		o.leader.Set(1) // the only replica
		reg.MustRegister(store.NewCollector(st))
	}
	reg.MustRegister(o.leader, o.epoch)
	return o, nil
}

// Share makes t plan from the shared journal's stored states (postgres; nothing with
// bbolt, whose only writer is this process).
func (o *Opened) Share(t *tracker.Tracker) {
	if o.pg != nil {
		t.Share(o.pg)
	}
}

// Pushes returns the journal as the push path writes it: with postgres, one whose
// commit checks the repeats itself (ingest.CheckingJournal), so that a group of pushes
// is one round trip to the database.
func (o *Opened) Pushes() ingest.Journal {
	if o.pg != nil {
		return o.pg
	}
	return o.Journal
}

// Sole returns the journal when this process is its only writer (bbolt), for what may
// run before the daemon listens and before any replica leads; nil with postgres, whose
// leader-only writes go through Lead.
func (o *Opened) Sole() Journal {
	if o.pg != nil {
		return nil
	}
	return o.Journal
}

// Reachable reports whether the journal answers: with postgres, whether the database
// answered within the last lease_duration (the replica follows it every second), so that
// a replica cut off from it stops being ready and its clients go to another; with bbolt,
// always.
func (o *Opened) Reachable() bool {
	return o.pg == nil || o.pg.Reachable(time.Duration(o.cfg.Postgres.LeaseDuration))
}

// Lead runs fn for as long as this replica leads, until ctx ends. With bbolt it leads
// at once and for good. With postgres it takes the lease when no replica holds it, runs
// fn under it with the journal fenced by the lease's epoch, renews it every
// renew_interval, and when the lease is lost (not renewed in time, taken over, or a
// fenced write refused) ends fn's context, waits for fn, and competes again. follower
// is called each time this replica finds another one leading. A clean stop (ctx ends)
// lets fn finish, then releases the lease, so that another replica takes over within a
// renew interval.
func (o *Opened) Lead(ctx context.Context, follower func(), fn func(context.Context, Leader)) {
	if o.pg == nil {
		fn(ctx, o.Journal)
		return
	}
	every := time.Duration(o.cfg.Postgres.RenewInterval)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastHolder := ""
	for ctx.Err() == nil {
		l, info, err := o.pg.Acquire(ctx)
		switch {
		case err != nil:
			level.Warn(o.logger).Log("msg", "leader election: cannot reach the journal", "err", err)
		case l == nil:
			o.leader.Set(0)
			o.epoch.Set(float64(info.Epoch))
			if info.Holder != lastHolder {
				level.Info(o.logger).Log("msg", "following", "leader", info.Holder, "epoch", info.Epoch)
				lastHolder = info.Holder
			}
			follower()
		default:
			lastHolder = ""
			o.term(ctx, l, tick, fn)
			continue // compete again at once: a lost lease is usually taken already
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	o.leader.Set(0)
}

// term runs fn under the lease l until it is lost or ctx ends.
func (o *Opened) term(ctx context.Context, l *postgres.Lease, tick *time.Ticker, fn func(context.Context, Leader)) {
	o.leader.Set(1)
	o.epoch.Set(float64(l.Epoch()))
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(termContext{tctx, l}, o.pg.Fenced(l)) }()
	defer func() { cancel(); <-done; o.leader.Set(0) }()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done // the sinks write their cursors under the lease
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := l.Release(rctx); err != nil {
				level.Warn(o.logger).Log("msg", "lease not released: another replica takes over when it runs out", "err", err)
			}
			rcancel()
			return
		case <-l.Lost():
			return
		case <-tick.C:
			if err := l.Renew(ctx); err != nil && ctx.Err() == nil {
				level.Warn(o.logger).Log("msg", "lease not renewed", "err", err)
			}
		}
	}
}

// Follow keeps t current with what the other replicas commit, until ctx ends: woken by
// their commits, and every poll interval for the commits that appended no event. With
// bbolt it returns at once.
func (o *Opened) Follow(ctx context.Context, t *tracker.Tracker) {
	if o.pg == nil {
		return
	}
	notify, stop := o.pg.SubscribeOthers() // not this replica's commits: nothing to follow
	defer stop()
	tick := time.NewTicker(postgres.DefaultPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-tick.C:
		}
		if _, _, err := t.Follow(); err != nil && ctx.Err() == nil {
			level.Warn(o.logger).Log("msg", "cannot follow the other replicas' commits; retrying", "err", err)
		}
	}
}

// termContext is a term's context: done when the term ends; and since a process stopped
// past its lease (SIGSTOP, a frozen VM) runs on before any timer of its own fires, Err
// also asks the lease, on this machine's monotonic clock. A check of ctx.Err() right
// before a write outside the journal (a sink's request) thus refuses it: the journal's
// own writes are fenced in the database.
type termContext struct {
	context.Context
	l *postgres.Lease
}

func (c termContext) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !c.l.Valid() {
		return context.Canceled
	}
	return nil
}
