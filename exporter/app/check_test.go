package app

import (
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestReloadNeedsRestart: a reload changing what only a restart can apply is refused
// with that reason, counted as failed, and the configuration in force is kept; a
// reloadable change in the same file is not half-applied.
func TestReloadNeedsRestart(t *testing.T) {
	for _, tc := range []struct{ change, want string }{
		{"metrics: {namespace: other}\n", "metrics.namespace changed from blueberry to other: that needs a restart"},
		{"metrics: {native_histograms: false}\n", "metrics.native_histograms changed from true to false: that needs a restart"},
		{"listen_address: 127.0.0.1:9999\n", "listen_address changed from :9465 to 127.0.0.1:9999: that needs a restart"},
		{"state_dir: ./elsewhere\n", "state_dir changed from"},
		{"api: {max_connections: 7, write_tokens: [new-token]}\n", "api.max_connections changed from 512 to 7: that needs a restart"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			a, _ := runApp(t, "", Options{})
			before := a.Config()
			base := "state_dir: ./data\n"
			if tc.change[:9] == "state_dir" {
				base = ""
			}
			require.NoError(t, os.WriteFile(a.opts.ConfigFile, []byte(base+tc.change), 0o600))
			err := a.Reload()
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "keeping the previous configuration")
			require.Same(t, before, a.Config(), "the configuration in force was replaced")
			require.Equal(t, 0.0, testutil.ToFloat64(a.metrics.reloadSuccess))
		})
	}
}
