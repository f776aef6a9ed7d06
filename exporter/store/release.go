package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Long reads release the pages they went through (releasePages): the start-up check
// every releaseEvery, scans every releaseItems records. Either bounds what one read keeps
// resident to a few MiB.
const (
	releaseEvery   = 5 * time.Millisecond
	releaseItems   = 1024
	releaseCommits = 32
)

// releaseWritten releases the mapped pages every releaseCommits commits, or once the
// commits since the last release wrote releaseItems records (n is what this
// commit wrote). bbolt copies every page a commit changes (the leaves, their branches,
// the freelist) to a new place in the file, and the next read faults the new copies
// in: some 80 KB per small commit that would stay resident until the whole file is,
// however little of it is read again. A first sight's commits write thousands of
// records each, and 32 of them left tens of MiB resident (issue 23: 100,000
// Applications).
func (s *Store) releaseWritten(n int) {
	s.relMu.Lock()
	defer s.relMu.Unlock()
	s.commits++
	s.written += n
	if s.commits < releaseCommits && s.written < releaseItems {
		return
	}
	s.commits, s.written = 0, 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		releasePages(s.db, tx)
		return nil
	})
}

// scanPager releases the pages reads went through every releaseItems records they read,
// counted across reads (Store.readSince), and at the end of a read of as many. A sink
// reads a few hundred events at a time: releasing the whole mapping after each such
// read (a system call, and page faults for the branch pages the next commit and read
// walk again) cost more than the few hundred KB it kept from being resident.
type scanPager struct {
	s  *Store
	tx *bolt.Tx
	n  int
}

func (s *Store) pager(tx *bolt.Tx) *scanPager { return &scanPager{s: s, tx: tx} }

func (p *scanPager) read() {
	p.n++
	if p.s.readSince.Add(1) >= releaseItems {
		p.release()
	}
}

func (p *scanPager) done() {
	if p.n >= releaseItems {
		p.release()
	}
}

func (p *scanPager) release() {
	p.s.readSince.Store(0)
	releasePages(p.s.db, p.tx)
}

// releaseWhile runs fn, releasing tx's pages every releaseEvery meanwhile and once at
// the end: for a read whose loop is not envtrack's (bbolt's consistency check).
func releaseWhile(db *bolt.DB, tx *bolt.Tx, fn func()) {
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(releaseEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				releasePages(db, tx)
			}
		}
	}()
	fn()
	close(stop)
	<-stopped // before tx ends: the mapping may go with it
	releasePages(db, tx)
}
