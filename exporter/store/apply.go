package store

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-kit/log/level"
	bolt "go.etcd.io/bbolt"
)

// Applying the commit log to the bbolt file (wal.go). One goroutine takes the records
// acknowledged and not yet applied and writes them in one bbolt transaction, synced;
// commits go on being acknowledged meanwhile. It lets records gather for a moment
// (applyDelay, applyBatch) unless a read waits for them: a pusher's commit then syncs
// the log alone, not the log and the store file, which share the disk. Every read of the
// file first waits for the records acknowledged before it began (barrier), so that what
// a commit acknowledged is what the next read sees; so does every other writer, so that
// the file takes its changes in the order they were made. The push path's lookups
// (Known, IdempotencyKeys) read the records not yet applied in memory instead.

const (
	// applyDelay is how long the applier lets records gather, unless a read waits.
	applyDelay = 5 * time.Millisecond
	// applyBatch records are applied at once, without waiting for applyDelay.
	applyBatch = 64
	// maxQueued and maxQueuedBytes bound the records acknowledged and not yet applied
	// (and the memory they hold): a commit waits for the applier beyond them, so that a
	// store file slower than the log cannot let the log and this queue grow without end.
	maxQueued      = 256
	maxQueuedBytes = 4 << 20
	// directBytes: a commit larger than this (a first sight's thousands of events) is
	// written to the store file directly, after the records before it: the log would
	// save it little next to its own transaction, and hold its bytes twice.
	directBytes = 512 << 10
	// applyRetry is how long the applier waits, at most, before it tries a failed
	// transaction again (it starts at a tenth of it).
	applyRetry = 5 * time.Second
)

// barrier waits until every record acknowledged when it was called is applied. It
// returns the applier's error while the bbolt file refuses the records (a read then
// fails instead of answering without them).
func (s *Store) barrier() error {
	s.am.Lock()
	defer s.am.Unlock()
	target := s.appended
	return s.waitApplier(func() bool { return s.applied >= target })
}

// waitApplier waits (s.am held) until done, waking the applier at once: somebody waits
// for it. It returns the applier's error while the bbolt file refuses the records, and
// ErrClosed once the applier ended.
func (s *Store) waitApplier(done func() bool) error {
	if !done() {
		s.waiters++
		defer func() { s.waiters-- }()
		s.kick()
	}
	for !done() {
		if err := s.behind(); err != nil {
			return err
		}
		if s.applyStopped {
			return ErrClosed
		}
		s.acond.Wait()
	}
	return nil
}

// behind is the applier's error, if its last transaction failed (s.am held).
func (s *Store) behind() error {
	if s.applyErr != nil {
		return fmt.Errorf("the store file is behind its commit log: %w", s.applyErr)
	}
	return nil
}

// applierFailed reports whether the applier's last transaction failed: reads then
// answer its error, even those recent could answer.
func (s *Store) applierFailed() bool {
	s.am.Lock()
	defer s.am.Unlock()
	return s.applyErr != nil
}

// kick wakes the applier (s.am held or not).
func (s *Store) kick() {
	select {
	case s.applyKick <- struct{}{}:
	default:
	}
}

// pending returns the records acknowledged and not yet applied, in order. They are not
// changed once queued.
func (s *Store) pending() []*record {
	s.am.Lock()
	defer s.am.Unlock()
	return s.queue[:len(s.queue):len(s.queue)]
}

// enqueue hands an acknowledged record to the applier.
func (s *Store) enqueue(r *record) {
	r.queued = time.Now()
	s.am.Lock()
	s.queue = append(s.queue, r)
	s.queuedBytes += r.bytes
	s.appended = r.lsn
	n := len(s.queue)
	s.am.Unlock()
	if n == 1 || n >= applyBatch {
		s.kick() // the first starts the applier's delay; a full batch ends it
	}
}

// roomInQueue waits until the applier has room for another record (maxQueued), or
// returns its error.
func (s *Store) roomInQueue() error {
	s.am.Lock()
	defer s.am.Unlock()
	if err := s.waitApplier(func() bool {
		return len(s.queue) < maxQueued && (len(s.queue) == 0 || s.queuedBytes < maxQueuedBytes)
	}); err != nil {
		return err
	}
	return s.behind() // no commit is acknowledged that the file cannot take
}

// startApplier starts the goroutine that applies the log; stopApplier ends it.
func (s *Store) startApplier() {
	s.applyDone = make(chan struct{})
	s.applyStop = make(chan struct{})
	s.applyKick = make(chan struct{}, 1)
	go s.applyLoop()
}

// stopApplier ends the applier once nothing is left to apply, or at once while the
// bbolt file refuses what is; it reports whether everything was applied.
func (s *Store) stopApplier() bool {
	close(s.applyStop)
	<-s.applyDone
	s.am.Lock()
	defer s.am.Unlock()
	s.applyStopped = true
	s.acond.Broadcast()
	return len(s.queue) == 0
}

// next waits until records are due (see applyDelay) and returns them, or nil when the
// store closes with none left.
func (s *Store) next() []*record {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.am.Lock()
		n, waiters := len(s.queue), s.waiters
		var oldest time.Time
		if n > 0 {
			oldest = s.queue[0].queued
		}
		s.am.Unlock()
		var due <-chan time.Time
		switch {
		case n == 0:
		case waiters > 0 || n >= applyBatch || isClosed(s.applyStop):
			return s.pending()
		default:
			wait := applyDelay - time.Since(oldest)
			if wait <= 0 {
				return s.pending()
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			due = timer.C
		}
		if n == 0 && isClosed(s.applyStop) {
			return nil
		}
		select {
		case <-s.applyKick:
		case <-due:
		case <-s.applyStop:
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (s *Store) applyLoop() {
	defer close(s.applyDone)
	wait := applyRetry / 10
	for {
		batch := s.next()
		if batch == nil {
			return
		}
		s.am.Lock()
		gate := s.applyGate
		s.am.Unlock()
		if gate != nil {
			<-gate
		}
		err := s.applyRecords(batch)
		if err == nil {
			// Before the records are published as applied: a read that waited for them
			// finds the pages released, and the subscribers notified.
			written, events := 0, 0
			for _, r := range batch {
				written += len(r.states) + len(r.encoded) + len(r.keys)
				events += len(r.encoded)
			}
			s.releaseWritten(written)
			if events > 0 {
				s.broadcast() // subscribers read what is applied (their reads wait for it)
			}
		}
		s.am.Lock()
		if err != nil {
			first := s.applyErr == nil
			s.applyErr = err
			s.am.Unlock()
			s.acond.Broadcast()
			if first {
				level.Error(s.logger).Log("msg", "applying acknowledged commits to the store file failed; they are kept in the commit log, reads and commits fail until it succeeds",
					"records", len(batch), "err", err)
			}
			if isClosed(s.applyStop) {
				return // Close: the log keeps them; the next Open applies them
			}
			select {
			case <-time.After(wait):
			case <-s.applyStop:
			}
			wait = min(2*wait, applyRetry)
			continue
		}
		if s.applyErr != nil {
			level.Info(s.logger).Log("msg", "the store file took the commits it had refused", "records", len(batch))
		}
		s.applyErr, wait = nil, applyRetry/10
		s.queue = s.queue[len(batch):]
		if len(s.queue) == 0 {
			s.queue = nil // let the applied records go
		}
		for _, r := range batch {
			s.queuedBytes -= r.bytes
		}
		s.applied = batch[len(batch)-1].lsn
		s.am.Unlock()
		s.acond.Broadcast()
	}
}

// commitDirect writes r to the store file in a transaction of its own, after every
// record acknowledged before it (s.mu held): no record of the log, no lsn.
func (s *Store) commitDirect(r *record) error {
	if err := s.barrier(); err != nil {
		return err
	}
	if err := s.updateWithCursors(func(tx *bolt.Tx) error { return writeRecord(tx, r) }); err != nil {
		return err
	}
	s.releaseWritten(len(r.states) + len(r.encoded) + len(r.keys))
	if len(r.encoded) > 0 {
		s.broadcast()
	}
	return nil
}

// applyRecords writes the records in one synced bbolt transaction (with the sinks'
// lazily saved cursors).
func (s *Store) applyRecords(recs []*record) error {
	s.am.Lock()
	fault := s.applyFault
	s.am.Unlock()
	if fault != nil {
		if err := fault(); err != nil {
			return err
		}
	}
	return s.updateWithCursors(func(tx *bolt.Tx) error { return applyRecords(tx, recs) })
}

// applyRecords applies the records, in order, in tx.
func applyRecords(tx *bolt.Tx, recs []*record) error {
	for _, r := range recs {
		if err := applyRecord(tx, r); err != nil {
			return fmt.Errorf("commit %d: %w", r.lsn, err)
		}
	}
	return nil
}

// updateWithCursors runs fn in a synced bbolt transaction that also writes the sinks'
// lazily saved cursors: they ride along, no transaction of their own.
func (s *Store) updateWithCursors(fn func(*bolt.Tx) error) error {
	var cursors map[string]uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		cursors = s.takeCursors()
		if err := putCursors(tx, cursors); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		s.restoreCursors(cursors)
		return mapErr(err)
	}
	return nil
}

// applyRecord writes one record: what Commit wrote in its own transaction before the
// log.
func applyRecord(tx *bolt.Tx, r *record) error {
	meta := tx.Bucket(bucketMeta)
	if applied := decodeSeq(meta.Get(keyLogLSN)); r.lsn <= applied {
		return nil // applied before a crash that came before the log was emptied
	}
	if err := writeRecord(tx, r); err != nil {
		return err
	}
	return meta.Put(keyLogLSN, encodeSeq(r.lsn))
}

// writeRecord writes what a commit holds: its states, its events with their index
// entries and identities, its Idempotency-Keys.
func writeRecord(tx *bolt.Tx, r *record) error {
	meta := tx.Bucket(bucketMeta)
	envs := tx.Bucket(bucketEnvs)
	envs.FillPercent = statesFill
	for _, st := range r.states {
		if err := envs.Put([]byte(st.id), st.json); err != nil {
			return fmt.Errorf("state %s: %w", st.id, err)
		}
	}
	journal := tx.Bucket(bucketJournal)
	index := tx.Bucket(bucketEnvIndex)
	ids := tx.Bucket(bucketIdentities)
	journal.FillPercent, index.FillPercent, ids.FillPercent = journalFill, indexFill, indexFill
	last := decodeSeq(meta.Get(keyLastSeq))
	if len(r.encoded) > 0 && r.firstSeq != last+1 {
		return fmt.Errorf("event %d does not follow the journal's last, %d", r.firstSeq, last)
	}
	for i, v := range r.encoded {
		last = r.firstSeq + uint64(i)
		if err := journal.Put(encodeSeq(last), v); err != nil {
			return fmt.Errorf("event %d: %w", last, err)
		}
		if err := index.Put(r.indexKeys[i], []byte{}); err != nil {
			return fmt.Errorf("event %d: index: %w", last, err)
		}
	}
	if err := r.idents.put(ids); err != nil {
		return err
	}
	if len(r.keys) > 0 {
		kb, exp := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyExpiry)
		for _, k := range r.keys {
			if err := putKey(kb, exp, k.key, k.fp, r.recordedAt); err != nil {
				return err
			}
		}
	}
	if len(r.encoded) > 0 {
		return meta.Put(keyLastSeq, encodeSeq(last))
	}
	return nil
}

// replayLog applies the records of the log that the bbolt file has not (a crash came
// between their acknowledgement and their transaction), then empties the log. It runs
// in Open, before anything reads.
func (s *Store) replayLog() error {
	var applied uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		applied = decodeSeq(tx.Bucket(bucketMeta).Get(keyLogLSN))
		return nil
	}); err != nil {
		return err
	}
	s.lsn = applied
	if _, err := os.Stat(s.log.path); errors.Is(err, os.ErrNotExist) {
		return nil // nothing to apply: opening leaves the directory as it was
	}
	recs, _, err := readLog(s.log.path, s.journalID)
	if err != nil {
		return damaged(s.log.path, "commit log: %v", err)
	}
	var todo []*record
	for i, r := range recs {
		if i > 0 && r.lsn != recs[i-1].lsn+1 {
			return damaged(s.log.path, "commit log: commit %d follows %d", r.lsn, recs[i-1].lsn)
		}
		if r.lsn > applied {
			todo = append(todo, r)
		}
	}
	if len(todo) > 0 && todo[0].lsn != applied+1 {
		return damaged(s.log.path, "commit log: it begins at commit %d, the store file ends at %d", todo[0].lsn, applied)
	}
	if len(todo) > 0 {
		// One transaction: the records are what a crash kept from being applied, a few
		// hundred at most (maxQueued).
		if err := s.db.Update(func(tx *bolt.Tx) error { return applyRecords(tx, todo) }); err != nil {
			return fmt.Errorf("apply the commit log: %w", err)
		}
		s.lsn = todo[len(todo)-1].lsn
		last := uint64(0)
		for _, r := range todo {
			if n := len(r.encoded); n > 0 {
				last = r.firstSeq + uint64(n) - 1
				s.first.CompareAndSwap(0, r.firstSeq)
			}
		}
		if last > s.last.Load() {
			s.last.Store(last)
		}
		level.Info(s.logger).Log("msg", "applied the commits the store file missed from its commit log", "commits", len(todo), "last_seq", s.last.Load())
	}
	if err := s.log.create(); err != nil {
		return err
	}
	return s.log.reset() // whatever is there, a torn tail included, was applied
}
