package argocd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log/level"

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
	// Only status.history is kept: the decoder skips the rest of the Application.
	var app struct {
		Status struct {
			History []RevisionHistory `json:"history"`
		} `json:"status"`
	}
	if err := c.getApplication(ctx, name, namespace, &app); err != nil {
		return nil, err
	}
	if app.Status.History == nil {
		app.Status.History = []RevisionHistory{}
	}
	return app.Status.History, nil
}

// Application reads one whole Application with GET /api/v1/applications/{name}, status.history
// included (a nil History becomes empty: the answer always carries it). It is the answer a
// deadline waits for (tracker.Due): asked for after the deadline, it shows the Application
// as it is then, whatever the stream shows. Errors are as History's; a 403 or 404 does
// not mean that the Application is gone (DESIGN §2).
func (c *Client) Application(ctx context.Context, name, namespace string) (*Application, error) {
	var app Application
	if err := c.getApplication(ctx, name, namespace, &app); err != nil {
		return nil, err
	}
	if app.Status.History == nil {
		app.Status.History = []RevisionHistory{}
	}
	return &app, nil
}

// getApplication decodes GET /api/v1/applications/{name} into v. namespace is passed as
// appNamespace ("" for the default).
func (c *Client) getApplication(ctx context.Context, name, namespace string, v any) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	u := c.server + "/api/v1/applications/" + url.PathEscape(name)
	if namespace != "" {
		u += "?" + url.Values{"appNamespace": {namespace}}.Encode()
	}
	start := time.Now()
	resp, err := c.get(ctx, u, "")
	if err != nil {
		c.m.observe("error", start)
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		c.m.observe(strconv.Itoa(resp.StatusCode), start)
		return c.apiError(resp, body)
	}
	if err = json.NewDecoder(io.LimitReader(resp.Body, c.maxBody)).Decode(v); err != nil {
		if ctx.Err() != nil {
			c.m.observe("error", start)
			return c.transportError(ctx, err)
		}
		c.m.observe(strconv.Itoa(resp.StatusCode), start)
		c.m.decodeErrors.Inc()
		return c.redactErr(&ResponseError{Reason: "application " + name + ": malformed JSON",
			ContentType: resp.Header.Get("Content-Type"), Err: err})
	}
	c.m.observe(strconv.Itoa(resp.StatusCode), start)
	return nil
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
	ns := a.Metadata.Namespace // one value for most Applications, held for each: one copy
	intern(&ns)
	return HistoryRef{Name: a.Metadata.Name, Namespace: ns, source: idx}
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

// readHistory fetches status.history for the Applications the tracker needs it for
// (tracker.NeedsHistory: an operation completed since the last one read, or the first
// sight of one running before tracking began). A failed fetch defers that
// Application's deployments to the next poll (HistoryPending); an Application seen
// for the first time is left out of this poll instead, so its backfill is not lost
// (being untracked, it cannot count as absent). It returns ctx's error if ctx ends.
func (s *Source) readHistory(ctx context.Context, t Tracker, apps []HistoryRef, evidence []tracker.Evidence) ([]tracker.Evidence, error) {
	need := t.NeedsHistory(evidence)
	var (
		wg     sync.WaitGroup
		failed = make([]error, len(evidence))
	)
	for i := range evidence {
		if !need[i] {
			continue
		}
		wg.Add(1)
		s.reads <- struct{}{}
		go func() {
			defer func() { <-s.reads; wg.Done() }()
			h, err := s.client.History(ctx, apps[i].Name, apps[i].Namespace)
			if err != nil {
				failed[i] = err
				return
			}
			evidence[i].History = s.mapping.DeploymentsOf(apps[i], h)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := evidence[:0] // in place: out[j] is written only after evidence[j] was read
	nFailed := 0
	for i, ev := range evidence {
		if failed[i] != nil {
			nFailed++
			if nFailed == 1 {
				level.Warn(s.logger).Log("msg", "reading an Application's history failed; its deployments wait for the next poll",
					"application", ev.AppName, "err", failed[i])
			}
			id := ev.EnvironmentID
			if id == "" {
				id = ev.AppName
			}
			if _, tracked := t.Get(id); !tracked {
				continue
			}
			ev.HistoryPending = true
		}
		out = append(out, ev)
	}
	return out, nil
}
