package apitypes

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// TestMarkerBackfill (issue 19, item 4): a deployment marker marked backfill (envtrack
// import) is history; one without is live.
func TestMarkerBackfill(t *testing.T) {
	now := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	body := `{"kind":"deployment","environment":"web","application":"a","activity":"v1","status":"success","timestamp":"2025-03-04T08:00:00Z"%s}`
	_, m, err := DecodeEvent([]byte(fmt.Sprintf(body, `,"backfill":true`)), now)
	require.NoError(t, err)
	require.True(t, m.IsMarker())
	require.True(t, m.Backfill())
	_, m, err = DecodeEvent([]byte(fmt.Sprintf(body, "")), now)
	require.NoError(t, err)
	require.False(t, m.Backfill())
	_, _, err = DecodeEvent([]byte(fmt.Sprintf(body, `,"backfill":"yes"`)), now)
	require.Error(t, err)
	require.Equal(t, event.KindDeployment, m.Kind())
}
