package tags

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

func TestPair(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{KeyEnv, "env-001", "env:env-001"},
		{KeyEnv, "team:env-9", "env:team_env-9"}, // Grafana would keep "env:team" only
		{KeyApp, "  checkout ", "app:checkout"},  // Grafana trims
		{KeyRepo, "", ""},
		{KeyRepo, "   ", ""},
	} {
		require.Equal(t, c.want, Pair(c.key, c.value), "%s=%q", c.key, c.value)
	}
	require.Equal(t, "event:deployed", Event(event.Deployed))
	require.Equal(t, "envtrack-id:0011223344556677-1", EventID("0011223344556677-1"))
	require.Empty(t, EventID(""))
}
