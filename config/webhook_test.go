package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// TestWebhookWants: an endpoint's filters by event name and environment type, history
// (backfilled or imported events) only when asked, and journal entries that are not
// events never.
func TestWebhookWants(t *testing.T) {
	ready := event.Event{Name: event.Ready, Type: "preview"}
	backfilled := event.Event{Name: event.Ready, Type: "preview", Metadata: map[string]any{event.MetaBackfill: true}}
	marker := event.Event{Name: event.Deployed, Metadata: event.Marker{Activity: "deploy", Status: "success"}.Metadata()}
	other := event.Event{Metadata: map[string]any{event.MetaKind: "gap"}} // no event name: another kind of entry
	for _, tc := range []struct {
		name string
		cfg  WebhookConfig
		e    event.Event
		want bool
	}{
		{"no filter", WebhookConfig{}, ready, true},
		{"event listed", WebhookConfig{Events: []string{"ready"}}, ready, true},
		{"event not listed", WebhookConfig{Events: []string{"provisioning_failed"}}, ready, false},
		{"type listed", WebhookConfig{Types: []string{"preview", "staging"}}, ready, true},
		{"type not listed", WebhookConfig{Types: []string{"staging"}}, ready, false},
		{"backfill not sent by default", WebhookConfig{}, backfilled, false},
		{"backfill sent when asked", WebhookConfig{IncludeBackfill: true}, backfilled, true},
		{"a marker is deployed", WebhookConfig{Events: []string{"deployed"}}, marker, true},
		{"a marker has no type", WebhookConfig{Types: []string{"preview"}}, marker, false},
		{"not an event", WebhookConfig{IncludeBackfill: true}, other, false},
	} {
		require.Equal(t, tc.want, tc.cfg.Wants(tc.e), tc.name)
	}
}

// TestWebhookKey: the Standard Webhooks form, checked without ever quoting the secret.
func TestWebhookKey(t *testing.T) {
	key, err := WebhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	require.Len(t, key, 24)
	for _, bad := range []Secret{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnRrZXk=", "whsec_"} {
		_, err := WebhookKey(bad)
		require.Error(t, err, string(bad))
		if v := strings.TrimPrefix(string(bad), WebhookSecretPrefix); v != "" {
			require.NotContains(t, err.Error(), v, "the secret is never quoted")
		}
	}
}
