package event

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormatDuration(t *testing.T) {
	for secs, want := range map[float64]string{
		0: "0s", 0.4: "0s", 9: "9s", 9.6: "10s", 60: "1m", 225: "3m45s", 3600: "1h", 3900: "1h5m",
		3605: "1h0m5s", 93784: "26h3m4s",
	} {
		require.Equal(t, want, FormatDuration(secs), "%v", secs)
	}
}

func TestSummary(t *testing.T) {
	at := time.Date(2025, 1, 7, 10, 3, 45, 0, time.UTC)
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{EnvironmentID: "env-001", Name: Ready, Time: at, Repository: "backend-api", Branch: "main", CommitSHA: "1a2b3c4d5e6f",
			Metadata: map[string]any{MetaProvisioningDuration: 225.0}}, "env-001 ready after 3m45s (backend-api@main 1a2b3c4d)"},
		{Event{EnvironmentID: "pr-7", Name: ProvisioningFailed, Metadata: map[string]any{MetaReason: "timeout"}}, "pr-7 provisioning failed (platform): timeout"},
		{Event{EnvironmentID: "pr-7", Name: Degraded, Metadata: map[string]any{MetaCause: "url", MetaURLError: "status 503\nbad"}}, "pr-7 degraded: url: status 503 bad"},
		{Event{EnvironmentID: "staging", Name: Deployed, Metadata: Marker{Activity: "deploy-app1-1.2.34", Status: "success", Host: "web-1"}.Metadata()},
			"deploy-app1-1.2.34 success on web-1"},
	} {
		require.Equal(t, tc.want, tc.e.Summary())
	}
}
