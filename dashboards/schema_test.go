package dashboards_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana-tools/sdk"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// grafanaSchemas are the JSON Schemas of ../shared/grafana-schema (Grafana's dashboard
// model and its panel plugins, from grafana-foundation-sdk).
type grafanaSchemas struct {
	dir   string
	docs  map[string]map[string]any // file name -> parsed schema
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

// sharedSchemaDir finds ../shared/grafana-schema beside the module. When it is absent
// the test is skipped, except in CI (CI=true), where it fails.
func sharedSchemaDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "..", "shared", "grafana-schema")
	if _, err := os.Stat(filepath.Join(dir, "dashboard.jsonschema.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Grafana JSON Schemas are required in CI: %v (../shared must be beside the repository)", err)
		}
		t.Skipf("../shared/grafana-schema not found beside the repository (%v): the dashboards are validated where it is present, and always in CI", err)
	}
	return dir
}

// Patched spots: the schemas turn CUE's "any" (`value?: _`, `options?: _`) into
// {"type": "object"}, but Grafana itself writes scalars there
// ({"id": "custom.drawStyle", "value": "bars"}, {"id": "byFrameRefID", "options": "B"}).
// Only these two properties are relaxed to "any JSON value"; TestDashboardsValidate then
// checks each override value against the schema of the property it sets.
var anySpots = [][]string{
	{"definitions", "DynamicConfigValue", "properties", "value"},
	{"definitions", "MatcherConfig", "properties", "options"},
}

func loadGrafanaSchemas(t *testing.T) *grafanaSchemas {
	t.Helper()
	dir := sharedSchemaDir(t)
	g := &grafanaSchemas{dir: dir, docs: map[string]map[string]any{}, c: jsonschema.NewCompiler(), cache: map[string]*jsonschema.Schema{}}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".jsonschema.json") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(f)
		require.NoError(t, f.Close())
		require.NoError(t, err, e.Name())
		m := doc.(map[string]any)
		if e.Name() == "dashboard.jsonschema.json" {
			for _, spot := range anySpots {
				parent := dig(m, spot[:len(spot)-1]...).(map[string]any)
				last := spot[len(spot)-1]
				spec, _ := parent[last].(map[string]any)
				if spec["type"] == "object" && fmt.Sprint(spec["additionalProperties"]) == "map[]" && spec["properties"] == nil {
					parent[last] = map[string]any{} // any JSON value
				}
			}
		}
		g.docs[e.Name()] = m
		require.NoError(t, g.c.AddResource(g.url(e.Name()), m))
	}
	return g
}

func (g *grafanaSchemas) url(file string) string {
	return "file://" + filepath.ToSlash(filepath.Join(g.dir, file))
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// schema compiles file#/definitions/<path...>; nil when the file or definition is absent.
func (g *grafanaSchemas) schema(t *testing.T, file string, path ...string) *jsonschema.Schema {
	t.Helper()
	doc, ok := g.docs[file]
	if !ok || dig(doc, append([]string{"definitions"}, path...)...) == nil {
		return nil
	}
	ref := g.url(file) + "#/definitions/" + strings.Join(path, "/")
	if s, ok := g.cache[ref]; ok {
		return s
	}
	s, err := g.c.Compile(ref)
	require.NoError(t, err, ref)
	g.cache[ref] = s
	return s
}

// definitionName follows a definition that is only a $ref (timeseries' FieldConfig is
// {"$ref": "#/definitions/GraphFieldConfig"}).
func (g *grafanaSchemas) definitionName(file, name string) string {
	if ref, ok := dig(g.docs[file], "definitions", name, "$ref").(string); ok {
		return strings.TrimPrefix(ref, "#/definitions/")
	}
	return name
}

func validate(t *testing.T, s *jsonschema.Schema, v any, what string) {
	t.Helper()
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not validate:\n%v", what, err)
	}
}

// TestDashboardsValidate: every generated dashboard validates against Grafana's
// dashboard schema, and each panel's options and fieldConfig.defaults.custom against
// its plugin's schema.
func TestDashboardsValidate(t *testing.T) {
	g := loadGrafanaSchemas(t)
	dashboard := g.schema(t, "dashboard.jsonschema.json", "Dashboard")
	require.NotNil(t, dashboard)
	dashboards, err := defaultSet(t).Dashboards()
	require.NoError(t, err)
	require.Len(t, dashboards, 2)
	for file, b := range dashboards {
		t.Run(file, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			require.NoError(t, err)
			validate(t, dashboard, inst, file)

			var d struct {
				UID           string            `json:"uid"`
				SchemaVersion int               `json:"schemaVersion"`
				Panels        []json.RawMessage `json:"panels"`
				Templating    struct {
					List []map[string]any `json:"list"`
				} `json:"templating"`
			}
			require.NoError(t, json.Unmarshal(b, &d))
			require.GreaterOrEqual(t, d.SchemaVersion, 39)
			require.Equal(t, strings.TrimSuffix(filepath.Base(file), ".json"), d.UID)
			require.Equal(t, "datasource", d.Templating.List[0]["type"])
			require.Equal(t, "DS_PROMETHEUS", d.Templating.List[0]["name"])

			panels := 0
			var check func(raw json.RawMessage)
			check = func(raw json.RawMessage) {
				inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
				require.NoError(t, err)
				p := inst.(map[string]any)
				typ, _ := p["type"].(string)
				title, _ := p["title"].(string)
				what := fmt.Sprintf("%s panel %q", typ, title)
				if typ == "row" {
					var row struct{ Panels []json.RawMessage }
					require.NoError(t, json.Unmarshal(raw, &row))
					for _, child := range row.Panels {
						check(child)
					}
					return
				}
				panels++
				file := typ + ".jsonschema.json"
				options := g.schema(t, file, "Options")
				require.NotNil(t, options, "%s: no schema %s with Options in ../shared/grafana-schema", what, file)
				validate(t, options, p["options"], what+" options")
				custom := dig(p, "fieldConfig", "defaults", "custom")
				fieldConfig := g.schema(t, file, "FieldConfig")
				if fieldConfig == nil {
					require.Nil(t, custom, "%s: the %s schema has no FieldConfig, so fieldConfig.defaults.custom must be absent", what, typ)
				} else {
					require.NotNil(t, custom, what)
					validate(t, fieldConfig, custom, what+" fieldConfig.defaults.custom")
				}
				// Each override value against the schema of the property it sets.
				overrides, _ := dig(p, "fieldConfig", "overrides").([]any)
				for _, o := range overrides {
					props, _ := dig(o, "properties").([]any)
					for _, prop := range props {
						id, _ := dig(prop, "id").(string)
						var s *jsonschema.Schema
						if name, ok := strings.CutPrefix(id, "custom."); ok {
							s = g.schema(t, file, g.definitionName(file, "FieldConfig"), "properties", name)
						} else {
							s = g.schema(t, "dashboard.jsonschema.json", "FieldConfig", "properties", id)
						}
						require.NotNil(t, s, "%s: override property %q is in no schema", what, id)
						validate(t, s, dig(prop, "value"), fmt.Sprintf("%s override %s", what, id))
					}
				}
			}
			for _, raw := range d.Panels {
				check(raw)
			}
			require.Positive(t, panels)
		})
	}
}

// The deployment overlay of 001: the p95 on the left, InfluxDB's deployments measurement
// as bars on a right-hand axis capped at 1; and the deployments as tag annotations.
func TestDeploymentOverlay(t *testing.T) {
	dashboards, err := defaultSet(t).Dashboards()
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(dashboards["dashboards/envtrack-provisioning.json"], &d))

	var overlay map[string]any
	for _, p := range d["panels"].([]any) {
		if p.(map[string]any)["title"] == "Provisioning p95 and deployments" {
			overlay = p.(map[string]any)
		}
	}
	require.NotNil(t, overlay)
	require.Equal(t, "timeseries", overlay["type"])
	targets := overlay["targets"].([]any)
	require.Len(t, targets, 2)
	require.Equal(t, map[string]any{"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, dig(targets[0], "datasource"))
	require.Contains(t, dig(targets[0], "expr"), "histogram_quantile(0.95")
	require.Equal(t, map[string]any{"type": "influxdb", "uid": "${DS_INFLUXDB}"}, dig(targets[1], "datasource"))
	require.Contains(t, dig(targets[1], "query"), `FROM "deployments"`)
	require.Equal(t, "B", dig(targets[1], "refId"))

	overrides := dig(overlay, "fieldConfig", "overrides").([]any)
	require.Len(t, overrides, 1)
	require.Equal(t, map[string]any{"id": "byFrameRefID", "options": "B"}, dig(overrides[0], "matcher"))
	props := map[string]any{}
	for _, p := range dig(overrides[0], "properties").([]any) {
		props[dig(p, "id").(string)] = dig(p, "value")
	}
	require.Equal(t, "bars", props["custom.drawStyle"])
	require.Equal(t, "right", props["custom.axisPlacement"])
	require.Equal(t, 1.0, props["max"])

	tags := map[string]bool{}
	for _, a := range dig(d, "annotations", "list").([]any) {
		require.Equal(t, map[string]any{"type": "grafana", "uid": "-- Grafana --"}, dig(a, "datasource"))
		if dig(a, "type") == "tags" {
			tags[fmt.Sprint(dig(a, "target", "tags"))] = true
		}
	}
	require.True(t, tags["[envtrack event:deployed]"], "annotations by tags envtrack + event:deployed")
	require.True(t, tags["[envtrack deployment]"], "annotations by tags envtrack + deployment (CI markers)")

	vars := map[string]map[string]any{}
	for _, v := range dig(d, "templating", "list").([]any) {
		vars[dig(v, "name").(string)] = v.(map[string]any)
	}
	require.Equal(t, "datasource", vars["DS_PROMETHEUS"]["type"])
	require.Equal(t, "prometheus", vars["DS_PROMETHEUS"]["query"])
	require.Equal(t, "datasource", vars["DS_INFLUXDB"]["type"])
	require.Equal(t, "influxdb", vars["DS_INFLUXDB"]["query"])
	require.Equal(t, "label_values(blueberry_environments, type)", vars["type"]["query"])
	require.Equal(t, true, vars["type"]["multi"])
	require.Equal(t, true, vars["type"]["includeAll"])
	_, legacy := d["rows"]
	require.False(t, legacy, "no legacy rows array")
}

// The validation is real: grafana-tools/sdk's legacy board, and a panel whose options
// lack what the plugin requires, are rejected.
func TestSchemasRejectLegacyAndBrokenPanels(t *testing.T) {
	g := loadGrafanaSchemas(t)
	legacy, err := json.Marshal(sdk.NewBoard("legacy"))
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(legacy))
	require.NoError(t, err)
	require.Error(t, g.schema(t, "dashboard.jsonschema.json", "Dashboard").Validate(inst))
	require.Error(t, g.schema(t, "timeseries.jsonschema.json", "Options").Validate(map[string]any{"tooltip": map[string]any{"mode": "multi", "sort": "none"}}))
	require.Error(t, g.schema(t, "timeseries.jsonschema.json", "FieldConfig").Validate(map[string]any{"drawStyle": "bar"}))
}
