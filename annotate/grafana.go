// Package annotate is the Grafana annotation sink: it posts one annotation per journal
// event (DESIGN §6) through grafana-tools/sdk, tagged as model/tags defines (the
// generated dashboards query annotations by the same tags). The `envtrack annotate` CI
// step is not here: it pushes a deployment marker through envtrack's API (package
// client), and this sink annotates it like any other event.
//
// Each lifecycle event becomes an annotation tagged envtrack, event:<event>, env:<id>,
// type:<type>, repo:<repository> and envtrack-id:<event id> (plus grafana.tags; a tag
// whose value is unknown is left out), with a one-line text such as "env-001 ready after
// 3m45s (backend-api@main 1a2b3c4d)". ready and terminated are region annotations
// spanning the provisioning and termination windows. Deployment markers (001) are tagged
// envtrack, deployment, env:, app:, status: and envtrack-id:, with the text "<activity>
// <status> on <host>".
//
// # Idempotency
//
// Grafana has no idempotent create: posting an annotation twice makes two. The runner
// delivers at least once, so an event can come again after a crash between Grafana
// saving its annotation and the runner advancing the cursor, or after a request that
// timed out or lost its connection once Grafana had saved it. The sink therefore
//
//   - remembers, for the life of the process, the ids of the events it posted (or found
//     posted), and never posts those again;
//   - while it is unsure what Grafana holds (after it starts, and after any failed
//     attempt, until it finds an event Grafana lacks: events are posted in order, so
//     none after it was posted either; cursors are saved lazily, so a restart may
//     redeliver more than one batch), looks each event up before posting it,
//     GET /api/annotations?tags=envtrack-id:<id>&type=annotation&limit=1, and skips the
//     events already there (counted in envtrack_grafana_annotations_already_posted_total).
//
// In steady state a delivery costs one request per event; a look-up is added only where
// a duplicate is possible.
//
// A look-up cannot see a request still on its way: a leader paused past its lease
// (SIGSTOP, a frozen VM) may have sent, or half sent, a POST that lands after the next
// leader found nothing and posted the same event; fencing stops the writes a process
// starts after its lease ended, not one already on the wire. So the sink also reconciles
// (reconcile.go): the events it delivered while unsure are looked up again later, many
// in one request (GET /api/annotations?tags=envtrack-id:<id>&…&matchAny=true), at
// growing intervals for an hour, and of an event with more than one annotation all but
// the first Grafana stored (the lowest id) are deleted, DELETE /api/annotations/<id>
// (counted in envtrack_grafana_annotations_duplicates_deleted_total). The token
// therefore needs annotations:delete besides annotations:create (the Editor role has
// both); without it duplicates stay, and a warning says why.
//
// # Errors
//
// Transport failures, timeouts, 408, 429 and 5xx are retryable; 400, 404, 422 and other
// 4xx are permanent (the runner sets the event aside). 401 and 403 are an *AuthError,
// retryable on purpose (see AuthError). A 2xx answer without an annotation id is
// retryable: Grafana may or may not have saved it, and the look-up tells next time.
package annotate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana-tools/sdk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/tags"
)

// maxRemembered bounds the ids of posted events kept in memory. The runner only ever
// gives an event again while its batch is not done, so the most recent ids are the only
// useful ones; older ones are forgotten first.
const maxRemembered = 10000

// Sink posts events as Grafana annotations. Deliver calls are serialized.
type Sink struct {
	secrets *redact.Secrets
	cfg     config.GrafanaConfig
	apiURL  string // <base>/api/annotations
	client  *sdk.Client
	hc      *http.Client
	timeout time.Duration
	logger  log.Logger
	m       *metrics

	mu          sync.Mutex          // serializes Deliver; guards the fields below
	posted      idSet               // events known to have their annotation in Grafana
	unsure      bool                // look events up before posting them
	authFailing bool                // in a burst of 401/403 answers
	authCount   int                 // failures in the current burst
	suspects    map[string]*suspect // event id -> when to look for its duplicates (reconcile.go)
	now         func() time.Time
}

// New returns the sink for the grafana section cfg, as config.Load validated it (the
// url, the token, the tags and the timeout are checked there, once). It does no I/O. reg
// may be nil.
//
// The url is Grafana's base URL, with its sub-path if it is served under one
// (https://example.com/grafana), no credentials in it. The token is a service account
// token (or a legacy API key) allowed to create annotations (annotations:create, e.g. the
// Editor role). An empty dashboard uid means organization-wide annotations, shown by any
// dashboard that queries them by tag (Grafana silently makes an organization annotation
// when no dashboard has the uid). The tags are added to every annotation.
func New(cfg config.GrafanaConfig, logger log.Logger, reg prometheus.Registerer) (*Sink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("grafana: url: %w", err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""

	// The grafana section has no tls key: the system roots and TLS 1.2 at least, built
	// as every outgoing client's transport is.
	base, err := config.TLSConfig{}.Transport()
	if err != nil {
		return nil, fmt.Errorf("grafana: %w", err)
	}
	secrets := redact.New(string(cfg.Token))
	hc := &http.Client{
		// The answers the sink reads are scrubbed of the token first: a Grafana or a proxy
		// echoing the request in an error must not put it in a log or on the landing page.
		Transport: &transport{base: secrets.Transport(base), origin: u.Scheme + "://" + u.Host, auth: "Bearer " + string(cfg.Token)},
		// A redirect is answered as it is (a proxy's login page, http to https): it is a
		// configuration problem to report, and the token must not follow it elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The token is not given to the sdk: the transport sets "Authorization: Bearer
	// <token>" itself, as the sdk would, but for Grafana's origin only, and regardless of
	// the token's content (the sdk takes any key containing ':' for user:password basic
	// authentication).
	client, err := sdk.NewClient(u.String(), "", hc)
	if err != nil {
		return nil, fmt.Errorf("grafana: url: %w", err)
	}
	api := *u
	api.Path = path.Join(u.Path, "/api/annotations")

	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &Sink{
		secrets:  secrets,
		cfg:      cfg,
		apiURL:   api.String(),
		client:   client,
		hc:       hc,
		timeout:  time.Duration(cfg.Timeout),
		logger:   log.With(logger, "component", "grafana"),
		m:        newMetrics(reg),
		posted:   newIDSet(maxRemembered),
		unsure:   true,
		suspects: map[string]*suspect{},
		now:      time.Now,
	}, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "grafana" }

// Resume implements sink.Resumer: another replica may have posted since this sink last
// delivered, so the next deliveries look events up first.
func (s *Sink) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsure = true
}

// Deliver posts one annotation per event, in order, skipping the events whose
// annotation is known to be in Grafana already (see the package documentation).
func (s *Sink) Deliver(ctx context.Context, events []event.Event) (retry bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		if ev.ID != "" && s.posted.has(ev.ID) {
			continue
		}
		lookedUp := s.unsure && ev.ID != ""
		if lookedUp {
			found, err := s.find(ctx, ev.ID)
			if err != nil {
				return s.failed(fmt.Errorf("event %s (%s %s): %w", ev.ID, ev.Name, ev.EnvironmentID, err))
			}
			if found {
				s.posted.add(ev.ID)
				s.m.alreadyPosted.Inc()
				s.suspectLocked(ev.ID) // a stale request may still bring another
				continue
			}
			// Events are posted in order, one at a time: the first one Grafana lacks
			// was never posted, nor was any after it.
			s.unsure = false
		}
		// Checked before each post: a leader paused past its lease learns it here, on
		// its own clock, before writing what the next leader writes.
		if err := ctx.Err(); err != nil {
			return s.failed(err)
		}
		if err := s.create(ctx, render(ev, s.cfg.Tags)); err != nil {
			return s.failed(fmt.Errorf("event %s (%s %s): %w", ev.ID, ev.Name, ev.EnvironmentID, err))
		}
		if ev.ID != "" {
			s.posted.add(ev.ID)
		}
		if lookedUp {
			// Not found, so posted: the request that was on the wire when the sink
			// became unsure (another leader's, or its own that failed) may land yet.
			s.suspectLocked(ev.ID)
		}
	}
	// Deliveries check what is due too, so that a busy sink, whose runner is rarely
	// idle, reconciles all the same. A failure here is no failure of the events: they
	// are posted, and the suspects stay due.
	if err := s.reconcileLocked(ctx); err != nil {
		level.Warn(s.logger).Log("msg", "cannot look for duplicate annotations yet", "err", err)
	}
	return false, nil
}

// failed makes the next deliveries look events up first (a request that failed may have
// been saved all the same) and says whether to retry.
func (s *Sink) failed(err error) (bool, error) {
	s.unsure = true
	return retryable(err), s.secrets.Error(err)
}

// find reports whether an annotation for the event id exists.
func (s *Sink) find(ctx context.Context, id string) (bool, error) {
	const op = "find annotation"
	var list []sdk.AnnotationResponse
	ex, err := s.do(ctx, func(ctx context.Context) error {
		var err error
		list, err = s.client.GetAnnotations(ctx,
			sdk.WithTag(tags.EventID(id)), sdk.WithAnnotationType(), sdk.WithLimit(1))
		return err
	})
	if err := s.check(ctx, op, ex, err); err != nil {
		return false, err
	}
	return len(list) > 0, nil
}

// create posts a. Without a dashboard uid it uses sdk.CreateAnnotation. The sdk's
// CreateAnnotationRequest has no dashboardUID field (only the numeric dashboardId, which
// Grafana is phasing out and which differs between instances), so with a dashboard uid
// the sink posts the same JSON itself, with the same HTTP client.
func (s *Sink) create(ctx context.Context, a annotation) error {
	const op = "create annotation"
	var id uint
	ex, err := s.do(ctx, func(ctx context.Context) error {
		if s.cfg.DashboardUID == "" {
			msg, err := s.client.CreateAnnotation(ctx, sdk.CreateAnnotationRequest{
				Time: a.Time, TimeEnd: a.TimeEnd, Tags: a.Tags, Text: a.Text,
			})
			if msg.ID != nil {
				id = *msg.ID
			}
			return err
		}
		var err error
		id, err = s.createOnDashboard(ctx, a)
		return err
	})
	if err := s.check(ctx, op, ex, err); err != nil {
		return err
	}
	if id == 0 {
		return fmt.Errorf("grafana: %s: answered %d without an annotation id (%s): is grafana.url Grafana's own address?",
			op, ex.status, answerMessage(ex.body))
	}
	return nil
}

// createBody is POST /api/annotations's body with the dashboardUID the sdk lacks.
type createBody struct {
	DashboardUID string   `json:"dashboardUID"`
	Time         int64    `json:"time"`
	TimeEnd      int64    `json:"timeEnd,omitempty"`
	Tags         []string `json:"tags"`
	Text         string   `json:"text"`
}

func (s *Sink) createOnDashboard(ctx context.Context, a annotation) (uint, error) {
	b, err := json.Marshal(createBody{DashboardUID: s.cfg.DashboardUID, Time: a.Time, TimeEnd: a.TimeEnd, Tags: a.Tags, Text: a.Text})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.apiURL, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var answer struct {
		ID uint `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return 0, fmt.Errorf("decode answer: %w", err)
	}
	return answer.ID, nil
}

// do runs one request through fn with the request timeout, counting it, and returns
// what the transport saw.
func (s *Sink) do(ctx context.Context, fn func(context.Context) error) (*exchange, error) {
	ex := &exchange{}
	rctx, cancel := context.WithTimeout(withExchange(ctx, ex), s.timeout)
	defer cancel()
	err := fn(rctx)
	s.m.request(ex.status)
	return ex, err
}

// check turns an exchange into nil (a 2xx answer the sdk could read) or an error, and
// keeps the authentication state.
func (s *Sink) check(ctx context.Context, op string, ex *exchange, err error) error {
	switch {
	case ex.status == 0:
		if err == nil {
			err = errors.New("no answer")
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("grafana: %s: no answer within %s: %w", op, s.timeout, err)
		}
		return fmt.Errorf("grafana: %s: %w", op, err)
	case ex.status == http.StatusUnauthorized, ex.status == http.StatusForbidden:
		aerr := &AuthError{StatusCode: ex.status, Message: answerMessage(ex.body)}
		s.authFailed(op, aerr)
		return aerr
	case ex.status < 200 || ex.status > 299:
		msg := answerMessage(ex.body)
		if loc := ex.header.Get("Location"); loc != "" && ex.status >= 300 && ex.status < 400 {
			msg = "to " + loc
		}
		return &APIError{Op: op, StatusCode: ex.status, Message: msg}
	}
	s.authOK()
	if err != nil {
		return fmt.Errorf("grafana: %s: unusable %d answer (%s): %w", op, ex.status, answerMessage(ex.body), err)
	}
	return nil
}

// authFailed counts a 401/403 and logs the first of a burst at error level, the others
// at debug level: the runner retries for as long as the token is refused, and one line
// says it all.
func (s *Sink) authFailed(op string, err *AuthError) {
	s.m.authFailures.Inc()
	s.authCount++
	if s.authFailing {
		level.Debug(s.logger).Log("msg", "Grafana still refuses the token", "op", op,
			"status", err.StatusCode, "failures", s.authCount, "err", err)
		return
	}
	s.authFailing = true
	level.Error(s.logger).Log("msg", "Grafana refuses the token; annotations wait in the journal until it is fixed",
		"op", op, "status", err.StatusCode, "err", err)
}

// authOK ends a burst of authentication failures.
func (s *Sink) authOK() {
	if !s.authFailing {
		return
	}
	level.Info(s.logger).Log("msg", "Grafana accepts the token again", "failures", s.authCount)
	s.authFailing, s.authCount = false, 0
}

// idSet is a set of event ids that forgets the oldest beyond its capacity.
type idSet struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDSet(capacity int) idSet {
	return idSet{ids: make(map[string]struct{}), ring: make([]string, capacity)}
}

func (s *idSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *idSet) add(id string) {
	if s.has(id) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
