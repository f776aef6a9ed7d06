package journal

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/store/postgres"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/event"
)

var t0 = time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// contractJournal is what every driver offers the daemon (Journal) and the tools.
type contractJournal interface {
	Journal
	SetAsideEntries(sink string) ([]store.SetAsideEntry, error)
	Undelivered(sink string) ([]store.SetAsideEntry, error)
	ForgetStates(ids []string) error // readiness.requested_expiry
}

func identity(t *testing.T, e event.Event) event.Fingerprint {
	id, ok := e.Identity()
	require.True(t, ok, "%s has an identity", e.Name)
	return id
}

// driver opens one journal of a driver, again at the same place each time (a restart).
type driver struct {
	name string
	open func(t *testing.T, now func() time.Time) func() contractJournal
}

// drivers are the store.driver values, each with a fresh place for its journal.
func drivers(t *testing.T) []driver {
	var pg *testinfra.Postgres
	return []driver{
		{"bbolt", func(t *testing.T, now func() time.Time) func() contractJournal {
			path := filepath.Join(t.TempDir(), StoreFile)
			return func() contractJournal {
				s, err := store.Open(path, store.Options{Now: now})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
		}},
		{"postgres", func(t *testing.T, now func() time.Time) func() contractJournal {
			if pg == nil {
				pg = testinfra.StartPostgres(t)
			}
			dsn := pg.NewDatabase(t)
			return func() contractJournal {
				s, err := postgres.Open(context.Background(), dsn, postgres.Options{Now: now, NoListen: true})
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
		}},
	}
}

func ev(env string, name event.Name, at time.Time) event.Event {
	return event.Event{EnvironmentID: env, Name: name, Time: at, Source: "argocd"}
}

func seqs(evs []event.Event) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// TestContract runs the journal's contract over every driver: what the daemon's
// consumers rely on must hold whichever store.driver is configured.
func TestContract(t *testing.T) {
	for _, d := range drivers(t) {
		t.Run(d.name, func(t *testing.T) {
			clk := &clock{t: t0}
			open := d.open(t, clk.Now)
			j := open()
			created := j.CreatedAt()
			require.False(t, created.IsZero())
			require.Zero(t, j.LastSeq())
			notify, unsubscribe := j.Subscribe()
			defer unsubscribe()

			// Commit: contiguous sequence numbers in commit order, ids, RecordedAt.
			out, err := j.Commit([]tracker.State{{ID: "old", Phase: tracker.PhaseTerminated, TerminatedAt: t0}},
				[]event.Event{ev("old", event.Created, t0), ev("old", event.Deployed, t0.Add(time.Minute))})
			require.NoError(t, err)
			require.Equal(t, []uint64{1, 2}, seqs(out))
			require.Equal(t, t0, out[0].RecordedAt)
			require.NotEmpty(t, out[0].ID)
			require.NotEqual(t, out[0].ID, out[1].ID)
			select {
			case <-notify:
			case <-time.After(10 * time.Second):
				t.Fatal("no notification after a commit")
			}
			// Idempotency-Keys: recorded with their request's fingerprint at the
			// commit's time, alone or with events.
			fpOld, fpNew := event.Fingerprint{1}, event.Fingerprint{2}
			none, err := j.CommitKeyed(nil, nil, map[string]event.Fingerprint{"old-key": fpOld})
			require.NoError(t, err)
			require.Empty(t, none)
			require.Equal(t, uint64(2), j.LastSeq(), "keys alone append nothing")
			clk.Set(t0.Add(time.Hour))
			out, err = j.Commit([]tracker.State{{ID: "live", Phase: tracker.PhaseReady}},
				[]event.Event{ev("live", event.Created, t0), ev("live", event.Ready, t0.Add(2*time.Minute)), ev("old", event.Deployed, t0.Add(3*time.Minute))})
			require.NoError(t, err)
			require.Equal(t, []uint64{3, 4, 5}, seqs(out))
			require.Equal(t, uint64(5), j.LastSeq())
			require.Equal(t, uint64(1), j.FirstSeq())
			st := j.Stats()
			require.Equal(t, uint64(5), st.Events)
			keyed, err := j.CommitKeyed(nil, []event.Event{ev("live", event.Recovered, t0.Add(4*time.Minute))},
				map[string]event.Fingerprint{"new-key": fpNew})
			require.NoError(t, err)
			require.Equal(t, []uint64{6}, seqs(keyed))
			require.Equal(t, t0.Add(time.Hour), keyed[0].RecordedAt)
			keys, err := j.IdempotencyKeys([]string{"old-key", "new-key", "never"})
			require.NoError(t, err)
			require.Equal(t, map[string]event.Fingerprint{"old-key": fpOld, "new-key": fpNew}, keys)
			_, err = j.CommitKeyed(nil, nil, map[string]event.Fingerprint{"": fpNew})
			require.Error(t, err, "an empty key")

			// Identities: indexed by the commit that stores the event.
			unstored := ev("live", event.Deployed, t0.Add(9*time.Minute))
			ids := []event.Fingerprint{identity(t, ev("old", event.Deployed, t0.Add(time.Minute))), identity(t, out[2]),
				identity(t, keyed[0]), identity(t, unstored)}
			known, err := j.Known(ids)
			require.NoError(t, err)
			require.Equal(t, []bool{true, true, true, false}, known)
			_, err = j.Commit(nil, []event.Event{ev("", event.Created, t0)})
			require.ErrorContains(t, err, "empty environment id")
			require.Equal(t, uint64(6), j.LastSeq(), "a refused commit stored nothing")

			// Reads.
			all, err := j.Events(0, 0)
			require.NoError(t, err)
			require.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, seqs(all))
			require.Equal(t, out[1], all[3], "read back as committed")
			page, err := j.Events(2, 2)
			require.NoError(t, err)
			require.Equal(t, []uint64{3, 4}, seqs(page))
			envEvs, err := j.EnvironmentEvents("old")
			require.NoError(t, err)
			require.Equal(t, []uint64{1, 2, 5}, seqs(envEvs))
			between, err := j.EventsBetween(t0.Add(time.Minute), t0.Add(3*time.Minute))
			require.NoError(t, err)
			require.Equal(t, []uint64{2, 4}, seqs(between))
			states, err := j.Environments()
			require.NoError(t, err)
			require.Len(t, states, 2)
			require.Equal(t, tracker.PhaseReady, states["live"].Phase)

			// Cursors and set-aside events.
			c, err := j.Cursor("influxdb")
			require.NoError(t, err)
			require.Zero(t, c)
			require.NoError(t, j.SetCursor("influxdb", 2))
			require.ErrorContains(t, j.SetCursor("influxdb", 7), "beyond the last event")
			require.ErrorContains(t, j.SetCursor("", 1), "empty sink name")
			j.SaveCursorLazily("grafana", 4)
			c, err = j.Cursor("grafana")
			require.NoError(t, err)
			require.Equal(t, uint64(4), c, "a lazily saved cursor reads back before the flush")
			require.NoError(t, j.FlushCursors())
			require.NoError(t, j.SetAside("grafana", all[2], "400 Bad Request"))
			require.ErrorContains(t, j.SetAside("grafana", ev("x", event.Created, t0), "no"), "no sequence number")
			n, err := j.SetAsideCount("grafana")
			require.NoError(t, err)
			require.Equal(t, 1, n)
			has, err := j.HasCursor("grafana")
			require.NoError(t, err)
			require.True(t, has)
			has, err = j.HasCursor("webhook")
			require.NoError(t, err)
			require.False(t, has, "a sink that never saved a cursor")

			// Set aside past retention.max_undelivered: the entries and the cursor move
			// together.
			require.NoError(t, j.SetAsideUndelivered("webhook", all[2:4], "down for 90d"))
			require.ErrorContains(t, j.SetAsideUndelivered("webhook", []event.Event{{Seq: 7, EnvironmentID: "x"}}, "no"), "beyond the last event")
			n, err = j.UndeliveredCount("webhook")
			require.NoError(t, err)
			require.Equal(t, 2, n)

			// A restart keeps everything.
			require.NoError(t, j.Close())
			_, err = j.Events(0, 0)
			require.ErrorIs(t, err, store.ErrClosed)
			j = open()
			require.Equal(t, created, j.CreatedAt())
			require.Equal(t, uint64(6), j.LastSeq())
			for sink, want := range map[string]uint64{"influxdb": 2, "grafana": 4, "webhook": 4} {
				c, err := j.Cursor(sink)
				require.NoError(t, err)
				require.Equal(t, want, c, sink)
			}
			aside, err := j.SetAsideEntries("grafana")
			require.NoError(t, err)
			require.Len(t, aside, 1)
			require.Equal(t, "400 Bad Request", aside[0].Reason)
			require.Equal(t, uint64(3), aside[0].Event.Seq)
			undelivered, err := j.Undelivered("webhook")
			require.NoError(t, err)
			require.Equal(t, []uint64{3, 4}, []uint64{undelivered[0].Event.Seq, undelivered[1].Event.Seq})
			require.Equal(t, "down for 90d", undelivered[1].Reason)
			keys, err = j.IdempotencyKeys([]string{"old-key", "new-key"})
			require.NoError(t, err)
			require.Len(t, keys, 2, "the keys survive a restart")
			known, err = j.Known(ids)
			require.NoError(t, err)
			require.Equal(t, []bool{true, true, true, false}, known, "so do the identities")

			// Retention never prunes what a named sink has not delivered (one without a
			// cursor has delivered nothing); the keys recorded before the cutoff expire
			// all the same.
			pruned, err := j.Prune(t0.Add(time.Minute), []string{"influxdb", "never-delivered"})
			require.NoError(t, err)
			require.Zero(t, pruned)
			require.Equal(t, uint64(1), j.FirstSeq())
			keys, err = j.IdempotencyKeys([]string{"old-key", "new-key"})
			require.NoError(t, err)
			require.Equal(t, map[string]event.Fingerprint{"new-key": fpNew}, keys, "old-key was recorded at t0")

			// Retention: from the start of the journal only, up to the slowest named
			// sink's cursor (influxdb: 2, though 3 to 6 are older than the cutoff), with
			// the events' identities, and the states of environments terminated before
			// the cutoff.
			pruned, err = j.Prune(t0.Add(2*time.Hour), []string{"influxdb", "grafana"})
			require.NoError(t, err)
			require.Equal(t, 2, pruned)
			require.Equal(t, uint64(3), j.FirstSeq())
			require.Equal(t, uint64(6), j.LastSeq())
			all, err = j.Events(0, 0)
			require.NoError(t, err)
			require.Equal(t, []uint64{3, 4, 5, 6}, seqs(all))
			known, err = j.Known(ids)
			require.NoError(t, err)
			require.Equal(t, []bool{false, true, true, false}, known, "the pruned event's identity left with it")
			keys, err = j.IdempotencyKeys([]string{"new-key"})
			require.NoError(t, err)
			require.Empty(t, keys, "recorded before the cutoff")
			states, err = j.Environments()
			require.NoError(t, err)
			require.Len(t, states, 1)
			require.Contains(t, states, "live")
			out, err = j.Commit(nil, []event.Event{ev("live", event.Deployed, t0)})
			require.NoError(t, err)
			require.Equal(t, []uint64{7}, seqs(out), "sequence numbers never go back")

			// readiness.requested_expiry forgets states, for good.
			require.NoError(t, j.ForgetStates([]string{"live", "never-stored"}))
			states, err = j.Environments()
			require.NoError(t, err)
			require.Empty(t, states)
		})
	}
}

// TestContractGaps: the sources' blind windows (event.Gap) behave alike on every driver:
// an open window survives a restart and keeps its start and reason, closing it journals
// one entry that belongs to no environment, Gaps reads by overlap in bbolt's order, and
// retention prunes the closed windows that ended before its cutoff.
func TestContractGaps(t *testing.T) {
	for _, d := range drivers(t) {
		t.Run(d.name, func(t *testing.T) {
			clk := &clock{t: t0}
			open := d.open(t, clk.Now)
			j := open()
			sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
			argo := func(from, to int, reason string) event.Gap {
				g := event.Gap{From: sec(from), Source: event.GapArgoCD, Reason: reason}
				if to >= 0 {
					g.To = sec(to)
				}
				return g
			}
			probe := event.Gap{From: sec(5), To: sec(500), Source: event.GapProbe, Reason: "down"}

			_, err := j.Gap(event.Gap{Source: "bad\x00source", From: sec(1), To: sec(2)})
			require.Error(t, err)
			closed, err := j.Gap(event.Gap{From: sec(1).Add(200 * time.Millisecond), To: sec(1).Add(900 * time.Millisecond), Source: event.GapArgoCD, Reason: "broken"})
			require.NoError(t, err)
			require.Nil(t, closed, "shorter than a second")
			closed, err = j.Gap(argo(10, 16, event.GapTruncated))
			require.NoError(t, err)
			require.Equal(t, argo(10, 16, event.GapTruncated), *closed, "never opened: recorded as given")

			_, err = j.Gap(argo(100, -1, event.GapStalled))
			require.NoError(t, err)
			_, err = j.Gap(argo(105, -1, event.GapRefused))
			require.NoError(t, err)
			gaps, err := j.Gaps(sec(0), sec(1000))
			require.NoError(t, err)
			require.Equal(t, []event.Gap{argo(10, 16, event.GapTruncated), argo(100, -1, event.GapStalled)}, gaps)

			// A restart in the window: the new process continues it and closes it.
			require.NoError(t, j.Close())
			j = open()
			clk.Set(sec(130))
			_, err = j.Gap(argo(125, -1, event.GapUnreachable))
			require.NoError(t, err)
			closed, err = j.Gap(event.Gap{From: sec(125), To: sec(130), Source: event.GapArgoCD, Reason: event.GapUnreachable})
			require.NoError(t, err)
			require.Equal(t, argo(100, 130, event.GapStalled), *closed)

			evs, err := j.Events(0, 0)
			require.NoError(t, err)
			require.Len(t, evs, 2)
			e := evs[1]
			require.True(t, e.IsGap())
			require.False(t, e.IsLifecycle())
			require.Equal(t, argo(100, 130, event.GapStalled), e.Gap())
			require.Equal(t, uint64(2), e.Seq)
			require.Equal(t, sec(130), e.RecordedAt)
			require.Equal(t, uint64(2), j.LastSeq())
			envEvs, err := j.EnvironmentEvents("argocd")
			require.NoError(t, err)
			require.Empty(t, envEvs)

			_, err = j.Gap(probe)
			require.NoError(t, err)
			_, err = j.Gap(argo(200, -1, event.GapRefused))
			require.NoError(t, err)
			for _, tc := range []struct {
				from, to int
				want     []event.Gap
			}{
				{0, 9, []event.Gap{probe}},
				{16, 99, []event.Gap{argo(10, 16, event.GapTruncated), probe}},
				{131, 150, []event.Gap{probe}},
				{600, 700, []event.Gap{argo(200, -1, event.GapRefused)}},
				{17, 99, []event.Gap{probe}},
			} {
				got, err := j.Gaps(sec(tc.from), sec(tc.to))
				require.NoError(t, err)
				require.Equal(t, tc.want, got, "[%d, %d]", tc.from, tc.to)
			}

			// Retention: closed windows that ended before the cutoff go; the open one stays.
			clk.Set(sec(10000))
			_, err = j.Prune(sec(140), nil)
			require.NoError(t, err)
			got, err := j.Gaps(sec(0), sec(10000))
			require.NoError(t, err)
			require.Equal(t, []event.Gap{argo(200, -1, event.GapRefused), probe}, got)
		})
	}
}
