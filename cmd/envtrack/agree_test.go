package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
)

// TestCheckConfigAgreesWithServe: for every configuration, check-config and serve agree:
// both accept it, or both refuse it with the same message (file, line and key when the
// file is at fault).
func TestCheckConfigAgreesWithServe(t *testing.T) {
	example, err := os.ReadFile("../../config/example.yml")
	require.NoError(t, err)
	const argo = "argocd: {server: https://argocd.example.com, token: argo-token-1234}\n"
	for _, tc := range []struct {
		name, yaml string
		web        string // a web config file's content, for --web.config.file
		want       string // "" when valid; else a part of the message both print
	}{
		{name: "minimal", yaml: "state_dir: ./data\n"},
		{name: "the example", yaml: string(example)},
		{name: "all sections", yaml: "state_dir: ./data\n" + argo +
			"influxdb: {url: http://127.0.0.1:8086, token: t0k3n-1234, org: o, bucket: b}\n" +
			"grafana: {url: https://grafana.example.com/sub, token: glsa-1234, tags: [idp, team:web]}\n"},
		{name: "influxdb credentials in the URL are its own business", yaml: "state_dir: ./data\n" +
			"influxdb: {url: \"http://u:p4ss@127.0.0.1:8086\", bucket: b}\n"},
		{name: "a web config with basic auth", yaml: "state_dir: ./data\n",
			web: "basic_auth_users:\n  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"},

		{name: "empty namespace", yaml: "state_dir: ./data\nmetrics:\n  namespace: \"\"\n",
			want: `:3: metrics.namespace: must not be empty`},
		{name: "bad namespace", yaml: "state_dir: ./data\nmetrics: {namespace: 9lives}\n",
			want: `:2: metrics.namespace: "9lives" is not a valid metric name prefix`},
		{name: "argocd credentials in the URL", yaml: "state_dir: ./data\nargocd:\n  server: https://admin:pw@argocd.example.com\n  token: x-1234\n",
			want: `:3: argocd.server: must not carry credentials`},
		{name: "grafana credentials in the URL", yaml: "state_dir: ./data\ngrafana:\n  url: https://admin:pw@grafana.example.com\n  token: x-1234\n",
			want: `:3: grafana.url: must not carry credentials`},
		{name: "grafana URL with a query", yaml: "state_dir: ./data\ngrafana:\n  url: https://grafana.example.com/?orgId=1\n  token: x-1234\n",
			want: `:3: grafana.url: must not have a query or fragment`},
		{name: "unknown key", yaml: "state_dir: ./data\nlisten_adress: :9465\n", want: `:2: unknown key "listen_adress"`},
		{name: "syntax", yaml: "state_dir: ./data\napi: [\n", want: "envtrack.yml:"},
		{name: "no connections", yaml: "state_dir: ./data\napi:\n  max_connections: 0\n", want: `:3: api.max_connections: must be between 1`},
		{name: "header timeout over read timeout", yaml: "state_dir: ./data\napi: {read_timeout: 1s, read_header_timeout: 2s}\n",
			want: `:2: api.read_header_timeout: must not be longer than read_timeout`},
		{name: "duplicate environment", yaml: "state_dir: ./data\nenvironments:\n  - {id: a, url: http://a.example.com}\n  - {id: a, url: http://b.example.com}\n",
			want: `:4: environments[1].id: duplicate environment id "a"`},
		{name: "influxdb without bucket", yaml: "state_dir: ./data\ninfluxdb: {url: http://127.0.0.1:8086}\n", want: `:2: influxdb.bucket: must be set`},
		{name: "grafana tag with two colons", yaml: "state_dir: ./data\ngrafana: {url: https://grafana.example.com, token: x-1234, tags: [\"a:b:c\"]}\n",
			want: `:2: grafana.tags[0]: "a:b:c" has more than one ':'`},
		{name: "a web config naming missing certificates", yaml: "state_dir: ./data\n",
			web: "tls_server_config:\n  cert_file: /nonexistent/tls.crt\n  key_file: /nonexistent/tls.key\n", want: "web config "},
		{name: "a web config that is not YAML", yaml: "state_dir: ./data\n", web: "basic_auth_users: [\n", want: "web config "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "envtrack.yml")
			require.NoError(t, os.WriteFile(cfg, []byte(tc.yaml), 0o600))
			args := []string{"--config", cfg}
			web := ""
			if tc.web != "" {
				web = filepath.Join(dir, "web.yml")
				require.NoError(t, os.WriteFile(web, []byte(tc.web), 0o600))
				args = append(args, "--web.config.file", web)
			}

			var out, checkErr bytes.Buffer
			checkCode := run(append([]string{"check-config"}, args...), &out, &checkErr)

			if tc.want == "" {
				require.Equal(t, 0, checkCode, "check-config: %s", checkErr.String())
				// serve's own start-up, then a stop at once (run would serve until a signal).
				a, err := app.New(app.Options{ConfigFile: cfg, WebConfigFile: web, Sinks: sinks,
					ListenAddress: "127.0.0.1:0"})
				require.NoError(t, err, "serve refuses what check-config accepted")
				runAndStop(t, a)
				return
			}
			require.Equal(t, 1, checkCode, "check-config accepted it: %s", out.String())
			checkMsg, ok := strings.CutPrefix(strings.TrimSpace(checkErr.String()), "envtrack: invalid configuration: ")
			require.True(t, ok, "check-config: %s", checkErr.String())
			require.Contains(t, checkMsg, tc.want)

			var serveErr bytes.Buffer
			serveCode := run(append([]string{"serve", "--web.listen-address", "127.0.0.1:0", "--log.format", "json"}, args...), &out, &serveErr)
			require.Equal(t, 1, serveCode, "serve: %s", serveErr.String())
			var line map[string]any
			lines := strings.Split(strings.TrimSpace(serveErr.String()), "\n")
			require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &line), serveErr.String())
			require.Equal(t, checkMsg, line["err"], "serve and check-config say different things")
			require.NoFileExists(t, filepath.Join(dir, "data", app.StoreFile), "a refused configuration created a store")
		})
	}
}
