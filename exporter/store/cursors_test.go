package store

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

func TestLazyCursors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "envtrack.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ev := func(n int) []event.Event {
		out := make([]event.Event, n)
		for i := range out {
			out[i] = event.Event{EnvironmentID: "env-1", Name: event.Deployed, Time: t0}
		}
		return out
	}
	_, err = s.Commit(nil, ev(10))
	require.NoError(t, err)
	require.NoError(t, s.SetCursor("influx", 2))

	saved := func(sink string) uint64 {
		t.Helper()
		c, err := s.savedCursor(sink)
		require.NoError(t, err)
		return c
	}
	cursor := func(sink string) uint64 {
		t.Helper()
		c, err := s.Cursor(sink)
		require.NoError(t, err)
		return c
	}

	// In memory only: seen at once, not yet on disk.
	s.SaveCursorLazily("influx", 5)
	s.SaveCursorLazily("grafana", 3)
	require.Equal(t, uint64(5), cursor("influx"))
	require.Equal(t, uint64(2), saved("influx"))
	all, err := s.cursors()
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"influx": 5, "grafana": 3}, all)

	// The next journal commit carries them, in its own transaction.
	_, err = s.Commit(nil, ev(1))
	require.NoError(t, err)
	require.Equal(t, uint64(5), saved("influx"))
	require.Equal(t, uint64(3), saved("grafana"))

	// Or FlushCursors, when no commit comes.
	s.SaveCursorLazily("influx", 8)
	require.NoError(t, s.FlushCursors())
	require.Equal(t, uint64(8), saved("influx"))
	require.NoError(t, s.FlushCursors(), "nothing pending: a no-op")

	// A durable SetCursor (a replay) replaces a pending one.
	s.SaveCursorLazily("influx", 9)
	require.NoError(t, s.SetCursor("influx", 4))
	require.Equal(t, uint64(4), cursor("influx"))
	_, err = s.Commit(nil, ev(1))
	require.NoError(t, err)
	require.Equal(t, uint64(4), saved("influx"))

	// Close writes what is pending.
	s.SaveCursorLazily("grafana", 11)
	require.NoError(t, s.Close())
	s, err = Open(path, Options{NoSync: true})
	require.NoError(t, err)
	require.Equal(t, uint64(11), saved("grafana"))
}

// TestHasCursor: a cursor at 0 is a cursor; a lazily saved one counts; an unknown sink
// has none.
func TestHasCursor(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "envtrack.db"), Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	has := func(sink string) bool {
		t.Helper()
		ok, err := s.HasCursor(sink)
		require.NoError(t, err)
		return ok
	}
	require.False(t, has("webhook:ci"))
	require.NoError(t, s.SetCursor("webhook:ci", 0))
	require.True(t, has("webhook:ci"))
	s.SaveCursorLazily("webhook:chat", 0)
	require.True(t, has("webhook:chat"))
	require.False(t, has("influxdb"))
}
