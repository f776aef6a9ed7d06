package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// panelQuery is one query of a shipped dashboard's panel.
type panelQuery struct {
	where    string
	lang     string // promql or influxql
	text     string
	expanded string
}

// Grafana's macros and the dashboards' variables, expanded as Grafana does before a
// query leaves it: the variables at their "All" value (allValue .*), the intervals at
// what Grafana computes for a short dashboard range on the demo's 1 s scrape interval
// ($__rate_interval is at least four scrape intervals), the time filter at the last day.
var (
	promMacros = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "10m",
		"${type:regex}", ".*", "$type", ".*", "${instance:regex}", ".*", "$instance", ".*")
	influxMacros = strings.NewReplacer("$timeFilter", "time >= now() - 24h", "$__timeFilter", "time >= now() - 24h",
		"$__interval", "1m", "$type", ".*")
)

// shippedQueries reads every panel query of every generated dashboard in dashboards/.
func shippedQueries(t *testing.T) []panelQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []panelQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct{ Type string } `json:"datasource"`
					Expr       string                `json:"expr"`
					Query      string                `json:"query"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d))
		for _, p := range d.Panels {
			for i, tg := range p.Targets {
				q := panelQuery{where: fmt.Sprintf("%s panel %q query %d", filepath.Base(f), p.Title, i+1)}
				switch tg.Datasource.Type {
				case "prometheus":
					q.lang, q.text, q.expanded = "promql", tg.Expr, promMacros.Replace(tg.Expr)
				case "influxdb":
					q.lang, q.text, q.expanded = "influxql", tg.Query, influxMacros.Replace(tg.Query)
				default:
					t.Fatalf("%s: data source type %q", q.where, tg.Datasource.Type)
				}
				require.NotContains(t, q.expanded, "$", "%s: a macro left unexpanded: %s", q.where, q.expanded)
				out = append(out, q)
			}
		}
	}
	return out
}

// checkDashboardQueries runs every panel query of every shipped dashboard against the
// demo's real Prometheus and InfluxDB, and waits until each returns data: an error
// fails at once, a query that never returns data fails at the hang guard.
func checkDashboardQueries(t *testing.T, ctx context.Context, u URLs) {
	t.Helper()
	qs := shippedQueries(t)
	langs := map[string]int{}
	for _, q := range qs {
		langs[q.lang]++
		eventually(t, ctx, q.where+" returns data", func() (bool, string) {
			var n int
			var err error
			if q.lang == "promql" {
				n, err = promRangePoints(ctx, u.Prometheus, q.expanded)
			} else {
				n, err = influxQLPoints(ctx, u.InfluxDB, q.expanded)
			}
			var bad *queryError
			if refused(err) || errors.As(err, &bad) {
				t.Fatalf("%s: %s\n%s", q.where, err, q.expanded)
			}
			if err != nil {
				return false, err.Error() // transient (a loaded machine): poll again
			}
			return n > 0, fmt.Sprintf("%d points for %s", n, q.expanded)
		})
	}
	require.Positive(t, langs["promql"])
	require.Positive(t, langs["influxql"], "001's overlay")
	t.Logf("ran %d PromQL and %d InfluxQL panel queries", langs["promql"], langs["influxql"])
}

// queryError is a query the server answered with an error in its body: the query is
// wrong, and polling again would not mend it.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

// promRangePoints runs a range query over the last ten minutes and counts finite values.
func promRangePoints(ctx context.Context, base, q string) (int, error) {
	now := time.Now()
	var r struct {
		Status, Error string
		Data          struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	err := getJSON(ctx, base+"/api/v1/query_range?"+url.Values{"query": {q},
		"start": {strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}, "step": {"5"}}.Encode(), &r)
	if err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, &queryError{"prometheus: " + r.Error}
	}
	n := 0
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			s, _ := v[1].(string)
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				n++
			}
		}
	}
	return n, nil
}

// influxQLPoints runs an InfluxQL query on the demo's database and counts the rows.
func influxQLPoints(ctx context.Context, base, q string) (int, error) {
	var r struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := getJSON(ctx, base+"/query?"+url.Values{"db": {"envtrack"}, "q": {q}, "epoch": {"s"}}.Encode(), &r); err != nil {
		return 0, err
	}
	if r.Error != "" {
		return 0, &queryError{"influxdb: " + r.Error}
	}
	n := 0
	for _, res := range r.Results {
		if res.Error != "" {
			return 0, &queryError{"influxdb: " + res.Error}
		}
		for _, s := range res.Series {
			n += len(s.Values)
		}
	}
	return n, nil
}
