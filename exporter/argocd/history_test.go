package argocd

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

// TestHistory reads status.history with GET /api/v1/applications/{name}: every entry,
// oldest first, with its own times; errors are the client's typed errors.
func TestHistory(t *testing.T) {
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	a := fakeargocd.NewApp("pr-300", start, fakeargocd.WithType("preview"))
	for i, rev := range []string{"r1", "r2", "r3"} {
		fakeargocd.StartSync(&a, rev, at(time.Duration(i)*time.Hour+5*time.Second))
		fakeargocd.SyncSucceeded(&a, rev, at(time.Duration(i)*time.Hour+2*time.Minute))
	}
	m := fakeargocd.NewApp("multi", start, fakeargocd.WithSources(
		fakeargocd.ApplicationSource{RepoURL: "https://github.com/acme/values.git", Ref: "values"},
		fakeargocd.ApplicationSource{RepoURL: "https://github.com/acme/web.git", TargetRevision: "main"}))
	m.Status.History = []fakeargocd.RevisionHistory{{ID: 4, Revisions: []string{"v1", "w1"}, DeployedAt: fakeargocd.NewTime(at(time.Minute))}}
	fresh := fakeargocd.NewApp("fresh", start)
	srv := fakeargocd.NewServer(t, fakeargocd.WithToken(token), fakeargocd.WithApps(a, m, fresh))
	c, _ := newTestClient(t, srv.URL(), nil)

	h, err := c.History(context.Background(), "pr-300", "argocd")
	require.NoError(t, err)
	apps, err := c.list(context.Background())
	require.NoError(t, err)
	byName := map[string]Application{}
	for _, app := range apps {
		byName[app.Metadata.Name] = app
	}
	require.Equal(t, []tracker.Deployment{
		{ID: 0, Revision: "r1", StartedAt: at(5 * time.Second), DeployedAt: at(2 * time.Minute)},
		{ID: 1, Revision: "r2", StartedAt: at(time.Hour + 5*time.Second), DeployedAt: at(time.Hour + 2*time.Minute)},
		{ID: 2, Revision: "r3", StartedAt: at(2*time.Hour + 5*time.Second), DeployedAt: at(2*time.Hour + 2*time.Minute)},
	}, defaultMapping().Deployments(byName["pr-300"], h))
	require.Nil(t, defaultMapping().Evidence(byName["pr-300"]).History, "the trimmed list leaves the history out")

	h, err = c.History(context.Background(), "multi", "")
	require.NoError(t, err)
	require.Equal(t, "w1", defaultMapping().Deployments(byName["multi"], h)[0].Revision, "the primary source's revision")

	h, err = c.History(context.Background(), "fresh", "")
	require.NoError(t, err)
	require.NotNil(t, h, "read, and empty")
	require.Empty(t, h)

	_, err = c.History(context.Background(), "gone", "")
	var apiErr *APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode)

	bad, _ := newTestClient(t, srv.URL(), func(c *clientConfig) { c.Token = "expired.token.value" })
	_, err = bad.History(context.Background(), "pr-300", "")
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.NotContains(t, err.Error(), "expired.token.value")

	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/api/v1/applications/pr-300", r.URL.Path)
		require.Equal(t, "team-a", r.URL.Query().Get("appNamespace"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"metadata":{"name":"pr-300"},"status":{"history":[{"id":0,"revision":"r1","deployedAt":"2025-01`))
	}))
	defer cut.Close()
	cc, _ := newTestClient(t, cut.URL, nil)
	_, err = cc.History(context.Background(), "pr-300", "team-a")
	var re *ResponseError
	require.True(t, errors.As(err, &re), "%v", err)
}
