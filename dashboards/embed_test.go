package dashboards

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each embedded dashboard is JSON whose uid is its file name (Grafana's provisioning
// keeps it across imports).
func TestEmbeddedDashboards(t *testing.T) {
	files, err := fs.Glob(FS, "*.json")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"envtrack-health.json", "envtrack-provisioning.json"}, files)
	for _, f := range files {
		b, err := FS.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			UID           string `json:"uid"`
			SchemaVersion int    `json:"schemaVersion"`
		}
		require.NoError(t, json.Unmarshal(b, &d), f)
		require.Equal(t, strings.TrimSuffix(f, ".json"), d.UID)
		require.GreaterOrEqual(t, d.SchemaVersion, 39)
	}
}
