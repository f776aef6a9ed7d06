package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
)

// TestCheckConfigAsksInfluxDB: check-config asks the configured InfluxDB once whether
// it answers the chosen query language, as serve does at start-up. InfluxDB 1.8 as it
// ships refuses Flux: the configuration is valid (exit 0) and one warning says how to
// fix it; InfluxQL, the default, answers, and the effective configuration shows the
// database and retention policy it reads.
func TestCheckConfigAsksInfluxDB(t *testing.T) {
	db := testinfra.StartInfluxDB(t) // as shipped: flux-enabled = false
	for _, tc := range []struct {
		lang, warning, shows string
	}{
		{"flux", "envtrack: warning: InfluxDB answers 403 to Flux (Flux query service disabled. Verify flux-enabled=true in the [http] section of the InfluxDB config.): " +
			"set influxdb.query_language: influxql, or enable flux-enabled in InfluxDB\n", "  query_language: flux\n"},
		{"influxql", "", "  query_language: influxql\n  database: envtrack\n  retention_policy: autogen\n"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "envtrack.yml")
			require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: ./data\ninfluxdb: {url: %s, bucket: %s, query_language: %s}\n",
				db.URL, db.Bucket, tc.lang)), 0o600))
			var out, errb bytes.Buffer
			require.Equal(t, 0, run([]string{"check-config", "--config", cfg}, &out, &errb), errb.String())
			require.Equal(t, tc.warning, errb.String())
			require.Contains(t, out.String(), tc.shows)
		})
	}
}
