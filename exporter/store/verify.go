package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is wrapped by the error Open returns for a store file it cannot use: empty,
// truncated, corrupt, or not an envtrack store at all.
var ErrDamaged = errors.New("store file is damaged")

// DamagedError says what is wrong with a store file and what the operator can do. Its
// message is one line, meant to be the last thing envtrack prints before exiting.
type DamagedError struct {
	Path    string
	Problem string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("store %s cannot be used: %s; envtrack changed nothing in it. "+
		"Restore it from a backup, or move it aside (mv %s %s.damaged) to start a new, empty store (its history is then lost)",
		e.Path, e.Problem, e.Path, e.Path)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

func damaged(path, format string, args ...any) error {
	return &DamagedError{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// verifyExisting checks an existing store file before Open writes to it, read-only, so
// that a damaged file is reported and left exactly as it was: bbolt would otherwise turn
// an empty file into a new store (silently losing the history the operator expected) and
// panic or fault on a truncated one. A missing file is fine: Open creates it.
//
// The check is bbolt's own consistency check (every page reachable or free, no page
// referenced twice) plus envtrack's layout. Its cost grows with the file; a store holding
// the default 30 days of events is small (see docs/benchmarks.md).
func verifyExisting(path string, timeout time.Duration) (err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return damaged(path, "it is not a regular file")
	case fi.Size() == 0:
		return damaged(path, "the file exists but is empty (0 bytes), so it holds no store")
	}

	// A corrupt page can make bbolt index outside its slices (a panic) or read outside
	// the mapping (a fault); both become this error instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, "reading it failed: %v", r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("open store %s: %w (gave up after %s)", path, ErrLocked, timeout)
	}
	if err != nil {
		return damaged(path, "it is not a valid store file (%v)", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); fi.Size() < need {
			return damaged(path, "it is truncated: %d bytes, but its pages need %d", fi.Size(), need)
		}
		var problems []error
		// The check reads every page: release them as it goes, so that it never holds
		// the whole file resident (see releasePages).
		releaseWhile(db, tx, func() {
			for err := range tx.Check() {
				problems = append(problems, err)
			}
		})
		if len(problems) > 0 {
			// bbolt reports a page it could not even walk as "panic: ...": it recovered it.
			first := strings.TrimPrefix(problems[0].Error(), "panic: ")
			return damaged(path, "%d corrupt page(s), first: %s", len(problems), first)
		}
		return verifyLayout(path, tx)
	})
}

// verifyLayout checks that a bbolt file is an envtrack store. A bbolt file without any
// bucket is one whose creation was interrupted before its first transaction: Open
// completes it.
func verifyLayout(path string, tx *bolt.Tx) error {
	n := 0
	if err := tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil }); err != nil {
		return damaged(path, "reading its buckets failed: %v", err)
	}
	if n == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return damaged(path, "it is a bbolt file but not an envtrack store (no %q bucket)", bucketMeta)
	}
	if v := meta.Get(keySchema); v != nil && string(v) != SchemaVersion && string(v) != schemaV1 {
		return damaged(path, "unsupported schema version %q (this envtrack reads %q)", v, SchemaVersion)
	}
	if v := meta.Get(keyLastSeq); v != nil && len(v) != 8 {
		return damaged(path, "meta %s is %d bytes, want 8", keyLastSeq, len(v))
	}
	if j := tx.Bucket(bucketJournal); j != nil {
		c := j.Cursor()
		for _, k := range [][]byte{first(c), last(c)} {
			if k != nil && len(k) != 8 {
				return damaged(path, "journal key %x is %d bytes, want 8", k, len(k))
			}
		}
	}
	return nil
}

func first(c *bolt.Cursor) []byte { k, _ := c.First(); return k }
func last(c *bolt.Cursor) []byte  { k, _ := c.Last(); return k }
