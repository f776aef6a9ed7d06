package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5"
)

// ErrNotLeader is returned by a fenced write when this replica no longer holds the
// lease at the epoch it writes under: another replica took over (this one was stopped,
// or cut off from the database, past its lease), or the lease ran out. Nothing of the
// write is stored.
var ErrNotLeader = errors.New("not the leader: the lease ran out or another replica holds it")

// fenceSQL locks the lease row in share mode for the rest of the transaction, if it is
// still held by $1 at epoch $2: a takeover (an UPDATE of the row) waits for the writes
// that passed this check, and the writes that come after it fail it.
const fenceSQL = `SELECT 1 FROM envtrack_leader
	WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp() FOR SHARE`

// Lease is this replica's term as the leader. It is valid until the database's lease
// would run out, as measured on this machine's monotonic clock from the moment the
// last successful renewal was sent (never later than the database's own expiry), less
// a margin; once invalid it stays lost, and the replica must Acquire a new term.
type Lease struct {
	s     *Store
	epoch int64
	d     time.Duration // lease_duration
	lost  chan struct{}

	mu         sync.Mutex
	validUntil time.Time
	reason     string
	watchdog   *time.Timer
}

// LeaseInfo is the lease as stored.
type LeaseInfo struct {
	Holder    string
	Epoch     int64
	ExpiresAt time.Time // the database's clock
}

// Acquire takes the lease if no replica holds it (never held, released, or expired by
// the database's clock), as a new term with the next epoch. It returns nil, and the
// lease as stored, when another replica holds it.
func (s *Store) Acquire(ctx context.Context) (*Lease, LeaseInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RenewInterval)
	defer cancel()
	sent := time.Now()
	var info LeaseInfo
	err := s.pool.QueryRow(ctx, `UPDATE envtrack_leader
		SET holder = $1, epoch = epoch + 1, expires_at = clock_timestamp() + $2 * interval '1 millisecond', acquired_at = clock_timestamp()
		WHERE id = 1 AND expires_at <= clock_timestamp() RETURNING holder, epoch, expires_at`,
		s.holder, s.opts.LeaseDuration.Milliseconds()).Scan(&info.Holder, &info.Epoch, &info.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		info, err := s.LeaseInfo(ctx)
		return nil, info, err
	}
	if err != nil {
		return nil, LeaseInfo{}, fmt.Errorf("acquire lease: %w", s.mapErr(err))
	}
	s.contact()
	l := &Lease{s: s, epoch: info.Epoch, d: s.opts.LeaseDuration, lost: make(chan struct{})}
	l.extend(sent)
	level.Info(s.logger).Log("msg", "leader: lease acquired", "epoch", info.Epoch, "holder", s.holder,
		"lease_duration", s.opts.LeaseDuration)
	return l, info, nil
}

// LeaseInfo reads the lease as stored.
func (s *Store) LeaseInfo(ctx context.Context) (LeaseInfo, error) {
	var info LeaseInfo
	err := s.pool.QueryRow(ctx, "SELECT holder, epoch, expires_at FROM envtrack_leader WHERE id = 1").
		Scan(&info.Holder, &info.Epoch, &info.ExpiresAt)
	if err != nil {
		return LeaseInfo{}, fmt.Errorf("read lease: %w", s.mapErr(err))
	}
	s.contact()
	return info, nil
}

// Epoch is the term's fencing epoch.
func (l *Lease) Epoch() int64 { return l.epoch }

// Lost is closed when the term ends: not renewed in time, taken, refused by a fenced
// write, or released.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Reason says why the term ended ("" while it lasts).
func (l *Lease) Reason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

// Valid reports whether the term still holds by this machine's clock. A process that
// was stopped past its lease finds it invalid as soon as it runs again, before any
// timer of its own fired.
func (l *Lease) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason == "" && time.Now().Before(l.validUntil)
}

// check is Valid as an error, losing the term when it ran out.
func (l *Lease) check() error {
	if l.Valid() {
		return nil
	}
	l.lose("not renewed within the lease")
	return ErrNotLeader
}

// Deadline is when the term runs out by this machine's clock unless renewed.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil
}

// margin is how much earlier than the database the replica considers its lease gone:
// room for the difference of two clocks' rates and for a write that passed its check.
func (l *Lease) margin() time.Duration { return min(l.d/10, time.Second) }

// extend makes the term valid until sent + lease_duration - margin, and arms the
// watchdog that ends it then unless renewed.
func (l *Lease) extend(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reason != "" {
		return
	}
	l.validUntil = sent.Add(l.d - l.margin())
	if l.watchdog != nil {
		l.watchdog.Stop()
	}
	l.watchdog = time.AfterFunc(time.Until(l.validUntil), func() {
		if !l.Valid() {
			l.lose("not renewed within the lease")
		}
	})
}

// lose ends the term (once) and says why.
func (l *Lease) lose(why string) {
	l.mu.Lock()
	if l.reason != "" {
		l.mu.Unlock()
		return
	}
	l.reason = why
	if l.watchdog != nil {
		l.watchdog.Stop()
	}
	l.mu.Unlock()
	close(l.lost)
	level.Warn(l.s.logger).Log("msg", "leader: stepping down", "epoch", l.epoch, "reason", why)
}

// Renew extends the term by lease_duration, by the database's clock, if it is still
// this replica's. ErrNotLeader (the term is lost) when another replica holds the lease
// or it ran out meanwhile; any other error leaves the term as it was (the watchdog ends
// it if no renewal succeeds in time).
func (l *Lease) Renew(ctx context.Context) error {
	if err := l.check(); err != nil {
		return err
	}
	s := l.s
	ctx, cancel := context.WithTimeout(ctx, time.Until(l.Deadline()))
	defer cancel()
	sent := time.Now()
	tag, err := s.pool.Exec(ctx, `UPDATE envtrack_leader SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp()`,
		s.holder, l.epoch, l.d.Milliseconds())
	if err != nil {
		return fmt.Errorf("renew lease: %w", s.mapErr(err))
	}
	s.contact()
	if tag.RowsAffected() == 0 {
		l.lose("the lease ran out or another replica took it")
		return ErrNotLeader
	}
	l.extend(sent)
	return nil
}

// Release gives the lease up at once (a clean stop), so that another replica takes
// over within one renew interval rather than a whole lease.
func (l *Lease) Release(ctx context.Context) error {
	l.lose("released")
	s := l.s
	ctx, cancel := context.WithTimeout(ctx, s.opts.RenewInterval)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE envtrack_leader SET expires_at = clock_timestamp()
		WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp()`, s.holder, l.epoch)
	if err != nil {
		return fmt.Errorf("release lease: %w", s.mapErr(err))
	}
	return nil
}

// fencedTx runs fn in a transaction that first checks the term (nil: no check). A
// term refused by the database is lost.
func (s *Store) fencedTx(ctx context.Context, l *Lease, fn func(pgx.Tx) error) error {
	if l != nil {
		if err := l.check(); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if l != nil {
			var one int
			switch err := tx.QueryRow(ctx, fenceSQL, s.holder, l.epoch).Scan(&one); {
			case errors.Is(err, pgx.ErrNoRows):
				return ErrNotLeader
			case err != nil:
				return err
			}
		}
		return fn(tx)
	})
	if errors.Is(err, ErrNotLeader) && l != nil {
		l.lose("a write found the lease taken")
	}
	if err == nil {
		s.contact()
	}
	return s.mapErr(err)
}
