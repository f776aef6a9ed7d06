package query

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/event"
)

// memJournal is a journal in memory: events in seq order, a prefix pruned.
type memJournal struct {
	evs   []event.Event
	first uint64
}

func (m *memJournal) add(e event.Event) {
	e.Seq = uint64(len(m.evs) + 1)
	m.evs = append(m.evs, e)
}

func (m *memJournal) held() []event.Event {
	var out []event.Event
	for _, e := range m.evs {
		if e.Seq >= m.first {
			out = append(out, e)
		}
	}
	return out
}

func (m *memJournal) EnvironmentEvents(id string) ([]event.Event, error) {
	var out []event.Event
	for _, e := range m.held() {
		if e.EnvironmentID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memJournal) EventsBetween(from, to time.Time) ([]event.Event, error) {
	var out []event.Event
	for _, e := range m.held() {
		if !e.Time.Before(from) && e.Time.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memJournal) Events(after uint64, limit int) ([]event.Event, error) {
	var out []event.Event
	for _, e := range m.held() {
		if e.Seq > after && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memJournal) FirstSeq() uint64 { return max(m.first, 1) }

// TestCachedJournal: the cache answers Range and Performance exactly as the journal
// does, after appends (read incrementally, out of time order too) and after pruning.
func TestCachedJournal(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	j := &memJournal{}
	cached := NewCachedJournal(j)
	plain := NewJournalBackend(j)
	ctx := context.Background()
	targets := config.TargetsConfig{
		ProvisioningP50: config.DurationTarget{Target: model.Duration(time.Minute), Alert: model.Duration(2 * time.Minute)},
		ProvisioningP95: config.DurationTarget{Target: model.Duration(3 * time.Minute), Alert: model.Duration(4 * time.Minute)},
		SuccessRate:     config.RateTarget{Target: 98, Alert: 95}}
	now := func() time.Time { return t0.Add(48 * time.Hour) }
	check := func() {
		t.Helper()
		names := []event.Name{event.Ready, event.ProvisioningFailed, event.ProvisioningStarted, event.Terminated}
		for _, typ := range []string{"", "preview"} {
			want, err := plain.Range(ctx, t0, now(), typ, names...)
			require.NoError(t, err)
			got, err := cached.Range(ctx, t0, now(), typ, names...)
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.Equal(t, want[i].Seq, got[i].Seq)
				require.Equal(t, want[i].Time, got[i].Time)
			}
			pw, err := NewService(plain, targets, now).Performance(ctx, 48*time.Hour, "48h", typ)
			require.NoError(t, err)
			pc, err := NewService(cached, targets, now).Performance(ctx, 48*time.Hour, "48h", typ)
			require.NoError(t, err)
			require.Equal(t, pw, pc)
		}
	}
	add := func(i int, late bool) {
		typ := []string{"preview", "feature"}[i%2]
		id := "env-" + string(rune('a'+i%26))
		start := t0.Add(time.Duration(i) * time.Hour)
		j.add(event.Event{EnvironmentID: id, Type: typ, Name: event.ProvisioningStarted, Time: start, EnvironmentName: "x", Metadata: map[string]any{"queue_duration_seconds": 3.0}})
		meta := map[string]any{"provisioning_duration_seconds": float64(30 + 17*i), "readiness_summary": "dropped from the cache"}
		if late {
			meta["late"] = true
		}
		if i%5 == 4 {
			j.add(event.Event{EnvironmentID: id, Type: typ, Name: event.ProvisioningFailed, Time: start.Add(time.Minute), Metadata: map[string]any{"reason": "timeout"}})
		} else {
			j.add(event.Event{EnvironmentID: id, Type: typ, Name: event.Ready, Time: start.Add(time.Duration(30+17*i) * time.Second), Metadata: meta})
		}
		j.add(event.Event{EnvironmentID: id, Name: event.Deployed, Time: start.Add(10 * time.Minute), Metadata: map[string]any{"kind": event.KindDeployment, "activity": "a"}})
	}
	for i := range 10 {
		add(i, false)
	}
	check()
	for i := 30; i > 20; i-- { // evidence arriving out of time order
		add(i, i == 25)
	}
	check()
	j.first = 7 // retention pruned the oldest
	check()
	ms, err := cached.Markers(ctx, t0, now())
	require.NoError(t, err)
	require.Len(t, ms, 20-2) // two of the markers were pruned
}

// TestCachedJournalWindowsAreStable: a window handed out without a copy keeps its
// contents when later refreshes append (out of time order too) and prune.
func TestCachedJournalWindowsAreStable(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	j := &memJournal{}
	c := NewCachedJournal(j)
	ctx := context.Background()
	for i := range 5 {
		j.add(event.Event{EnvironmentID: "e", Name: event.Ready, Time: t0.Add(time.Duration(i) * time.Hour), Metadata: map[string]any{"provisioning_duration_seconds": float64(i)}})
		j.add(event.Event{EnvironmentID: "e", Name: event.Deployed, Time: t0.Add(time.Duration(i) * time.Hour), Metadata: map[string]any{"kind": event.KindDeployment}})
	}
	end := t0.Add(24 * time.Hour)
	fs, err := c.facts(ctx, t0, end)
	require.NoError(t, err)
	ms, err := c.Markers(ctx, t0, end)
	require.NoError(t, err)
	wantF, wantM := slices.Clone(fs), slices.Clone(ms)
	require.Len(t, wantF, 5)
	require.Len(t, wantM, 5)
	// Earlier than everything cached: the refresh must sort. Few enough that they fit in
	// the cache's spare capacity, where an in-place sort would move the handed-out facts.
	for i := range 3 {
		j.add(event.Event{EnvironmentID: "f", Name: event.Ready, Time: t0.Add(-time.Duration(i+1) * time.Minute), Metadata: map[string]any{"provisioning_duration_seconds": 9.0}})
		j.add(event.Event{EnvironmentID: "f", Name: event.Deployed, Time: t0.Add(time.Duration(i)*time.Hour + time.Minute), Metadata: map[string]any{"kind": event.KindDeployment}})
	}
	got, err := c.facts(ctx, t0.Add(-time.Hour), end)
	require.NoError(t, err)
	require.Len(t, got, 8)
	require.True(t, slices.IsSortedFunc(got, func(a, b fact) int { return a.Time.Compare(b.Time) }))
	j.first = 4
	_, err = c.Markers(ctx, t0, end)
	require.NoError(t, err)
	require.Equal(t, wantF, fs)
	require.Equal(t, wantM, ms)
}
