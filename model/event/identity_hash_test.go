package event

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writtenParts is how identities were hashed first (the parts written to the hash one
// by one): the index of identities a journal holds was built with it, so the parts
// hashed at once must give the same bytes.
func writtenParts(parts ...string) (f [sha256.Size]byte) {
	h := sha256.New()
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	copy(f[:], h.Sum(nil))
	return f
}

func FuzzIdentityHashUnchanged(f *testing.F) {
	f.Add("test", "app-7", "deploy-app-7-42", "success", "ci-3", int64(1736244000))
	f.Add("", "", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, env, app, activity, status, host string, sec int64) {
		e := Event{EnvironmentID: env, Name: Deployed, Time: time.Unix(sec, 0),
			Metadata: Marker{Host: host, Application: app, Activity: activity, Status: status}.Metadata()}
		id, ok := e.Identity()
		require.True(t, ok)
		want := writtenParts("marker", env, "", app, activity, status, host)
		require.Equal(t, want[:8], id[8:])
		rev := Event{EnvironmentID: env, Name: Recovered, Time: time.Unix(sec, 0), Metadata: map[string]any{MetaRevision: activity + "x"}}
		id, ok = rev.Identity()
		require.True(t, ok)
		want = writtenParts("lifecycle", env, string(Recovered), "revision", activity+"x")
		require.Equal(t, want[:8], id[8:])
		fp := FingerprintOf(env, app, activity)
		want = writtenParts(env, app, activity)
		require.Equal(t, want[:16], fp[:])
	})
}
