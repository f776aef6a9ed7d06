package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const datasourcesFile = "compose/grafana/provisioning/datasources/datasources.yml"

// provisionedDS is one data source of Grafana's provisioning file.
type provisionedDS struct {
	Name     string         `yaml:"name"`
	UID      string         `yaml:"uid"`
	Type     string         `yaml:"type"`
	JSONData map[string]any `yaml:"jsonData"`
}

// language is the query language a provisioned InfluxDB data source speaks (Grafana's
// default, without jsonData.version, is InfluxQL).
func (d provisionedDS) language() string {
	if d.Type != "influxdb" {
		return d.Type
	}
	if v, _ := d.JSONData["version"].(string); strings.EqualFold(v, "Flux") {
		return "flux"
	}
	return "influxql"
}

// TestDashboardsMatchProvisioning: every panel query of every generated dashboard finds,
// among the data sources deploy/compose provisions, one that its data source variable
// offers (plugin type and name regex) and that speaks its query language. An InfluxQL
// query on a variable that could resolve to the Flux data source fails this test, which
// is how 001's overlay was empty in the compose stack.
func TestDashboardsMatchProvisioning(t *testing.T) {
	b, err := os.ReadFile(datasourcesFile)
	require.NoError(t, err)
	var prov struct {
		Datasources []provisionedDS `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(b, &prov))
	require.NotEmpty(t, prov.Datasources)

	files, err := filepath.Glob("../dashboards/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	checked := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			Templating struct {
				List []struct {
					Name, Type, Query, Regex string
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct{ Type, UID string } `json:"datasource"`
					Expr       string                     `json:"expr"`
					Query      string                     `json:"query"`
					RawQuery   bool                       `json:"rawQuery"`
				} `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d))
		vars := map[string]struct{ plugin, regex string }{}
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				vars["${"+v.Name+"}"] = struct{ plugin, regex string }{v.Query, v.Regex}
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				where := filepath.Base(f) + " panel " + p.Title
				lang := "prometheus"
				switch {
				case tg.Datasource.Type == "influxdb" && tg.RawQuery:
					lang = "influxql"
					require.True(t, strings.HasPrefix(strings.TrimSpace(strings.ToUpper(tg.Query)), "SELECT"), "%s: an InfluxQL query: %s", where, tg.Query)
				case tg.Datasource.Type == "influxdb":
					lang = "flux"
				default:
					require.Equal(t, "prometheus", tg.Datasource.Type, where)
					require.NotEmpty(t, tg.Expr, where)
				}
				v, ok := vars[tg.Datasource.UID]
				require.True(t, ok, "%s: data source %s is a dashboard variable", where, tg.Datasource.UID)
				require.Equal(t, tg.Datasource.Type, v.plugin, where)
				var offered []string
				for _, ds := range prov.Datasources {
					if ds.Type != v.plugin || !grafanaRegexMatches(t, v.regex, ds.Name) {
						continue
					}
					offered = append(offered, ds.Name)
					require.Equal(t, lang, ds.language(), "%s: the variable %s offers %q, which speaks %s, but the query is %s",
						where, tg.Datasource.UID, ds.Name, ds.language(), lang)
				}
				require.NotEmpty(t, offered, "%s: no provisioned %s data source speaks %s", where, v.plugin, lang)
				checked[lang]++
			}
		}
	}
	require.Positive(t, checked["prometheus"])
	require.Positive(t, checked["influxql"], "001's overlay queries InfluxDB in InfluxQL")
}

// grafanaRegexMatches applies a data source variable's regex as Grafana does: empty
// matches everything, /re/ is a regular expression.
func grafanaRegexMatches(t *testing.T, re, name string) bool {
	t.Helper()
	if re == "" {
		return true
	}
	require.True(t, strings.HasPrefix(re, "/") && strings.HasSuffix(re, "/"), "regex %q", re)
	return regexp.MustCompile(re[1 : len(re)-1]).MatchString(name)
}
