package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestTimelineOldHostileStrings (issue 19): a store written before pushes refused control
// characters (written here directly, as such a version did) holds an environment name,
// a reason and a revision with escape sequences, carriage returns, bells, C1 controls and
// bidirectional overrides. `envtrack timeline`, as a table and as --json, prints them as
// visible escapes: no raw control or bidi character reaches the terminal, and nothing is
// deleted.
func TestTimelineOldHostileStrings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\n"), 0o600))
	st, err := store.Open(filepath.Join(dir, "data", app.StoreFile), store.Options{})
	require.NoError(t, err)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	name := "evil\x1b]0;pwned\x07\u202eexe.txt"
	s := tracker.State{ID: "old-1", Name: name, Source: "api", Phase: tracker.PhaseFailed,
		ProvisioningStartedAt: t0, FailedAt: t0.Add(time.Minute), FailureReason: "timeout"}
	_, err = st.Commit([]tracker.State{s}, []event.Event{
		{EnvironmentID: "old-1", EnvironmentName: name, Name: event.ProvisioningStarted, Time: t0, Source: "api",
			Metadata: map[string]any{event.MetaRevision: "abc\x1b[2J\x1b[Hdef", event.MetaBranch: "main\rFAKE\u2066x\u2069"}},
		{EnvironmentID: "old-1", EnvironmentName: name, Name: event.ProvisioningFailed, Time: t0.Add(time.Minute), Source: "api",
			Metadata: map[string]any{event.MetaReason: "timeout\u009b31m\x7f\u0085"}},
	})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	a, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	for _, args := range [][]string{{}, {"--json"}} {
		var out, errb bytes.Buffer
		code := run(append([]string{"timeline", "old-1", "--server", "http://" + a.Addr()}, args...), &out, &errb)
		require.Equal(t, 0, code, errb.String())
		for _, r := range out.String() {
			require.False(t, r != '\n' && (unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069),
				"raw %U printed by timeline %v:\n%q", r, args, out.String())
		}
		if len(args) == 0 {
			for _, want := range []string{`evil\x1b]0;pwned\x07\u202eexe.txt`, `abc\x1b[2J\x1b[Hdef`, `main\x0dFAKE\u2066x\u2069`, `timeout\u009b31m\x7f\u0085`} {
				require.Contains(t, out.String(), want)
			}
		}
	}
}
