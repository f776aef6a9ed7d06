package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
)

// The commit log. A commit is acknowledged once it is in the log beside the bbolt file
// (one append and one fdatasync of a file written in order), and applied to the bbolt
// file behind it, by one goroutine, several commits to a transaction (apply.go). A bbolt
// commit writes every page it changed where the page falls in the file (a push of a few
// markers changed some twenty: the journal's, the environment index's, the identities'),
// syncs them, then writes and syncs its meta page; a pusher waited for all of it, and
// while it waited no other work was left to overlap it. bbolt without its syncs is not
// an answer: after a power loss its meta page may point at pages that never reached the
// disk.
//
// A record is framed as length (uint32), CRC-32C of the payload (uint32), payload;
// the payload is
//
//	version (1), journal id (uvarint length, bytes), lsn (uvarint),
//	recorded at (varint, unix ns),
//	states: count, then each: id, JSON            (uvarint lengths)
//	events: count, then each: the journal's value (the event as stored, its seq in it)
//	keys:   count, then each: key, fingerprint (16 bytes)
//
// The lsn counts commits; the bbolt file keeps the last one applied (meta log_lsn), in
// the transaction that applies it, so that a record is applied once whatever the crash.
// Open applies the records after it, then empties the log; so does Close, which removes
// the file, leaving the store one file again. A record that does not read back whole
// (length or CRC) ends the log: it is the tail of an append a crash interrupted, which
// was never acknowledged.
const logSuffix = "-wal"

// logResetBytes: once the log is this long, the next commit waits for the records
// before it to be applied and empties the log first, so that what a start replays
// stays short.
const logResetBytes = 4 << 20

// maxRecordBytes bounds a record a read believes: a length beyond it is a damaged tail.
const maxRecordBytes = 1 << 30

const recordVersion = 1

var (
	keyLogLSN  = []byte("log_lsn")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// stateRecord is one state of a commit, as stored.
type stateRecord struct {
	id   string
	json []byte
}

// keyRecord is one Idempotency-Key of a commit.
type keyRecord struct {
	key string
	fp  event.Fingerprint
}

// record is one commit, in the log and on its way to the bbolt file.
type record struct {
	lsn        uint64
	recordedAt time.Time
	states     []stateRecord
	firstSeq   uint64   // the seq of the first event (none: 0)
	encoded    [][]byte // the journal's value of each event (seqs firstSeq on)
	indexKeys  [][]byte // each event's env_index key
	idents     identityPuts
	keys       []keyRecord
	queued     time.Time // when the commit was acknowledged (the applier's delay)
	bytes      int       // size(), once the record is complete
}

// size is about the bytes r holds: what its frame takes.
func (r *record) size() int {
	n := 64
	for _, st := range r.states {
		n += len(st.id) + len(st.json) + 8
	}
	for _, b := range r.encoded {
		n += len(b) + 4
	}
	for _, k := range r.keys {
		n += len(k.key) + 20
	}
	return n
}

// appendFrame appends r's frame to dst.
func appendFrame(dst []byte, journalID string, r *record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // length and CRC, below
	dst = append(dst, recordVersion)
	dst = appendBytes(dst, []byte(journalID))
	dst = binary.AppendUvarint(dst, r.lsn)
	dst = binary.AppendVarint(dst, r.recordedAt.UnixNano())
	dst = binary.AppendUvarint(dst, uint64(len(r.states)))
	for _, st := range r.states {
		dst = appendBytes(dst, []byte(st.id))
		dst = appendBytes(dst, st.json)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.encoded)))
	for _, b := range r.encoded {
		dst = appendBytes(dst, b)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.keys)))
	for _, k := range r.keys {
		dst = appendBytes(dst, []byte(k.key))
		dst = append(dst, k.fp[:]...)
	}
	payload := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// errShort: the payload ends inside a field.
var errShort = errors.New("record ends inside a field")

type payloadReader struct{ b []byte }

func (p *payloadReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		return 0, errShort
	}
	p.b = p.b[n:]
	return v, nil
}

func (p *payloadReader) bytes() ([]byte, error) {
	n, err := p.uvarint()
	if err != nil || n > uint64(len(p.b)) {
		return nil, errShort
	}
	b := p.b[:n:n]
	p.b = p.b[n:]
	return b, nil
}

// count reads a count of items of at least min bytes each: a count the rest cannot hold
// is damage, not an allocation to make.
func (p *payloadReader) count(min int) (int, error) {
	n, err := p.uvarint()
	if err != nil || n > uint64(len(p.b)/min) {
		return 0, errShort
	}
	return int(n), nil
}

// decodeRecord reads one record's payload (checked by its CRC) written for journalID.
// Its events are decoded from their journal values, their identities gathered.
func decodeRecord(payload []byte, journalID string) (*record, error) {
	if len(payload) == 0 || payload[0] != recordVersion {
		return nil, fmt.Errorf("record version %v, not %d", payload[:min(1, len(payload))], recordVersion)
	}
	p := &payloadReader{b: payload[1:]}
	id, err := p.bytes()
	if err != nil {
		return nil, err
	}
	if string(id) != journalID {
		return nil, fmt.Errorf("record of journal %q, not of this store's %q", id, journalID)
	}
	r := &record{}
	if r.lsn, err = p.uvarint(); err != nil {
		return nil, err
	}
	at, n := binary.Varint(p.b)
	if n <= 0 {
		return nil, errShort
	}
	p.b = p.b[n:]
	r.recordedAt = time.Unix(0, at).UTC()
	ns, err := p.count(2)
	if err != nil {
		return nil, err
	}
	for range ns {
		id, err := p.bytes()
		if err != nil {
			return nil, err
		}
		js, err := p.bytes()
		if err != nil {
			return nil, err
		}
		r.states = append(r.states, stateRecord{id: string(id), json: js})
	}
	ne, err := p.count(1)
	if err != nil {
		return nil, err
	}
	for range ne {
		v, err := p.bytes()
		if err != nil {
			return nil, err
		}
		ev, err := decodeEvent(nil, v)
		if err != nil {
			return nil, err
		}
		if len(r.encoded) == 0 {
			r.firstSeq = ev.Seq
		} else if ev.Seq != r.firstSeq+uint64(len(r.encoded)) {
			return nil, fmt.Errorf("event %d after event %d", ev.Seq, r.firstSeq+uint64(len(r.encoded))-1)
		}
		r.encoded = append(r.encoded, v)
		r.indexKeys = append(r.indexKeys, indexKey(ev.EnvironmentID, ev.Seq))
		r.idents.add(&ev)
	}
	r.idents.sort()
	nk, err := p.count(17)
	if err != nil {
		return nil, err
	}
	for range nk {
		k, err := p.bytes()
		if err != nil {
			return nil, err
		}
		if len(p.b) < 16 {
			return nil, errShort
		}
		r.keys = append(r.keys, keyRecord{key: string(k), fp: event.Fingerprint(p.b[:16])})
		p.b = p.b[16:]
	}
	if len(p.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the record", len(p.b))
	}
	return r, nil
}

// commitLog is the log file. It is written by the committer (Store.mu held) and read
// only by Open.
type commitLog struct {
	path   string
	f      *os.File // nil until the first append
	size   int64
	noSync bool
	// broken: a write or sync failed. What the file holds after a failed fdatasync is
	// not known (the kernel may have dropped the pages it could not write), so the log
	// takes no more records until the store is opened again, which reads what is there.
	broken error
}

// readLog reads the records of the log at path (none when there is no file), up to the
// first that does not read back whole, and returns them with the length of the valid
// part. A record that reads back whole but does not decode is damage: an error.
func readLog(path, journalID string) ([]*record, int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return readLogBytes(b, journalID)
}

// readLogBytes is readLog of the log's bytes.
func readLogBytes(b []byte, journalID string) ([]*record, int64, error) {
	var recs []*record
	off := int64(0)
	for len(b) >= 8 {
		n := binary.BigEndian.Uint32(b)
		if n == 0 || n > maxRecordBytes || int64(n) > int64(len(b)-8) {
			break
		}
		payload := b[8 : 8+n]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		r, err := decodeRecord(payload, journalID)
		if err != nil {
			return nil, 0, fmt.Errorf("record at offset %d: %w", off, err)
		}
		recs = append(recs, r)
		off += 8 + int64(n)
		b = b[8+n:]
	}
	return recs, off, nil
}

// append writes frame at the end of the log and syncs it. On an error the log is
// broken (see commitLog.broken) unless the file could be cut back to what it held.
func (l *commitLog) append(frame []byte) error {
	if l.broken != nil {
		return l.broken
	}
	if l.f == nil {
		if err := l.create(); err != nil {
			return err
		}
	}
	_, err := l.f.WriteAt(frame, l.size)
	if err == nil && !l.noSync {
		err = fdatasync(l.f)
		if err != nil {
			l.broken = fmt.Errorf("commit log %s: sync failed, the log takes no more commits until envtrack restarts: %w", l.path, err)
			return l.broken
		}
	}
	if err != nil {
		// A short write leaves a torn record: cut it off, or no record after it would
		// read back.
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = fmt.Errorf("commit log %s: %w (and cutting it back failed: %v)", l.path, err, terr)
			return l.broken
		}
		return fmt.Errorf("commit log %s: %w", l.path, err)
	}
	l.size += int64(len(frame))
	return nil
}

// create creates the file and syncs its directory, so that the file a record was
// acknowledged in is still there after a power loss.
func (l *commitLog) create() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("commit log: %w", err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil && !l.noSync {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("commit log %s: %w", l.path, err)
	}
	l.f, l.size = f, size
	return nil
}

// reset empties the log once every record in it was applied (and the bbolt file
// synced).
func (l *commitLog) reset() error {
	if l.broken != nil {
		return l.broken
	}
	if l.f == nil || l.size == 0 {
		return nil
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("commit log %s: %w", l.path, err)
	}
	if !l.noSync {
		if err := l.f.Sync(); err != nil {
			l.broken = fmt.Errorf("commit log %s: sync failed: %w", l.path, err)
			return l.broken
		}
	}
	l.size = 0
	return nil
}

// remove deletes the log (every record in it applied): a closed store is one file.
func (l *commitLog) remove() error {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (l *commitLog) close() {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
