package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/blueberry-idp/envtrack/internal/proc"
)

// EnvPostgresDSN names the environment variable that points the tests at an existing
// PostgreSQL server instead of starting one: a DSN of a role that may create databases
// (each test gets its own, dropped when it ends).
const EnvPostgresDSN = "ENVTRACK_TEST_POSTGRES_DSN"

// pgReady is the line PostgreSQL logs once it accepts connections.
const pgReady = "database system is ready to accept connections"

// Postgres is a PostgreSQL server for tests: Debian's `postgresql` package started in a
// temporary directory on a free 127.0.0.1 port (DESIGN §11), as the postgres user when
// the test runs as root (initdb and postgres refuse root), or the server that
// ENVTRACK_TEST_POSTGRES_DSN names.
type Postgres struct {
	t     testing.TB
	admin string // DSN of the maintenance database, as a role that may create databases
	Dir   string // the data directory ("" for an existing server)
	Port  int

	mu  sync.Mutex
	p   *proc.Process
	out *tailBuffer
	bin string
	usr string // the user the server runs as ("" for this process's)
}

// pgBinDir finds Debian's PostgreSQL binaries: the newest /usr/lib/postgresql/N/bin, or
// the directory of initdb on PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin nor on PATH (apt-get install postgresql)")
}

// StartPostgres starts a PostgreSQL server for the test (or uses the one
// ENVTRACK_TEST_POSTGRES_DSN names) and stops it when the test ends. Without PostgreSQL
// installed the test is skipped, or fails with CI=true (`make test` installs it there).
// The server runs as it ships (fsync and synchronous_commit on) but for its address.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
		return &Postgres{t: t, admin: dsn}
	}
	binDir, err := pgBinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testinfra: PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("testinfra: PostgreSQL not available: %v", err)
	}
	pg := &Postgres{t: t, out: newTailBuffer(), bin: filepath.Join(binDir, "postgres")}
	if os.Geteuid() == 0 {
		pg.usr = "postgres"
	}
	// Not t.TempDir: its parent is private to this user, and the server's user must
	// reach the directory.
	dir, err := os.MkdirTemp("", "envtrack-pg-")
	if err != nil {
		t.Fatalf("testinfra: %v", err)
	}
	pg.Dir = dir
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("testinfra: %v", err)
		}
		if t.Failed() {
			t.Logf("testinfra: postgres output (tail):\n%s", pg.out.String())
		}
		_ = os.RemoveAll(dir)
	})
	if pg.usr != "" {
		cred, err := proc.Credential(pg.usr)
		if err != nil {
			t.Fatalf("testinfra: running as root, PostgreSQL needs the postgres user: %v", err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("testinfra: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = "/"
	if pg.usr != "" {
		cred, _ := proc.Credential(pg.usr)
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testinfra: initdb: %v\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		pg.Port = FreePort(t)
		err := pg.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, proc.ErrPortTaken) || attempt == 3 {
			t.Fatalf("testinfra: %v", err)
		}
	}
	pg.admin = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)
	return pg
}

// Start starts the server (again, after Stop or Kill) on its port and data directory,
// and waits until it accepts connections.
func (pg *Postgres) Start() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.Dir == "" {
		return errors.New("postgres: an existing server is not started by the tests")
	}
	if pg.p != nil && !pg.p.Exited() {
		return errors.New("postgres is already running")
	}
	args := []string{"-D", filepath.Join(pg.Dir, "data"), "-p", strconv.Itoa(pg.Port), "-k", pg.Dir,
		"-c", "listen_addresses=127.0.0.1"}
	p, err := proc.StartAs("postgres", pg.bin, args, pg.out, pg.usr, pgReady)
	if err != nil {
		return err
	}
	pg.p = p
	if err := p.WaitLog(context.Background(), pgReady, readyTimeout); err != nil {
		_ = p.StopWith(syscall.SIGINT, stopTimeout)
		return fmt.Errorf("%w\npostgres output (tail):\n%s", err, pg.out.String())
	}
	return nil
}

// Stop stops the server (fast shutdown: open sessions are cut) and waits for it.
func (pg *Postgres) Stop() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.p == nil {
		return nil
	}
	return pg.p.StopWith(syscall.SIGINT, stopTimeout)
}

// NewDatabase creates a database of its own for the test and returns its DSN; with an
// existing server the database is dropped when the test ends.
func (pg *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "envtrack_test_" + hex.EncodeToString(b[:])
	pg.Exec(t, "CREATE DATABASE "+name)
	if pg.Dir == "" {
		t.Cleanup(func() { pg.Exec(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	}
	u, err := url.Parse(pg.admin)
	if err != nil {
		t.Fatalf("testinfra: %s: %v", EnvPostgresDSN, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs one statement on the maintenance database.
func (pg *Postgres) Exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.admin)
	if err != nil {
		t.Fatalf("testinfra: postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testinfra: postgres: %s: %v", sql, err)
	}
}

// Pid is the process id of the server's postmaster (0 for an existing server): its
// backends are its children.
func (pg *Postgres) Pid() int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.p == nil {
		return 0
	}
	return pg.p.Pid()
}

// Output returns the tail of the server's output.
func (pg *Postgres) Output() string {
	if pg.out == nil {
		return ""
	}
	return pg.out.String()
}
