package dashboards_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/dashboards"
)

var update = flag.Bool("update", false, "rewrite the committed generated files (dashboards/, deploy/prometheus/, docs/operations.md)")

// moduleRoot is the first directory above the working directory that holds go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func generated(t testing.TB, opts dashboards.Options) map[string][]byte {
	t.Helper()
	files, err := dashboards.Generate(opts)
	require.NoError(t, err)
	return files
}

// TestGeneratedFilesAreUpToDate is the drift check: the committed generated files must
// be exactly what `envtrack generate` writes. `go test ./dashboards -update` rewrites
// them.
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	root := moduleRoot(t)
	files := generated(t, dashboards.DefaultOptions())
	if *update {
		paths, err := dashboards.Write(root, files)
		require.NoError(t, err)
		t.Logf("rewrote %s", strings.Join(paths, ", "))
		return
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %v; run `go test ./dashboards -update` (or `envtrack generate`) and commit the result", p, err)
			continue
		}
		if !bytes.Equal(got, files[p]) {
			t.Errorf("%s differs from what `envtrack generate` writes (first difference at line %d); run `go test ./dashboards -update` (or `envtrack generate`) and commit the result",
				p, firstDiffLine(got, files[p]))
		}
	}
	// A generated file that generate no longer writes is stale.
	for _, pattern := range []string{"dashboards/*.json", "deploy/prometheus/envtrack.*"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			require.NoError(t, err)
			if _, ok := files[filepath.ToSlash(rel)]; !ok {
				t.Errorf("%s is not written by `envtrack generate` any more: delete it", rel)
			}
		}
	}
}

func firstDiffLine(a, b []byte) int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// TestGenerateIsDeterministic: two generations are byte for byte equal.
func TestGenerateIsDeterministic(t *testing.T) {
	a, b := generated(t, dashboards.DefaultOptions()), generated(t, dashboards.DefaultOptions())
	require.Equal(t, a, b)
	require.ElementsMatch(t, []string{
		"dashboards/envtrack-provisioning.json", "dashboards/envtrack-health.json",
		dashboards.RulesFile, dashboards.RuleTestsFile, dashboards.SLORuleTestsFile, dashboards.HandbookFile,
	}, keys(a))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
