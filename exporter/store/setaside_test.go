package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

func TestSetAside(t *testing.T) {
	path := tempPath(t)
	clk := newClock(t0)
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	evs, err := s.Commit(nil, []event.Event{ev("a", event.Created, t0), ev("a", event.Ready, t0), ev("b", event.Created, t0)})
	require.NoError(t, err)

	clk.Set(t0.Add(time.Minute))
	require.NoError(t, s.SetAside("influx", evs[2], "400: field type conflict"))
	require.NoError(t, s.SetAside("influx", evs[0], "400: bad point"))
	require.NoError(t, s.SetAside("influx2", evs[1], "other sink, longer name"))
	clk.Set(t0.Add(2 * time.Minute))
	require.NoError(t, s.SetAside("influx", evs[0], "400: bad point, again")) // replaces

	require.ErrorContains(t, s.SetAside("", evs[0], "x"), "empty sink name")
	require.ErrorContains(t, s.SetAside("influx", ev("a", event.Ready, t0), "x"), "no sequence number")

	check := func(s *Store) {
		t.Helper()
		got, err := s.setAsideEvents("influx")
		require.NoError(t, err)
		require.Equal(t, []SetAsideEntry{
			{Event: evs[0], Reason: "400: bad point, again", At: t0.Add(2 * time.Minute)},
			{Event: evs[2], Reason: "400: field type conflict", At: t0.Add(time.Minute)},
		}, got)
		n, err := s.SetAsideCount("influx")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = s.SetAsideCount("influx2")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = s.SetAsideCount("grafana")
		require.NoError(t, err)
		require.Zero(t, n)
		none, err := s.setAsideEvents("grafana")
		require.NoError(t, err)
		require.Empty(t, none)
	}
	check(s)

	// Durable, and not pruned with the journal.
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.SetAside("influx", evs[1], "x"), ErrClosed)
	_, err = s.setAsideEvents("influx")
	require.ErrorIs(t, err, ErrClosed)
	s = openTest(t, path, clk.Now)
	_, err = s.Prune(t0.Add(time.Hour), nil)
	require.NoError(t, err)
	require.Zero(t, s.Stats().Events)
	check(s)
}

// setAsideEvents returns the events set aside for the sink, in seq order. Set-aside
// entries are not pruned with the journal: they are the only record of what the sink
// never received.
func (s *Store) setAsideEvents(sink string) ([]SetAsideEntry, error) {
	var out []SetAsideEntry
	err := s.forEachSetAside(sink, func(k, v []byte) error {
		var e SetAsideEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("entry %d: %w", decodeSeq(k[len(k)-8:]), err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set-aside events of %s: %w", sink, err)
	}
	return out, nil
}
