package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The schema's migrations, embedded in the binary: migrations/NNNN_name.sql, applied in
// order, each in its own transaction, each recorded in envtrack_schema.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; their versions run
// 1, 2, 3... without a gap (a test checks).
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %d_%s: versions must run 1, 2, 3... (want %d)", m.version, m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this envtrack writes: its newest migration.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// advisoryLock keys the lock that serialises migrations between replicas starting at
// once ("envtrack" in ASCII).
const advisoryLock int64 = 0x656e76747261636b

// ErrSchemaNewer is wrapped by Open's error when the database was migrated by a newer
// envtrack than this one: this binary cannot know what the newer schema means, and
// changes nothing.
var ErrSchemaNewer = errors.New("database schema is newer than this envtrack")

// SchemaError is Open's one-line error for a database it must not use.
type SchemaError struct {
	Database, Binary int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("the database holds envtrack schema version %d, newer than this envtrack's %d: "+
		"run the newer envtrack (a downgrade is not supported), or point store.postgres.dsn at another database; nothing was changed",
		e.Database, e.Binary)
}

// Is makes errors.Is(err, ErrSchemaNewer) true.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaNewer }

// migrate brings the database's schema to this binary's version, under an advisory
// lock so that replicas starting together apply each migration once. It refuses a
// database whose schema is newer than the binary. It returns the migrations it applied.
func migrate(ctx context.Context, conn *pgx.Conn) (applied []int, err error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryLock); err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		// A session lock: released at the latest when the connection closes.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS envtrack_schema (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("schema table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM envtrack_schema").Scan(&current); err != nil {
		return nil, fmt.Errorf("schema version: %w", err)
	}
	if newest := ms[len(ms)-1].version; current > newest {
		return nil, &SchemaError{Database: current, Binary: newest}
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO envtrack_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}
