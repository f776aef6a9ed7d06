package testinfra

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// InfluxDB is a running influxd 1.8.10 with the database Database and its default
// retention policy "autogen"; Bucket is the "db/rp" name the v2 API (and the
// influxdb-client-go client) uses for it.
type InfluxDB struct {
	*server

	URL      string // http://127.0.0.1:<port>
	Bucket   string // "envtrack/autogen"
	Database string // "envtrack"
	// Token is what a v2 client sends: "" without auth, else "user:password".
	Token string
	// Dir holds the configuration file and the meta, data and wal directories; a
	// restart (Stop, then Start) reuses it.
	Dir string

	user, password string
}

// InfluxDBOption changes how StartInfluxDB configures the server.
type InfluxDBOption func(*influxOptions)

type influxOptions struct {
	user, password string
	flux           bool
}

// WithFlux turns Flux on ([http] flux-enabled = true), which InfluxDB 1.8 does not ship
// with, for the tests of envtrack's Flux read path (influxdb.query_language: flux).
// influxd then takes about three seconds longer to start (initialising Flux's
// built-ins).
func WithFlux() InfluxDBOption {
	return func(o *influxOptions) { o.flux = true }
}

// WithAuth turns on authentication ([http] auth-enabled) with an admin user; Token is
// then "user:password".
func WithAuth(user, password string) InfluxDBOption {
	return func(o *influxOptions) { o.user, o.password = user, password }
}

// StartInfluxDB starts influxd on free 127.0.0.1 ports with its data in t.TempDir(),
// configured as it ships (Flux off: InfluxQL only; WithFlux turns it on) but for the
// tsi1 index (which production wants, DESIGN §5) and reporting to InfluxData off, waits
// for GET /ping to answer 204, and creates the database "envtrack" (default retention
// policy autogen). t.Cleanup stops it.
func StartInfluxDB(t testing.TB, opts ...InfluxDBOption) *InfluxDB {
	t.Helper()
	var o influxOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := Tool(t, "influxd")
	dir := t.TempDir()
	db := &InfluxDB{
		Database: "envtrack",
		Bucket:   "envtrack/autogen",
		Dir:      dir,
		user:     o.user,
		password: o.password,
	}
	if o.user != "" {
		db.Token = o.user + ":" + o.password
	}
	startOnFreePorts(t, func() *server {
		httpAddr, rpcAddr := freeAddr(t), freeAddr(t)
		conf := influxConfig(dir, httpAddr, rpcAddr, o.user != "", o.flux)
		confPath := filepath.Join(dir, "influxdb.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatalf("testinfra: %v", err)
		}
		db.URL = "http://" + httpAddr
		db.server = newServer(t, "influxd", bin, []string{"run", "-config", confPath}, db.URL+"/ping", http.StatusNoContent)
		return db.server
	})
	if o.user != "" {
		// With no user yet, InfluxDB accepts exactly this statement unauthenticated.
		stmt := fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES",
			QuoteIdent(o.user), strings.ReplaceAll(o.password, "'", `\'`))
		db.Exec(t, stmt)
	}
	db.Exec(t, "CREATE DATABASE "+QuoteIdent(db.Database))
	return db
}

func influxConfig(dir, httpAddr, rpcAddr string, auth, flux bool) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = %q

[meta]
  dir = %q
  logging-enabled = false

[data]
  dir = %q
  wal-dir = %q
  index-version = "tsi1"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = %q
  auth-enabled = %t
  log-enabled = false
  flux-enabled = %t
  pprof-enabled = false

[logging]
  # info, for the "Listening on HTTP" line that start waits for.
  level = "info"
  suppress-logo = true

[continuous_queries]
  log-enabled = false
`, rpcAddr, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr, auth, flux)
}

// Stop stops influxd (SIGTERM, then wait). The data stays; Start runs it again. Like
// Start, call it from the goroutine of the test that started the server (it fails that
// test on error).
func (db *InfluxDB) Stop() {
	db.t.Helper()
	if err := db.server.stop(); err != nil {
		db.t.Fatalf("testinfra: %v", err)
	}
}

// Start runs influxd again after Stop, on the same ports and data, and waits until it
// is ready.
func (db *InfluxDB) Start() {
	db.t.Helper()
	if err := db.server.start(); err != nil {
		db.t.Fatalf("testinfra: %v", err)
	}
}

// Exec runs InfluxQL statements with POST /query (CREATE, DROP, ...) in Database and
// fails the test on any error.
func (db *InfluxDB) Exec(t testing.TB, influxql string) {
	t.Helper()
	if _, err := db.query(influxql); err != nil {
		t.Fatalf("testinfra: %v", err)
	}
}

// Write writes line protocol through the v1 /write endpoint into Database (retention
// policy autogen, nanosecond precision), independently of the code under test.
func (db *InfluxDB) Write(t testing.TB, lineProtocol string) {
	t.Helper()
	v := url.Values{"db": {db.Database}, "rp": {"autogen"}, "precision": {"ns"}}
	db.auth(v)
	resp, err := http.Post(db.URL+"/write?"+v.Encode(), "text/plain; charset=utf-8", strings.NewReader(lineProtocol))
	if err != nil {
		t.Fatalf("testinfra: influxdb write: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("testinfra: influxdb write: %s: %s", resp.Status, body)
	}
}

// Series is one series of an InfluxQL answer.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs an InfluxQL query in Database through the v1 /query endpoint and returns
// the rows of every series of its first statement, concatenated. Times are RFC 3339
// strings, numbers float64.
func (db *InfluxDB) Query(t testing.TB, influxql string) [][]any {
	t.Helper()
	series, err := db.query(influxql)
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	var rows [][]any
	for _, s := range series {
		rows = append(rows, s.Values...)
	}
	return rows
}

// Select is Query with each row as a map from column name to value, and the "time"
// column parsed into a time.Time.
func (db *InfluxDB) Select(t testing.TB, influxql string) []map[string]any {
	t.Helper()
	series, err := db.query(influxql)
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	var rows []map[string]any
	for _, s := range series {
		for _, vals := range s.Values {
			row := make(map[string]any, len(vals)+len(s.Tags))
			for k, v := range s.Tags {
				row[k] = v
			}
			for i, v := range vals {
				if i >= len(s.Columns) {
					break
				}
				if s.Columns[i] == "time" {
					if str, ok := v.(string); ok {
						tm, err := time.Parse(time.RFC3339Nano, str)
						if err != nil {
							t.Fatalf("testinfra: time column %q: %v", str, err)
						}
						v = tm
					}
				}
				row[s.Columns[i]] = v
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Count returns how many points the measurement holds: the largest of the per-field
// counts of SELECT COUNT(*) (every point has at least one field).
func (db *InfluxDB) Count(t testing.TB, measurement string) int {
	t.Helper()
	rows := db.Query(t, "SELECT COUNT(*) FROM "+QuoteIdent(measurement))
	n := 0
	for _, row := range rows {
		for _, v := range row[1:] { // row[0] is the time
			if f, ok := v.(float64); ok && int(f) > n {
				n = int(f)
			}
		}
	}
	return n
}

func (db *InfluxDB) auth(v url.Values) {
	if db.user != "" {
		v.Set("u", db.user)
		v.Set("p", db.password)
	}
}

// query posts q to /query and returns the series of the first statement.
func (db *InfluxDB) query(q string) ([]Series, error) {
	cred := url.Values{}
	db.auth(cred) // InfluxDB reads u and p from the URL only
	resp, err := http.PostForm(db.URL+"/query?"+cred.Encode(), url.Values{"q": {q}, "db": {db.Database}})
	if err != nil {
		return nil, fmt.Errorf("influxdb query %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("influxdb query %q: %w", q, err)
	}
	var answer struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("influxdb query %q: %s: %s", q, resp.Status, body)
	}
	if answer.Error != "" {
		return nil, fmt.Errorf("influxdb query %q: %s", q, answer.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influxdb query %q: %s: %s", q, resp.Status, body)
	}
	for _, r := range answer.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxdb query %q: %s", q, r.Error)
		}
	}
	if len(answer.Results) == 0 {
		return nil, nil
	}
	return answer.Results[0].Series, nil
}

// QuoteIdent quotes an InfluxQL identifier (a measurement, tag or field name) for the
// queries of Query, Select and Count.
func QuoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
