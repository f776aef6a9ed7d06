package dashboards_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// metricName is a metric name of envtrack's: a self-monitoring one (envtrack_...) or a
// lifecycle one under the default namespace (blueberry_...).
var metricName = regexp.MustCompile(`\b(envtrack|blueberry)_[a-z]`)

// TestNamesComeFromTheDefinitions: the generators spell no metric name. Every name in a
// query, an alert, a test series or runbook text comes from model/metric (Def.Name, or
// Lifecycle.In for the namespaced ones), so a renamed metric cannot leave a dashboard or
// an alert on the old name. String literals of every non-test file are checked, raw
// strings included.
func TestNamesComeFromTheDefinitions(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			if m := metricName.FindString(v); m != "" {
				t.Errorf("%s: a metric name spelled as a literal (%q...): use its definition in model/metric", fset.Position(lit.Pos()), v[:min(len(v), 60)])
			}
			checked++
			return true
		})
	}
	require.Greater(t, checked, 500, "catalog.go and the other generators were read")
}
