package argocd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// RevisionHistory is one entry of status.history, as Argo CD writes it
// (pkg/apis/application/v1alpha1/types.go RevisionHistory; appended on each successful
// sync by controller/state.go persistRevisionHistory with id = last id + 1, deployedAt =
// when the controller recorded it, deployStartedAt = the operation's startedAt, and
// Revisions instead of Revision for a multi-source Application).
type RevisionHistory struct {
	ID              int64     `json:"id"`
	Revision        string    `json:"revision"`
	Revisions       []string  `json:"revisions"`
	DeployedAt      time.Time `json:"deployedAt"`
	DeployStartedAt time.Time `json:"deployStartedAt"`
}

// History reads status.history of one Application with GET /api/v1/applications/{name}
// (server/application/application.go Get), which the list's `fields` leave out on
// Argo CD v2.x/v3.x. namespace is metadata.namespace ("" for the default); it is passed
// as appNamespace, which Argo CD accepts for its own namespace and for those allowed by
// application.namespaces. Errors are *APIError, *ResponseError or *TransportError.
func (c *Client) History(ctx context.Context, name, namespace string) ([]RevisionHistory, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.server + "/api/v1/applications/" + url.PathEscape(name)
	if namespace != "" {
		u += "?" + url.Values{"appNamespace": {namespace}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("argocd: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.m.observe("error", start)
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		c.m.observe(strconv.Itoa(resp.StatusCode), start)
		return nil, c.apiError(resp, body)
	}
	// Only status.history is kept: the decoder skips the rest of the Application.
	var app struct {
		Status struct {
			History []RevisionHistory `json:"history"`
		} `json:"status"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, c.maxBody)).Decode(&app)
	if err != nil {
		if ctx.Err() != nil {
			c.m.observe("error", start)
			return nil, c.transportError(ctx, err)
		}
		c.m.observe(strconv.Itoa(resp.StatusCode), start)
		c.m.decodeErrors.Inc()
		return nil, c.redactErr(&ResponseError{Reason: "application " + name + ": malformed JSON",
			ContentType: resp.Header.Get("Content-Type"), Err: err})
	}
	c.m.observe(strconv.Itoa(resp.StatusCode), start)
	if app.Status.History == nil {
		app.Status.History = []RevisionHistory{}
	}
	return app.Status.History, nil
}

// Deployments maps status.history to tracker deployments, oldest first: the revision
// of a multi-source Application is the one of its primary source (as Evidence).
func (m Mapping) Deployments(a Application, hist []RevisionHistory) []tracker.Deployment {
	return m.DeploymentsOf(RefOf(&a), hist)
}

// HistoryRef is what reading an Application's history and mapping it needs: where the
// Application is, and which of its sources is the primary one. Kept per Application
// between answers instead of the Application itself.
type HistoryRef struct {
	Name, Namespace string
	source          int // index of the primary source in spec.sources; -1: spec.source
}

// RefOf returns a's HistoryRef.
func RefOf(a *Application) HistoryRef {
	_, idx := a.Spec.primarySource()
	return HistoryRef{Name: a.Metadata.Name, Namespace: a.Metadata.Namespace, source: idx}
}

// DeploymentsOf is Deployments for the Application ref names.
func (m Mapping) DeploymentsOf(ref HistoryRef, hist []RevisionHistory) []tracker.Deployment {
	idx := ref.source
	out := make([]tracker.Deployment, 0, len(hist))
	for _, h := range hist {
		out = append(out, tracker.Deployment{
			ID:         h.ID,
			Revision:   (&RevisionRef{Revision: h.Revision, Revisions: h.Revisions}).pick(idx),
			StartedAt:  utc(h.DeployStartedAt),
			DeployedAt: utc(h.DeployedAt),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
