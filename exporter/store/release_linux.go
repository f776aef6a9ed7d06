package store

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releasePages drops the store file's pages from this process's resident set (madvise
// MADV_DONTNEED on bbolt's read-only shared mapping). A scan of the whole file (the
// start-up check, loading every state, the page cache's first load) would otherwise
// leave it all resident and count in the process's peak RSS, although the kernel keeps
// the pages in its page cache anyway: a later read faults them back in from there, with
// the same bytes, since bbolt writes through the file, never through the mapping.
//
// It must run inside a transaction of db (tx): a transaction holds bbolt's mmap lock, so
// the mapping cannot move or shrink meanwhile, and tx.Size() lies within it. The raw
// syscall takes the mapping's address as bbolt reports it (an address outside Go's
// heap), without converting it back to a pointer.
func releasePages(db *bolt.DB, tx *bolt.Tx) {
	if n := tx.Size(); n > 0 {
		// Advice only: failing it costs memory, never data.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(n), unix.MADV_DONTNEED)
	}
}
