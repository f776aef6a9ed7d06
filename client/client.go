// Package client is the Go client of envtrack's HTTP API (DESIGN §3): what the CLI's
// annotate, timeline, insights and import commands send and read, in the API's own
// types (model/apitypes). It links neither the store nor the server. Every error is
// one line that says what to do.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Client is an envtrack API client.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the envtrack at server (http://host:9465).
func New(server, token string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http(s) URL like http://localhost:9465", server)
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: timeout}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	contentType := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	}
	resp, b, err := c.exchange(ctx, method, path, contentType, rd)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return answerError(resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("envtrack's answer is not the expected JSON: %w", err)
		}
	}
	return nil
}

// Annotate posts a deployment marker (001's CI step).
func (c *Client) Annotate(ctx context.Context, m apitypes.DeploymentMarker) (apitypes.Accepted, error) {
	m.Kind = string(event.KindDeployment)
	var acc apitypes.Accepted
	err := c.do(ctx, http.MethodPost, "/api/events", m, &acc)
	return acc, err
}

// Timeline fetches one environment's timeline.
func (c *Client) Timeline(ctx context.Context, id string) (*apitypes.Timeline, error) {
	var tl apitypes.Timeline
	if err := c.do(ctx, http.MethodGet, "/api/environments/"+url.PathEscape(id)+"/timeline", nil, &tl); err != nil {
		return nil, err
	}
	return &tl, nil
}

// TimelineRaw fetches one environment's timeline as the API's JSON.
func (c *Client) TimelineRaw(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, "/api/environments/"+url.PathEscape(id)+"/timeline", nil, &raw)
	return raw, err
}

// Performance fetches the performance insights for a window (and type).
func (c *Client) Performance(ctx context.Context, window, typ string) (*apitypes.Performance, json.RawMessage, error) {
	q := url.Values{"window": {window}}
	if typ != "" {
		q.Set("type", typ)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/insights/performance-detailed?"+q.Encode(), nil, &raw); err != nil {
		return nil, nil, err
	}
	var p apitypes.Performance
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, nil, fmt.Errorf("envtrack's answer is not the expected JSON: %w", err)
	}
	return &p, raw, nil
}

// PushBatch posts a batch of events as NDJSON (one JSON object a line). A batch refused
// because of one event comes back as a *BatchRefused naming it; a batch over the
// server's limits (413) as a *TooLarge.
func (c *Client) PushBatch(ctx context.Context, ndjson []byte) (apitypes.BatchAccepted, error) {
	var acc apitypes.BatchAccepted
	resp, b, err := c.exchange(ctx, http.MethodPost, "/api/events", "application/x-ndjson", bytes.NewReader(ndjson))
	if err != nil {
		return acc, err
	}
	var be struct {
		Error string
		Index *int // set when one event is to blame
		Line  int
	}
	switch {
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		_ = json.Unmarshal(b, &be)
		return acc, &TooLarge{Message: be.Error}
	case resp.StatusCode == http.StatusUnprocessableEntity || resp.StatusCode == http.StatusBadRequest:
		if json.Unmarshal(b, &be) == nil && be.Index != nil {
			return acc, &BatchRefused{apitypes.BatchError{Error: be.Error, Index: *be.Index, Line: be.Line}}
		}
	}
	if resp.StatusCode >= 300 {
		return acc, answerError(resp, b)
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		return acc, fmt.Errorf("envtrack's answer is not the expected JSON: %w", err)
	}
	if len(acc.Events) == 0 {
		return acc, errors.New("envtrack's answer lists no events: is it older than the batch push?")
	}
	return acc, nil
}

// BatchRefused is a batch refused because of one of its events: nothing was stored.
type BatchRefused struct{ apitypes.BatchError }

func (e *BatchRefused) Error() string { return e.BatchError.Error }

// TooLarge is a batch over the server's api.max_batch or api.max_body_bytes.
type TooLarge struct{ Message string }

func (e *TooLarge) Error() string { return "batch too large: " + e.Message }

// exchange sends one request with the token and reads the whole answer (bounded); an
// error says envtrack could not be reached or read, in one line.
func (c *Client) exchange(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("cannot reach envtrack at %s: %v", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer of %s: %w", c.base.Redacted(), err)
	}
	return resp, b, nil
}

// answerError is the one-line error for an answer of status 300 or more: envtrack's
// JSON error message when it sent one.
func answerError(resp *http.Response, body []byte) error {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("envtrack answered %d: %s", resp.StatusCode, e.Error)
	}
	return fmt.Errorf("envtrack answered %s", resp.Status)
}
