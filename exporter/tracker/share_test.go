package tracker

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestStringsShare(t *testing.T) {
	clone := func(s string) string { return string([]byte(s)) } // a separate allocation, as JSON decoding makes
	mk := func(id string) State {
		return State{ID: clone(id), Name: clone(id), AppName: clone(id), Source: clone(SourceArgoCD), Phase: Phase(clone("ready")),
			CommitSHA: clone("abc123"), DeployedRevision: clone("abc123"),
			App: &Evidence{AppName: clone(id), EnvironmentID: clone(id), Revision: clone("abc123"), HealthStatus: clone("Healthy")}}
	}
	a, b := mk("pr-1"), mk("pr-2")
	want := []State{mk("pr-1"), mk("pr-2")}
	pool := Strings{}
	pool.Share(&a)
	pool.Share(&b)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }

	require.Equal(t, want, []State{a, b}, "values unchanged")
	require.True(t, same(a.ID, a.Name) && same(a.ID, a.AppName) && same(a.ID, a.App.AppName) && same(a.ID, a.App.EnvironmentID), "one id string per state")
	require.True(t, same(a.CommitSHA, a.DeployedRevision) && same(a.CommitSHA, a.App.Revision), "one revision string")
	require.True(t, same(a.CommitSHA, b.CommitSHA) && same(string(a.Phase), string(b.Phase)) && same(a.App.HealthStatus, b.App.HealthStatus), "values shared across states")
	require.False(t, same(a.ID, b.ID))
}
