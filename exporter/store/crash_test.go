package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

const helperEnv = "ENVTRACK_STORE_HELPER_DB"

// TestHelperProcess is not a test: TestCrashConsistency runs the test binary with
// -test.run=TestHelperProcess and helperEnv set, and this function then commits in a loop
// until it is killed. Each commit writes state {ID: "e", Name: "<n>"} and one event with
// metadata n, n counting on from the stored state, and prints n once the commit returned.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestCrashConsistency")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	n := 0
	if st, ok, err := s.environment("e"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	} else if ok {
		n, _ = strconv.Atoi(st.Name)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; i < 100000; i++ { // bounded in case the parent never kills it
		n++
		_, err := s.Commit(
			[]tracker.State{{ID: "e", Name: strconv.Itoa(n), Phase: tracker.PhaseReady}},
			[]event.Event{{EnvironmentID: "e", Name: event.Deployed, Time: time.Now(), Metadata: map[string]any{"n": n}}},
		)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// A write error means the parent is gone.
		if _, err := fmt.Fprintln(out, n); err != nil {
			os.Exit(3)
		}
		if err := out.Flush(); err != nil {
			os.Exit(3)
		}
	}
	os.Exit(0)
}

// TestCrashConsistency SIGKILLs a committing process at random points and checks after
// each kill that the journal is contiguous, that every commit the child reported as done
// is there, and that the stored state matches the last event.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := 0
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		// Let it commit a random number of times, then kill it somewhere in the middle of
		// whatever it is doing.
		want := 1 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		for i := 0; i < want && sc.Scan(); i++ {
			n, err := strconv.Atoi(sc.Text())
			require.NoError(t, err)
			acked = n
		}
		if d := rng.IntN(3000); d > 0 {
			time.Sleep(time.Duration(d) * time.Microsecond) // a random point, not an assertion
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = cmd.Wait()
		require.Error(t, err, "the helper must have been killed, not have exited")

		s, err := Open(path, Options{})
		require.NoError(t, err)
		evs, err := s.Events(0, 0)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(evs), acked, "round %d: every acknowledged commit is durable", round)
		for i, e := range evs {
			require.Equal(t, uint64(i+1), e.Seq, "round %d: contiguous", round)
			require.Equal(t, event.MakeID(s.journalID, e.Seq), e.ID)
			require.Equal(t, float64(i+1), e.Meta("n"), "round %d: event %d", round, e.Seq)
		}
		require.Equal(t, uint64(len(evs)), s.LastSeq())
		st, ok, err := s.environment("e")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, strconv.Itoa(len(evs)), st.Name, "round %d: state matches the last event", round)
		require.NoError(t, s.Close())
		t.Logf("round %d: killed after %d acknowledged commits, %d stored", round, acked, len(evs))
	}
}
