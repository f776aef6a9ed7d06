// Package argocd is envtrack's Argo CD source (DESIGN §2): a client of the Argo CD
// REST API that lists, watches and reads Applications (small local structs, no argo-cd
// module), the Mapping that translates an Application into the tracker's evidence, and
// the Source that runs the loop (poll, or watch with its fall-back) and hands the
// observations to the tracking side.
package argocd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/clock"
)

// maxBodyBytes caps the list answer that Each reads.
const maxBodyBytes = 64 << 20

// Options are what the configuration file does not say.
type Options struct {
	UserAgent string // default config.DefaultUserAgent; the daemon adds its version
	// FullApplications asks for whole Applications instead of the `fields` whitelist.
	// Heavier, but Argo CD v2.x/v3.x drop status.sync.revision and
	// status.operationState.message from trimmed answers (their `fields` support is a
	// fixed table); with them trimmed, CommitSHA and Revision fall back to the
	// operation's revision and OpMessage stays empty.
	FullApplications bool
	// Clock is the time the source lives on (what its observations are stamped with,
	// how it waits between two looks at Argo CD); nil means the real clock, with Now
	// (nil: time.Now) stamping the observations.
	Clock Clock
	Now   func() time.Time
}

// streamKeepAlive notices a half-open connection (a NAT or load balancer that forgot it,
// a host gone without a FIN) within about 30 s: Argo CD's stream sends nothing while no
// Application changes, so without TCP probes a dead stream looks quiet until the resync.
// Go's default for HTTP clients (30 s idle, then 9 probes 15 s apart) takes almost 3
// minutes.
var streamKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

// listFields is the `fields` whitelist the list sends: what DESIGN §2 reads, plus the
// operation message and the summary. Argo CD v2.x/v3.x honour only the paths of their
// fixed table and ignore the rest silently (status.sync.revision(s),
// status.operationState.message and .syncResult.revision are kept only by older servers,
// whose filter is generic); items.status.operationState.operation.sync brings the sync
// result's revision from the newer ones.
var listFields = []string{
	"items.metadata.name",
	"items.metadata.namespace",
	"items.metadata.labels",
	"items.metadata.annotations",
	"items.metadata.creationTimestamp",
	"items.metadata.deletionTimestamp",
	"items.spec",
	"items.status.sync.status",
	"items.status.sync.revision",
	"items.status.sync.revisions",
	"items.status.health",
	"items.status.summary",
	"items.status.operationState.phase",
	"items.status.operationState.message",
	"items.status.operationState.startedAt",
	"items.status.operationState.finishedAt",
	"items.status.operationState.syncResult.revision",
	"items.status.operationState.syncResult.revisions",
	"items.status.operationState.operation.sync",
	"items.status.conditions",
}

// Client lists Argo CD Applications. It is safe for concurrent use.
type Client struct {
	logger  log.Logger
	http    *http.Client
	server  string // for messages: scheme://host/path, no credentials
	listURL string
	// streamFields is the stream's `fields` (StreamFields).
	streamFields []string
	whole        bool // Options.FullApplications: no `fields`, every answer whole
	token        string
	agent        string
	timeout      time.Duration
	maxBody      int64
	m            *metrics
	wm           *watchMetrics
	// clock times the requests out (request_timeout): a test that plays its clock
	// decides when a held answer is given up, not the wall clock.
	clock   Clock
	waiters atomic.Int64 // names the request timeouts waiting on a played clock
}

// newClient returns a Client for the argocd section cfg, as config.Load validated it
// (the server URL, the token, the request timeout and the TLS settings are checked
// there, once). It reads the CA file now, so that a file gone since the load fails at
// start (or reload), not at the first poll. Metrics are registered on reg (nil: not
// registered); registering twice on one registry (a reload) reuses the collectors.
func newClient(cfg config.ArgoCDConfig, opts Options, clk Clock, logger log.Logger, reg prometheus.Registerer) (*Client, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	base, err := url.Parse(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("argocd: server: %w", err)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	transport, err := cfg.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("argocd: %w", err)
	}
	transport.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAliveConfig: streamKeepAlive}).DialContext

	q := url.Values{}
	if cfg.Selector != "" {
		q.Set("selector", cfg.Selector)
	}
	if len(cfg.Projects) > 0 {
		q["projects"] = append([]string(nil), cfg.Projects...)
	}
	if !opts.FullApplications {
		q.Set("fields", strings.Join(listFields, ","))
	}
	listURL := base.String() + "/api/v1/applications"
	if len(q) > 0 {
		listURL += "?" + q.Encode()
	}
	agent := opts.UserAgent
	if agent == "" {
		agent = config.DefaultUserAgent
	}
	if cfg.TLS.InsecureSkipVerify && base.Scheme == "https" {
		level.Warn(logger).Log("msg", "TLS certificate verification of Argo CD is disabled", "server", redact.URL(base.String()))
	}
	return &Client{
		logger: logger,
		http: &http.Client{
			Transport: transport,
			// A redirect is a misconfigured server URL or an SSO proxy: report it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		server:       base.String(),
		listURL:      listURL,
		streamFields: StreamFields(cfg),
		whole:        opts.FullApplications,
		token:        string(cfg.Token),
		agent:        agent,
		timeout:      time.Duration(cfg.RequestTimeout),
		maxBody:      maxBodyBytes,
		m:            newMetrics(reg),
		wm:           newWatchMetrics(reg),
		clock:        clk,
	}, nil
}

// withTimeout bounds one request by argocd.request_timeout on the client's clock.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, real := c.clock.(clock.Real); real || c.clock == nil {
		return context.WithTimeout(ctx, c.timeout)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	who := fmt.Sprintf("argocd request %d", c.waiters.Add(1))
	go func() {
		if c.clock.Sleep(ctx, who, c.timeout) {
			cancel(context.DeadlineExceeded)
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// timedOut reports whether ctx (of withTimeout) ended because the request timed out.
func timedOut(ctx context.Context) bool {
	return ctx.Err() == context.DeadlineExceeded || errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}

// list returns the Applications Argo CD shows the token, with the configured selector
// and projects, or an error (*APIError, *ResponseError, *TransportError) and no
// Applications. A successful empty answer ("items":[] or null) returns an empty,
// non-nil slice: whether to trust it (the empty-list guard) is the caller's decision.
// The source keeps less than whole Applications: it uses Each.
func (c *Client) list(ctx context.Context) ([]Application, error) {
	apps := []Application{}
	if _, err := c.Each(ctx, func(a *Application) error { apps = append(apps, *a); return nil }); err != nil {
		return nil, err
	}
	return apps, nil
}

// Each lists the Applications as list does, decoding the answer item by item and calling
// fn with each (the Application is only valid during the call). On an error, fn may have
// seen part of the answer: the caller discards what it collected.
func (c *Client) Each(ctx context.Context, fn func(*Application) error) (int, error) {
	return c.each(ctx, c.listURL, fn)
}

// get sends GET u with the token: every request to Argo CD (the list, the names, an
// Application, the stream) is built here. accept is the Accept header ("": JSON).
func (c *Client) get(ctx context.Context, u, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("argocd: build request: %w", err)
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.agent)
	return c.http.Do(req)
}

func (c *Client) each(ctx context.Context, listURL string, fn func(*Application) error) (int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	start := time.Now()
	resp, err := c.get(ctx, listURL, "")
	if err != nil {
		c.m.observe("error", start)
		return 0, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, err := readLimited(resp.Body, resp.ContentLength, 64<<10)
		if err != nil && !errors.Is(err, errTooLarge) {
			c.m.observe("error", start)
			return 0, c.transportError(ctx, err)
		}
		c.m.observe(strconv.Itoa(resp.StatusCode), start)
		return 0, c.apiError(resp, body)
	}
	ct := resp.Header.Get("Content-Type")
	br := &bodyReader{r: resp.Body, max: c.maxBody}
	n, err := decodeListStream(br, ct, fn)
	switch {
	case br.err != nil && !errors.Is(br.err, errTooLarge):
		c.m.observe("error", start)
		return 0, c.transportError(ctx, br.err)
	case br.err != nil:
		c.m.observe("200", start)
		c.m.decodeErrors.Inc()
		return 0, &ResponseError{Reason: fmt.Sprintf("answer larger than %d bytes", c.maxBody), ContentType: ct}
	}
	c.m.observe("200", start)
	var re *ResponseError
	if errors.As(err, &re) {
		c.m.decodeErrors.Inc()
		return 0, c.redactErr(err)
	}
	if err != nil {
		return 0, err // fn's
	}
	c.m.lastSuccess.SetToCurrentTime()
	c.m.applications.Set(float64(n))
	level.Debug(c.logger).Log("msg", "listed applications", "count", n, "bytes", br.n, "duration", time.Since(start))
	return n, nil
}

var errTooLarge = errors.New("answer too large")

// readLimited reads at most max bytes; more is errTooLarge. size is the announced
// Content-Length (-1 if unknown), used only to size the buffer.
func readLimited(r io.Reader, size, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 && size <= max {
		buf.Grow(int(size) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// apiError reads an Argo CD error body, or keeps a snippet of whatever else came.
func (c *Client) apiError(resp *http.Response, body []byte) error {
	e := &APIError{StatusCode: resp.StatusCode}
	var eb struct {
		Error   string `json:"error"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		e.Message = "redirected to " + resp.Header.Get("Location") + "; set the server to the URL of argocd-server itself"
	case json.Unmarshal(body, &eb) == nil && (eb.Message != "" || eb.Error != ""):
		e.Code = eb.Code
		e.Message = eb.Message
		if e.Message == "" {
			e.Message = eb.Error
		}
	default:
		e.Message = snippet(body)
	}
	e.Message = c.redact(e.Message)
	return e
}

// snippet is the start of a body, on one line, for an error message.
func snippet(b []byte) string {
	const max = 200
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b[:min(len(b), 4*max)]), "?")), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func (c *Client) transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its URL repeats the long query string
	}
	timeout := errors.Is(err, context.DeadlineExceeded) || timedOut(ctx)
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		timeout = true
	}
	msg := fmt.Sprintf("argocd: list applications from %s: %v", c.server, err)
	if timeout {
		msg = fmt.Sprintf("argocd: list applications from %s: no complete answer within %s: %v", c.server, c.timeout, err)
	}
	return &TransportError{Timeout: timeout, msg: c.redact(msg), err: err}
}

// redact keeps the token out of anything that may end up in a log.
func (c *Client) redact(s string) string {
	return redact.New(c.token).String(s)
}

func (c *Client) redactErr(err error) error {
	var re *ResponseError
	if errors.As(err, &re) && re.Err != nil && strings.Contains(re.Err.Error(), c.token) {
		re.Err = errors.New(c.redact(re.Err.Error()))
	}
	return err
}
