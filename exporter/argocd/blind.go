package argocd

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/model/event"
)

// sight is whether the source sees Argo CD. Each window in which it does not (a stream
// refused, broken, cut or stalled until the next session is live; a list failing until
// one answers) is recorded through the Tracker (Blind): opened durably when it begins,
// so that one a crash leaves open is continued by the next process, and closed when the
// source sees again, which makes it a gap of the timelines and a region annotation. Its
// seconds count in envtrack_argocd_blind_seconds_total.
type sight struct {
	mu      sync.Mutex
	started bool      // the source has seen or missed Argo CD once
	blind   bool      // it does not see Argo CD now
	gap     event.Gap // the window, while blind
	counted time.Time // until when its seconds are counted
}

// blind says that the source does not see Argo CD since from, for err (a window already
// open keeps its start and reason).
func (s *Source) blind(ctx context.Context, t Tracker, err error, from time.Time) {
	s.sight.mu.Lock()
	defer s.sight.mu.Unlock()
	s.sight.started = true
	if s.sight.blind {
		s.countBlindLocked(s.now())
		return
	}
	from = from.UTC().Truncate(time.Second)
	s.sight.blind = true
	s.sight.gap = event.Gap{From: from, Source: event.GapArgoCD, Reason: gapReason(err)}
	s.sight.counted = from
	s.countBlindLocked(s.now())
	if err := t.Blind(ctx, s.sight.gap); err != nil {
		level.Error(s.logger).Log("msg", "recording that Argo CD cannot be seen failed; it is recorded when it ends", "err", err)
	}
}

// seeing says that the source sees Argo CD as an answer asked for at at shows it: an
// open window closes there. The first time, it closes a window a previous process may
// have left open.
func (s *Source) seeing(ctx context.Context, t Tracker, at time.Time) {
	s.sight.mu.Lock()
	defer s.sight.mu.Unlock()
	at = at.UTC().Truncate(time.Second)
	first := !s.sight.started
	s.sight.started = true
	if !s.sight.blind && !first {
		return
	}
	g := event.Gap{From: at, To: at, Source: event.GapArgoCD}
	if s.sight.blind {
		s.countBlindLocked(at)
		g = s.sight.gap
		g.To = latest(at, g.From)
	}
	if err := t.Blind(ctx, g); err != nil {
		level.Error(s.logger).Log("msg", "recording a window in which Argo CD could not be seen failed", "err", err,
			"from", g.From.Format(time.RFC3339), "to", g.To.Format(time.RFC3339))
		return // still blind as far as the record goes: the next answer closes it
	}
	s.sight.blind = false
}

// missed records a window the source noticed only once it had ended (a stream that
// held everything, then delivered it): it did not see Argo CD in g.
func (s *Source) missed(ctx context.Context, t Tracker, g event.Gap) {
	s.sight.mu.Lock()
	defer s.sight.mu.Unlock()
	if s.sight.blind {
		return // inside a window already recorded
	}
	g.From, g.To = g.From.UTC().Truncate(time.Second), g.To.UTC().Truncate(time.Second)
	s.client.m.blindSeconds.Add(g.To.Sub(g.From).Seconds())
	if err := t.Blind(ctx, g); err != nil {
		level.Error(s.logger).Log("msg", "recording a window in which Argo CD could not be seen failed", "err", err,
			"from", g.From.Format(time.RFC3339), "to", g.To.Format(time.RFC3339))
	}
}

// countBlindLocked counts the blind seconds up to now (s.sight.mu held).
func (s *Source) countBlindLocked(now time.Time) {
	if !s.sight.blind || !now.After(s.sight.counted) {
		return
	}
	s.client.m.blindSeconds.Add(now.Sub(s.sight.counted).Seconds())
	s.sight.counted = now
}

// gapReason is why the source could not see Argo CD, in one word (event.Gap*).
func gapReason(err error) string {
	var (
		ae *APIError
		re *ResponseError
	)
	switch {
	case errors.Is(err, errStalled), errors.Is(err, errBehind), errors.Is(err, errBuffered):
		return event.GapStalled
	case errors.Is(err, io.EOF):
		return event.GapEnded
	case errors.Is(err, io.ErrUnexpectedEOF):
		return event.GapTruncated
	case errors.As(err, &ae):
		return event.GapRefused
	case errors.As(err, &re):
		return event.GapUnusable
	}
	return event.GapUnreachable
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
