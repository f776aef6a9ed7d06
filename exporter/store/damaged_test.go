package store

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// goodStoreBytes is a store holding some environments and a few pages of events.
func goodStoreBytes(t *testing.T) []byte {
	t.Helper()
	path := tempPath(t)
	s := openTest(t, path, newClock(t0).Now)
	for i := range 300 {
		id := "env-" + strings.Repeat("x", i%7)
		_, err := s.Commit([]tracker.State{{ID: id, Phase: tracker.PhaseReady}},
			[]event.Event{ev(id, event.Deployed, t0.Add(time.Duration(i)*time.Second))})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestOpenDamaged: every kind of damaged file makes Open fail with ErrDamaged and one
// line saying what to do, never a panic, and leaves the file as it was.
func TestOpenDamaged(t *testing.T) {
	good := goodStoreBytes(t)
	require.Greater(t, len(good), 8*4096, "the good store should span several pages")
	rnd := rand.New(rand.NewPCG(1, 2))
	randomPages := func(from int) []byte {
		b := bytes.Clone(good)
		for i := from; i < len(b); i++ {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	scribble := func(page int) []byte {
		b := bytes.Clone(good)
		for i := page * 4096; i < (page+1)*4096 && i < len(b); i++ {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	otherBolt := func(t *testing.T) []byte {
		p := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(p, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}))
		require.NoError(t, db.Close())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name    string
		content func(t *testing.T) []byte
		want    string
	}{
		{"empty", func(*testing.T) []byte { return nil }, "exists but is empty"},
		{"truncated to half", func(*testing.T) []byte { return good[:len(good)/2] }, "truncated"},
		{"truncated inside the meta pages", func(*testing.T) []byte { return good[:3000] }, "not a valid store file"},
		{"last used page cut off", func(t *testing.T) []byte { return good[:usedBytes(t, good)-4096] }, "truncated"},
		{"random pages after the metas", func(*testing.T) []byte { return randomPages(2 * 4096) }, "cannot be used"},
		{"random bytes everywhere", func(*testing.T) []byte { return randomPages(0) }, "not a valid store file"},
		{"one scribbled data page", func(t *testing.T) []byte { return scribble(journalRoot(t, good)) }, "corrupt page"},
		{"a text file", func(*testing.T) []byte { return []byte("listen_address: :9465\n") }, "not a valid store file"},
		{"a SQLite file", func(*testing.T) []byte {
			return append([]byte("SQLite format 3\x00"), make([]byte, 8192)...)
		}, "not a valid store file"},
		{"another program's bbolt file", otherBolt, "not an envtrack store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := tc.content(t)
			path := filepath.Join(t.TempDir(), "envtrack.db")
			require.NoError(t, os.WriteFile(path, content, 0o600))
			s, err := Open(path, Options{})
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			require.ErrorIs(t, err, ErrDamaged)
			msg := err.Error()
			require.Contains(t, msg, tc.want)
			require.Contains(t, msg, path)
			require.Contains(t, msg, "Restore it from a backup, or move it aside")
			require.NotContains(t, msg, "\n", "one line")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.True(t, bytes.Equal(content, after), "the damaged file was changed")
		})
	}

	t.Run("a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "envtrack.db")
		require.NoError(t, os.Mkdir(path, 0o700))
		_, err := Open(path, Options{})
		require.ErrorIs(t, err, ErrDamaged)
		require.Contains(t, err.Error(), "not a regular file")
	})
}

// TestOpenGoodStoreChangesNothing: opening and closing a complete store, as a start that
// fails after opening it does, leaves the file byte for byte as it was.
func TestOpenGoodStoreChangesNothing(t *testing.T) {
	good := goodStoreBytes(t)
	path := filepath.Join(t.TempDir(), "envtrack.db")
	require.NoError(t, os.WriteFile(path, good, 0o600))
	s, err := Open(path, Options{})
	require.NoError(t, err)
	states, err := s.Environments()
	require.NoError(t, err)
	require.Len(t, states, 7)
	require.NoError(t, s.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(good, after), "opening a good store changed it")
}

// FuzzDecodeRecords: whatever bytes a damaged or hostile file holds as a record,
// decoding it never panics, and what decodes survives a round trip through the encoder
// the store writes with.
func FuzzDecodeRecords(f *testing.F) {
	e, _ := json.Marshal(event.Event{ID: "0123456789abcdef-1", Seq: 1, EnvironmentID: "pr-1", Name: event.Ready,
		Time: t0, RecordedAt: t0, Source: "argocd", Metadata: map[string]any{"n": 1.0, "s": "x"}})
	st, _ := json.Marshal(tracker.State{ID: "pr-1", Phase: tracker.PhaseReady})
	for _, v := range [][]byte{e, st, nil, []byte("null"), []byte("{"), []byte(`{"time":"x"}`), []byte(`{"metadata":[1]}`),
		[]byte(`{"seq":-1}`), []byte(`{"phase":"\u0000"}`), []byte(`{"time":"9999-99-99T00:00:00Z"}`)} {
		f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1}, v)
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if ev, err := decodeEvent(k, v); err == nil {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("decoded event does not encode: %v", err)
			}
			again, err := decodeEvent(k, b)
			if err != nil {
				t.Fatalf("re-encoded event does not decode: %v", err)
			}
			b2, _ := json.Marshal(again)
			if !bytes.Equal(b, b2) {
				t.Fatalf("round trip changed the event:\n%s\n%s", b, b2)
			}
		} else if !strings.HasPrefix(err.Error(), "event ") {
			t.Fatalf("error does not name the record: %v", err)
		}
		if st, err := decodeState(k, v); err == nil {
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatalf("decoded state does not encode: %v", err)
			}
			again, err := decodeState(k, b)
			if err != nil || !reflect.DeepEqual(mustJSON(t, again), mustJSON(t, st)) {
				t.Fatalf("state round trip: %v", err)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readOnly opens a copy of the store bytes b read-only and runs fn in a read
// transaction of it.
func readOnly(t *testing.T, b []byte, fn func(*bolt.Tx)) {
	p := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error { fn(tx); return nil }))
}

// journalRoot is the page the journal bucket of the store b starts at: a page in use.
func journalRoot(t *testing.T, b []byte) (root int) {
	readOnly(t, b, func(tx *bolt.Tx) { root = int(tx.Bucket(bucketJournal).Root()) })
	return root
}

// usedBytes is the size a store's pages need (bbolt's high-water mark), below the file's
// size when bbolt grew the file ahead of use.
func usedBytes(t *testing.T, b []byte) (n int) {
	readOnly(t, b, func(tx *bolt.Tx) { n = int(tx.Size()) })
	return n
}
