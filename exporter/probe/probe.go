// Package probe checks environments' URLs: one HTTP GET per target, whose status code
// decides whether the URL "answers as expected" (DESIGN §2). Run probes them every
// readiness.url.interval and hands the results to the tracker as observations.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/metric"
)

const (
	// MaxRedirects is how many redirects a probe follows; one more fails the probe.
	MaxRedirects = 5
	// maxBody is how much of an answer's body is read (and discarded) so that the
	// connection can be reused; the rest is dropped with the connection.
	maxBody = 64 << 10
	// maxErrLen bounds ProbeResult.Err.
	maxErrLen = 200
)

// Options are what the configuration file does not say.
type Options struct {
	UserAgent string // default config.DefaultUserAgent; the daemon adds its version
	// Clock paces Run's rounds and stamps its results; nil means the real clock, with
	// New's now stamping the results.
	Clock Clock
}

// settings are the readiness.url section, as the prober reads it.
type settings struct {
	interval, timeout time.Duration
	concurrency       int
	match             func(code int) bool // the final status code (after redirects) means "up"
	userAgent         string
	crossHost         bool            // follow redirects to another host
	deny              config.Networks // never connect there
}

// The error classes a failed probe reports (ProbeResult.Err), and all it reports: the
// URLs come from whoever may write an Application or push an event, and the reason a
// connection failed (refused, reset, no route, a certificate's names) or the exact
// status code would make envtrack a scanner of the networks it reaches. The detail goes
// to the debug log only.
const (
	ErrUnreachable  = "unreachable" // no connection: DNS, refused, reset, no route, a denied network
	ErrTimeout      = "timeout"     // no complete answer within readiness.url.timeout
	ErrTLS          = "tls"         // the TLS handshake or the certificate failed
	ErrRedirects    = "too many redirects"
	ErrInvalidURL   = "invalid URL"
	statusClassText = "status %dxx" // an answer with an unexpected status code: its class only
)

// StatusClass is the error of an answer whose status code was not expected: its class
// ("status 4xx"), never the code.
func StatusClass(code int) string { return fmt.Sprintf(statusClassText, code/100) }

var (
	// errDenied is a connection refused by readiness.url.deny_networks.
	errDenied           = errors.New("address in readiness.url.deny_networks")
	errTooManyRedirects = fmt.Errorf("stopped after %d redirects", MaxRedirects)
)

// Target is one URL to probe, for one environment.
type Target struct {
	EnvironmentID, URL string
}

// Prober probes URLs with one shared http.Client. It is safe for concurrent use.
type Prober struct {
	cfg    settings
	client *http.Client
	logger log.Logger
	now    func() time.Time
	clock  Clock // Run's; nil: the real clock

	duration prometheus.Histogram
	results  *prometheus.CounterVec
	inFlight prometheus.Gauge
}

// New returns a Prober for the readiness.url section c, as config.Load validated it (the
// interval between two probes of a target, not shorter than the timeout of one probe,
// connection, TLS, redirects and headers included; how many probes ProbeAll runs at once;
// the expected status codes, where a 3xx is final only when the redirect had no Location
// to follow; the TLS settings). It builds the HTTP client, reading the CA file now, and
// registers the metrics with reg (nil: not registered; collectors already registered by
// an earlier Prober on reg are reused). now stamps ProbeResult.At; nil means time.Now.
//
// The client follows up to MaxRedirects redirects on the target's host (to any host
// with follow_cross_host_redirects; otherwise a redirect elsewhere is the final answer,
// matched by its 3xx status), never connects to an address in deny_networks, keeps
// connections alive between probes, uses the proxy from the environment (HTTP_PROXY,
// NO_PROXY, ...; the deny list then applies to the proxy's address) and sends no
// credentials other than those written in a target's URL.
func New(c config.URLConfig, opts Options, logger log.Logger, reg prometheus.Registerer, now func() time.Time) (*Prober, error) {
	cfg := settings{interval: time.Duration(c.Interval), timeout: time.Duration(c.Timeout), concurrency: c.Concurrency,
		match: c.ExpectedStatus.Match, userAgent: opts.UserAgent, crossHost: c.FollowCrossHostRedirects, deny: c.DenyNetworks}
	if cfg.userAgent == "" {
		cfg.userAgent = config.DefaultUserAgent
	}
	transport, err := c.TLS.Transport()
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	transport.MaxIdleConnsPerHost = cfg.concurrency
	// The deny list is checked on the address the probe connects to, once DNS has
	// answered (Control runs just before connect): a name that resolves, or is made to
	// resolve (DNS rebinding), into a denied network is refused all the same.
	transport.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: denyControl(cfg.deny)}).DialContext

	if logger == nil {
		logger = log.NewNopLogger()
	}
	if opts.Clock != nil {
		now = opts.Clock.Now
	}
	if now == nil {
		now = time.Now
	}
	p := &Prober{
		cfg: cfg,
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > MaxRedirects {
					return errTooManyRedirects
				}
				if !cfg.crossHost && !strings.EqualFold(req.URL.Hostname(), via[0].URL.Hostname()) {
					return http.ErrUseLastResponse // the redirect is the answer
				}
				return nil
			},
		},
		logger:   logger,
		now:      now,
		duration: metric.ProbeDuration.NewHistogram(reg),
		results:  metric.ProbeResults.NewCounterVec(reg),
		inFlight: metric.ProbesInFlight.NewGauge(reg),
		clock:    opts.Clock,
	}
	p.results.WithLabelValues("success")
	p.results.WithLabelValues("failure")
	return p, nil
}

// Probe sends one GET to t.URL and reports the result: At is the start time (from now),
// OK says whether an answer came within the timeout with a status code that Match
// accepts, StatusCode is the answer's (0 when none) and Err, when not OK, says why as
// one of the error classes (ErrUnreachable, ErrTimeout, ErrTLS, ErrRedirects,
// ErrInvalidURL, StatusClass), the detail going to the debug log. At most 64 KiB of the
// body is read, and discarded.
//
// When ctx ends during the probe, the result is a failure whose Err starts with
// "canceled", not counted in the metrics: a caller that cancelled should drop it rather
// than hand it to the tracker.
func (p *Prober) Probe(ctx context.Context, t Target) tracker.ProbeResult {
	res := tracker.ProbeResult{URL: t.URL, At: p.now()}
	p.inFlight.Inc()
	defer p.inFlight.Dec()
	start := time.Now()

	code, err := p.get(ctx, t.URL)
	res.StatusCode = code
	var detail string
	switch {
	case ctx.Err() != nil:
		res.Err = "canceled: " + ctx.Err().Error()
		return res
	case err != nil:
		res.Err, detail = classify(err), describe(err, t.URL, p.cfg.timeout)
	case !p.cfg.match(code):
		res.Err, detail = StatusClass(code), fmt.Sprintf("unexpected status code %d", code)
	default:
		res.OK = true
	}
	p.duration.Observe(time.Since(start).Seconds())
	if res.OK {
		p.results.WithLabelValues("success").Inc()
	} else {
		p.results.WithLabelValues("failure").Inc()
		level.Debug(p.logger).Log("msg", "probe failed", "environment_id", t.EnvironmentID,
			"url", redact.URL(t.URL), "err", res.Err, "detail", detail)
	}
	return res
}

func (p *Prober) get(ctx context.Context, rawURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", p.cfg.userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain a little so that the connection can be reused; a slow or huge body does not
	// change the verdict, which the status code already gave.
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// ProbeAll probes targets with at most Config.Concurrency probes at once and returns one
// result per target, in the order of targets. When ctx ends, no further probe starts;
// running ones end as described in Probe, and targets never probed get a result with a
// zero At and Err "canceled: not probed". After a cancellation, callers should discard
// the results (check ctx.Err()).
func (p *Prober) ProbeAll(ctx context.Context, targets []Target) []tracker.ProbeResult {
	results := make([]tracker.ProbeResult, len(targets))
	probed := make([]bool, len(targets))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(p.cfg.concurrency, len(targets)) {
		wg.Go(func() {
			for i := range work {
				results[i] = p.Probe(ctx, targets[i])
				probed[i] = true
			}
		})
	}
feed:
	for i := range targets {
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	for i, ok := range probed {
		if !ok {
			results[i] = tracker.ProbeResult{URL: targets[i].URL, Err: "canceled: not probed"}
		}
	}
	return results
}

// denyControl is the dialer's Control: it refuses an address in deny (nil when the
// list is empty).
func denyControl(deny config.Networks) func(network, address string, _ syscall.RawConn) error {
	if len(deny) == 0 {
		return nil
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || deny.Contains(ap.Addr()) {
			return errDenied
		}
		return nil
	}
}

// classify turns a request error into its class (the error classes above).
func classify(err error) string {
	var (
		uerr   *url.Error
		tlsErr *tls.CertificateVerificationError
		recErr tls.RecordHeaderError
		alert  tls.AlertError
	)
	if errors.As(err, &uerr) && uerr.Op == "parse" {
		return ErrInvalidURL
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return ErrTimeout
	case errors.As(err, &tlsErr), errors.As(err, &recErr), errors.As(err, &alert),
		strings.Contains(err.Error(), "tls: "):
		return ErrTLS
	case errors.Is(err, errTooManyRedirects):
		return ErrRedirects
	}
	return ErrUnreachable
}

// describe turns a request error into a short reason that never contains the URL (nor so
// its user info, path or query): the debug log's detail of a class.
func describe(err error, rawURL string, timeout time.Duration) string {
	var msg string
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
		tlsErr *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, errDenied):
		msg = "denied: " + errDenied.Error()
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		msg = fmt.Sprintf("timeout after %s", timeout)
	case errors.As(err, &dnsErr):
		msg = "dns: " + dnsErr.Err
		if dnsErr.IsNotFound {
			msg = "dns: no such host " + dnsErr.Name
		}
	case errors.As(err, &tlsErr):
		msg = "tls: " + tlsErr.Err.Error()
	case errors.As(err, &opErr):
		msg = opErr.Op + ": " + opErr.Err.Error()
		if errors.Is(err, syscall.ECONNREFUSED) {
			msg = opErr.Op + ": connection refused"
		}
	default:
		msg = err.Error()
	}
	msg = scrub(msg, rawURL)
	if len(msg) > maxErrLen {
		msg = msg[:maxErrLen-3] + "..."
	}
	return msg
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// scrub removes the URL's user info and secret parameters from msg, in case a lower
// layer quoted it.
func scrub(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// An unparsable URL can still hold credentials: say nothing of it.
		return "invalid URL"
	}
	msg = redact.New(rawURL).String(msg) // the password and secret parameters, in every form they travel in
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			msg = strings.ReplaceAll(msg, name, "")
		}
	}
	return msg
}
