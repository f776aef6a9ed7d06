package testinfra

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/internal/proc"
	"github.com/stretchr/testify/require"
)

func TestToolsDirFromEnv(t *testing.T) {
	t.Setenv(EnvToolsDir, "/somewhere/bin")
	require.Equal(t, "/somewhere/bin", ToolsDir(t))
}

func TestToolsDirFromModuleRoot(t *testing.T) {
	t.Setenv(EnvToolsDir, "")
	dir := ToolsDir(t)
	require.Equal(t, filepath.Join(".cache", "bin"), filepath.Join(filepath.Base(filepath.Dir(dir)), filepath.Base(dir)))
	_, err := os.Stat(filepath.Join(dir, "..", "..", "go.mod"))
	require.NoError(t, err, "the tools dir is .cache/bin next to go.mod")
}

func TestToolMissingSkips(t *testing.T) {
	t.Setenv(EnvToolsDir, t.TempDir())
	t.Setenv("CI", "")
	ok := t.Run("inner", func(t *testing.T) {
		Tool(t, "no-such-binary")
		t.Error("Tool returned for a missing binary")
	})
	require.True(t, ok)
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	require.Greater(t, p, 0)
	require.Less(t, p, 65536)
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("defg"))
	require.Equal(t, "defg", b.String())
}

func TestInfluxDBStartStopRestart(t *testing.T) {
	db := StartInfluxDB(t)
	require.Equal(t, "envtrack/autogen", db.Bucket)
	require.Equal(t, "envtrack", db.Database)

	rows := db.Query(t, "SHOW RETENTION POLICIES")
	require.NotEmpty(t, rows)
	require.Equal(t, "autogen", rows[0][0])
	require.Equal(t, true, rows[0][len(rows[0])-1], "autogen is the default retention policy")

	db.Write(t, "probe,host=a value=1 1000000000\nprobe,host=b value=2 2000000000")
	require.Equal(t, 2, db.Count(t, "probe"))

	db.Stop()
	_, err := http.Get(db.URL + "/ping")
	require.Error(t, err, "stopped")

	db.Start()
	require.Equal(t, 2, db.Count(t, "probe"), "data survives a restart")
	got := db.Select(t, `SELECT "value", "host" FROM "probe" WHERE "host" = 'b'`)
	require.Equal(t, []map[string]any{{"time": time.Unix(2, 0).UTC(), "value": 2.0, "host": "b"}}, got)
}

func TestInfluxDBWithAuth(t *testing.T) {
	db := StartInfluxDB(t, WithAuth("admin", "s3cret"))
	require.Equal(t, "admin:s3cret", db.Token)
	db.Write(t, "probe value=1 1000000000")
	require.Equal(t, 1, db.Count(t, "probe"))

	resp, err := http.PostForm(db.URL+"/query", map[string][]string{"q": {"SHOW DATABASES"}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestPrometheusStartStop(t *testing.T) {
	p := StartPrometheus(t, "global:\n  scrape_interval: 1m\n", "--web.enable-lifecycle")
	resp, err := http.Get(p.URL + "/api/v1/status/buildinfo")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p.Stop()
	_, err = http.Get(p.URL + "/-/ready")
	require.Error(t, err)
}

func TestAlertmanagerStartStop(t *testing.T) {
	a := StartAlertmanager(t, "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	resp, err := http.Get(a.URL + "/api/v2/status")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	a.Stop()
	_, err = http.Get(a.URL + "/-/ready")
	require.Error(t, err)
}

// StartInfluxDB runs InfluxDB as it ships: Flux off (1.8 answers 403 to a Flux query,
// services/httpd/handler.go), InfluxQL on; WithFlux turns Flux on.
func TestInfluxDBFluxOffAsShipped(t *testing.T) {
	flux := `from(bucket: "envtrack/autogen") |> range(start: -1m)`
	for _, tc := range []struct {
		opts []InfluxDBOption
		want int
	}{
		{nil, http.StatusForbidden},
		{[]InfluxDBOption{WithFlux()}, http.StatusOK},
	} {
		db := StartInfluxDB(t, tc.opts...)
		db.Write(t, "probe value=1 1000000000")
		require.Equal(t, 1, db.Count(t, "probe"), "InfluxQL answers")
		resp, err := http.Post(db.URL+"/api/v2/query", "application/vnd.flux", strings.NewReader(flux))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, tc.want, resp.StatusCode)
	}
}

// TestStartIgnoresAnotherServerOnItsPort: when another process holds the port and
// answers the ready probe, start does not take that answer for the server's: the
// server fails to bind and start says the port was taken (starters then retry on
// other ports).
func TestStartIgnoresAnotherServerOnItsPort(t *testing.T) {
	bin := Tool(t, "prometheus")
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer decoy.Close()
	addr := decoy.Listener.Addr().String()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(conf, []byte("global: {}\n"), 0o600))
	s := newServer(t, "prometheus", bin, []string{
		"--config.file=" + conf,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}, "http://"+addr+"/-/ready", http.StatusOK)
	err := s.start()
	require.ErrorIs(t, err, proc.ErrPortTaken)
}

// TestPostgres starts PostgreSQL as DESIGN §11 says (as the postgres user when root),
// creates a database of the test's own and runs a statement in it.
func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	dsn := pg.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v))
	require.GreaterOrEqual(t, v, 130000, "PostgreSQL 13 or newer")
	var sync string
	require.NoError(t, conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sync))
	require.Equal(t, "on", sync, "as it ships")
}
