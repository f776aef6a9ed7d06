package dashboards_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/dashboards"
)

// grafanaVariables stand in for the template variables Grafana substitutes before the
// query reaches Prometheus.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1d",
	`"$type"`, `".*"`, `"$instance"`, `".*"`,
)

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

// queries collects every PromQL expression of the rules and of the dashboards' panels.
func queries(t *testing.T, s *dashboards.Set) []query {
	t.Helper()
	var out []query
	for _, g := range s.Rules().Groups {
		for _, r := range g.Rules {
			out = append(out, query{"rule " + r.Record + r.Alert, r.Expr})
		}
	}
	dashboards, err := s.Dashboards()
	require.NoError(t, err)
	for file, b := range dashboards {
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct{ Type string } `json:"datasource"`
					Expr       string                `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d))
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.Type == "prometheus" {
					require.NotEmpty(t, tg.Expr, "%s panel %q", file, p.Title)
					out = append(out, query{fmt.Sprintf("%s panel %q", file, p.Title), tg.Expr})
				}
			}
		}
	}
	return out
}

// TestQueriesNameDeclaredMetrics: every PromQL expression in every panel and rule parses
// with Prometheus's parser and selects only series the definitions declare (metrics,
// their histogram series, recording rules, up), with label names those series have.
func TestQueriesNameDeclaredMetrics(t *testing.T) {
	for _, ns := range []string{"blueberry", "acme"} {
		t.Run(ns, func(t *testing.T) {
			o := dashboards.DefaultOptions()
			o.Namespace = ns
			s, err := dashboards.New(o)
			require.NoError(t, err)

			// The label names each declared series may be selected by.
			declared := map[string]map[string]bool{}
			scrape := []string{"job", "instance"}
			for _, m := range s.Metrics() {
				for _, series := range m.Series() {
					ls := map[string]bool{}
					for _, l := range append(append([]string{}, m.Labels...), scrape...) {
						ls[l] = true
					}
					if strings.HasSuffix(series, "_bucket") {
						ls["le"] = true
					}
					declared[series] = ls
				}
			}
			for _, r := range s.Records() {
				declared[r.Name] = map[string]bool{}
			}
			for _, name := range s.SLORecords() {
				declared[name] = map[string]bool{"sloth_id": true, "sloth_service": true, "sloth_slo": true, "sloth_window": true}
			}

			p := parser.NewParser(parser.Options{})
			qs := queries(t, s)
			require.Greater(t, len(qs), 50)
			selected := map[string]bool{}
			for _, q := range qs {
				expr := grafanaVariables.Replace(q.expr)
				require.NotContains(t, expr, "$", "%s: unknown Grafana variable in %s", q.where, q.expr)
				ast, err := p.ParseExpr(expr)
				require.NoError(t, err, "%s: %s", q.where, q.expr)
				n := 0
				parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
					vs, ok := node.(*parser.VectorSelector)
					if !ok {
						return nil
					}
					n++
					name := vs.Name
					for _, m := range vs.LabelMatchers {
						if m.Name == model.MetricNameLabel {
							require.Equal(t, labels.MatchEqual, m.Type, "%s: select metrics by exact name", q.where)
							name = m.Value
						}
					}
					ls, ok := declared[name]
					require.True(t, ok, "%s selects %s, which the definitions do not declare", q.where, name)
					selected[name] = true
					for _, m := range vs.LabelMatchers {
						if m.Name != model.MetricNameLabel {
							require.True(t, ls[m.Name], "%s: %s has no label %q", q.where, name, m.Name)
						}
					}
					return nil
				})
				if !strings.HasPrefix(q.expr, "vector(") { // Sloth's SLO metadata are constants
					require.Positive(t, n, "%s selects nothing: %s", q.where, q.expr)
				}
			}
			// The type variable's label_values() names a declared metric and label.
			re := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*), ([a-z_]+)\)$`)
			dashboards, err := s.Dashboards()
			require.NoError(t, err)
			for file, b := range dashboards {
				var d struct {
					Templating struct {
						List []struct{ Type, Query string }
					}
				}
				require.NoError(t, json.Unmarshal(b, &d))
				for _, v := range d.Templating.List {
					if v.Type != "query" {
						continue
					}
					m := re.FindStringSubmatch(v.Query)
					require.NotNil(t, m, "%s: %s", file, v.Query)
					require.True(t, declared[m[1]][m[2]], "%s: %s", file, v.Query)
				}
			}
			for _, r := range s.Records() {
				require.True(t, selected[r.Name], "recording rule %s is used by no alert or panel", r.Name)
			}
		})
	}
}

// The checker itself: an undeclared metric or label is caught.
func TestQueryCheckCatchesUndeclaredMetrics(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	ast, err := p.ParseExpr(`sum(rate(blueberry_environment_provisioning_totl[5m]))`)
	require.NoError(t, err)
	var names []string
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	require.Equal(t, []string{"blueberry_environment_provisioning_totl"}, names)
	require.NotContains(t, defaultSet(t).Series(), names[0])
	_, err = p.ParseExpr(`histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m]))`)
	require.Error(t, err)
}
