package store

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// mappedKiB is how much of the file at path this process holds resident through its
// memory maps (the Rss lines of /proc/self/smaps for that file).
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(line, " "+path)
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			total += kb
		}
	}
	require.NoError(t, sc.Err())
	return total
}

// TestLongReadsReleaseMappedPages: the start-up check, loading every state, scanning the
// journal and a long run of commits leave at most a few pages of the file resident
// (issue 9: peak RSS at 10,000 environments), and every read still sees the data.
func TestLongReadsReleaseMappedPages(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	const envs, events = 3000, 12000
	for i := 0; i < events; i += 1000 {
		var sts []tracker.State
		var evs []event.Event
		for j := i; j < i+1000; j++ {
			id := "env-" + strconv.Itoa(j%envs)
			sts = append(sts, tracker.State{ID: id, Phase: tracker.PhaseReady, Source: tracker.SourceArgoCD, ReadyAt: t0,
				Name: strings.Repeat("n", 300)})
			evs = append(evs, event.Event{EnvironmentID: id, Name: event.Deployed, Time: t0, Source: "argocd",
				Metadata: map[string]any{"detected_at": t0.Format("2006-01-02T15:04:05Z"), "note": strings.Repeat("x", 300)}})
		}
		_, err := s.Commit(sts, evs)
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	fileKiB := int(fi.Size() / 1024)
	require.Greater(t, fileKiB, 4096, "the store should be several MiB")
	limit := fileKiB / 8

	// The start-up check reads every page through its own read-only mapping, releasing
	// them as it goes (on a timer: its loop is bbolt's) and at its end.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		releaseWhile(db, tx, func() {
			for err := range tx.Check() {
				require.NoError(t, err)
			}
		})
		require.Less(t, mappedKiB(t, path), limit, "after the start-up check (file: %d KiB)", fileKiB)
		return nil
	}))
	require.NoError(t, db.Close())

	s, err = Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()

	states, err := s.Environments()
	require.NoError(t, err)
	require.Len(t, states, envs)
	require.Less(t, mappedKiB(t, path), limit, "after loading every state (file: %d KiB)", fileKiB)

	evs, err := s.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, events)
	require.Less(t, mappedKiB(t, path), limit, "after reading the journal (file: %d KiB)", fileKiB)

	for i := range 3 * releaseCommits {
		id := "env-" + strconv.Itoa(i*37%envs)
		_, err := s.Commit([]tracker.State{{ID: id, Phase: tracker.PhaseReady, Source: tracker.SourceArgoCD, ReadyAt: t0}},
			[]event.Event{{EnvironmentID: id, Name: event.Deployed, Time: t0, Source: "argocd"}})
		require.NoError(t, err)
		_, _, err = s.environment(id)
		require.NoError(t, err)
	}
	require.Less(t, mappedKiB(t, path), limit, "after %d commits (file: %d KiB)", 3*releaseCommits, fileKiB)

	evs, err = s.Events(0, 0)
	require.NoError(t, err)
	require.Len(t, evs, events+3*releaseCommits, "every event still reads back")
}
