package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// feed is a Shared journal whose other writers' changes the test hands out.
type feed struct {
	changed []State
	gone    []string
}

func (f *feed) Fresh([]string) ([]State, []string, error) { return nil, nil, nil }
func (f *feed) Changes() ([]State, []string, error) {
	ch, g := f.changed, f.gone
	f.changed, f.gone = nil, nil
	return ch, g, nil
}

// TestFollowIndexes: the states another replica committed enter the indexes the
// periodic calls read (deadlines, URLs), and leave them when forgotten, as this
// replica's own changes do: a replica that takes the lead runs the deadlines and URL
// checks of environments it never planned itself.
func TestFollowIndexes(t *testing.T) {
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	tr := New(Config{ProvisioningTimeout: 10 * time.Minute}, nil)
	f := &feed{}
	tr.Share(f)
	f.changed = []State{{ID: "env", Source: SourceArgoCD, Phase: PhaseProvisioning, AppName: "app",
		ProvisioningStartedAt: start, AppSeenAt: start, URL: "http://env.example"}}
	ch, gone, err := tr.Follow()
	require.NoError(t, err)
	require.Equal(t, []int{1, 0}, []int{ch, gone})
	require.Equal(t, []Due{{EnvironmentID: "env", AppName: "app", Deadline: start.Add(10 * time.Minute)}},
		tr.Due(start.Add(11*time.Minute), 0))
	require.Equal(t, map[string]string{"env": "http://env.example"}, tr.URLs())

	f.gone = []string{"env"}
	_, _, err = tr.Follow()
	require.NoError(t, err)
	require.Empty(t, tr.Due(start.Add(11*time.Minute), 0))
	require.Empty(t, tr.URLs())
}
