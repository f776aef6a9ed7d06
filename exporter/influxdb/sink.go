// Package influxdb is everything envtrack does with InfluxDB: it writes (Sink, this file)
// and reads back (Backend, query.go), so the schema lives in one place.
//
// The sink (DESIGN §5): each lifecycle event becomes a point
// in the lifecycle measurement, each deployment (a marker, or a lifecycle "deployed") a
// point in the deployments measurement, written with the v2 write API of
// influxdb-client-go. It works with InfluxDB 2.x and with 1.8 (bucket "db/rp", token ""
// or "user:password").
//
// Batches go through WriteAPIBlocking, never the client's non-blocking WriteAPI: that one
// keeps its retries in memory, drops the oldest batches when its buffer is full or after
// MaxRetryTime, and swallows "partial write" errors. Here a batch is confirmed by
// InfluxDB or Deliver says why not, and whether trying again can help.
package influxdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Tag and field names of the lifecycle measurement (DESIGN §5, contract); the durations
// of event.DurationKeys are fields too, under their own names.
const (
	TagEnvironmentID = "environment_id"
	TagEvent         = "event"
	TagType          = "type"
	TagRepository    = "repository"
	FieldEnvName     = "environment_name"
	FieldBranch      = "branch"
	FieldCommitSHA   = "commit_sha"
	FieldEventID     = "event_id" // also in the deployments measurement
	FieldReason      = "reason"
	// FieldFailureClass: provisioning_failed points: user or platform.
	FieldFailureClass = "failure_class"
	FieldMetadata     = "metadata" // the event's metadata as a JSON object
)

// Tag and field names of the deployments measurement (001, contract).
const (
	TagHost        = "host"
	TagEnvironment = "environment"
	TagApplication = "application"
	FieldActivity  = "activity"
	FieldStatus    = "status"
	FieldFailed    = "failed"
)

// Sink writes events to InfluxDB. It is safe for concurrent use.
type Sink struct {
	cfg    config.InfluxDBConfig
	client influxdb2.Client
	write  api.WriteAPIBlocking
	logger log.Logger
	// typeTag bounds the type tag (a tag value is a series; types come from pushes
	// and Argo CD labels); nil keeps the type. See SetTypeTag.
	typeTag func(string) string
}

// SetTypeTag bounds the type tag by f: the daemon passes labels.Bound.TypeLabel, so
// the tag folds exactly as the type label does. Call it before the first Deliver.
func (s *Sink) SetTypeTag(f func(string) string) { s.typeTag = f }

// New returns a Sink for the influxdb section cfg, as config.Load validated it (url,
// bucket, measurements and timeout are checked there, once). The token is an InfluxDB
// 2.x API token; for 1.8 "" (no auth) or "user:password"; the bucket
// "database/retention-policy" for 1.8. It does not contact InfluxDB: a server that is
// down at start-up only makes deliveries lag.
func New(cfg config.InfluxDBConfig, logger log.Logger) (*Sink, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	client, err := NewClient(cfg.URL, string(cfg.Token), time.Duration(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	return &Sink{
		cfg:    cfg,
		client: client,
		write:  client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		logger: log.With(logger, "component", "influx"),
	}, nil
}

// NewClient returns the influxdb-client-go client both the sink and the Flux query
// backend use: gzip on (off for an InfluxDB on a loopback address, see compress), a
// request timeout of timeout (rounded up to whole seconds, the client's unit),
// application name "envtrack", and the client's own logging limited to errors (it never
// logs the token).
func NewClient(serverURL, token string, timeout time.Duration) (influxdb2.Client, error) {
	secs := uint(math.Ceil(timeout.Seconds()))
	if secs == 0 {
		secs = 1
	}
	// The influxdb section has no tls key: the system roots and TLS 1.2 at least, built
	// as every outgoing client's transport is.
	tr, err := config.TLSConfig{}.Transport()
	if err != nil {
		return nil, err
	}
	// Errors and error answers are scrubbed of the token and the URL's secrets (redact:
	// one path for every outgoing client).
	hc := &http.Client{
		Timeout:   time.Duration(secs) * time.Second,
		Transport: redact.New(token, serverURL).Transport(tr),
	}
	opts := influxdb2.DefaultOptions().
		SetUseGZip(compress(serverURL)).
		SetHTTPRequestTimeout(secs).
		SetHTTPClient(hc).
		SetApplicationName("envtrack")
	return influxdb2.NewClientWithOptions(serverURL, token, opts), nil
}

// compress reports whether requests to serverURL are worth compressing: not to a
// loopback address (localhost, 127.0.0.0/8, ::1), where bytes cost nothing and gzip is
// all cost: the client builds a new compressor (about 1 MB of state) for each write,
// and InfluxDB inflates each batch again.
func compress(serverURL string) bool {
	u, err := url.Parse(serverURL)
	if err != nil {
		return true
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "influxdb" }

// Close releases the client's idle connections.
func (s *Sink) Close() { s.client.Close() }

// Deliver implements sink.Sink: it writes the points of events as one request. An event
// that cannot become a point (a zero time, metadata that is not JSON) fails the batch
// for good; so does a 400 or 413 answer (a field type conflict, an unparsable point).
// Connection failures, timeouts, 408, 429, 5xx and the configuration problems 401, 403
// and 404 are retried (see Retryable).
func (s *Sink) Deliver(ctx context.Context, events []event.Event) (retry bool, err error) {
	if len(events) == 0 {
		return false, nil
	}
	l := line{b: make([]byte, 0, 256*len(events))}
	points := 0
	for i := range events {
		n, err := s.appendLines(&l, &events[i])
		if err != nil {
			return false, err
		}
		points += n
	}
	if points == 0 {
		return false, nil // only windows not observed: read from the store, not from InfluxDB
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	if err := s.write.WriteRecord(ctx, string(l.b)); err != nil {
		retry, err := s.classify(err, len(events), points)
		return retry, err
	}
	level.Debug(s.logger).Log("msg", "wrote points", "events", len(events), "points", points)
	return false, nil
}

// WriteError is a write that did not go through.
type WriteError struct {
	// StatusCode is InfluxDB's HTTP status; 0 when there was no answer (connection
	// refused or reset, timeout).
	StatusCode int
	Retry      bool
	Events     int
	Points     int
	Bucket     string
	msg        string
	err        error
}

func (e *WriteError) Error() string {
	s := fmt.Sprintf("influxdb: write %d points (%d events) to bucket %q: ", e.Points, e.Events, e.Bucket)
	if e.StatusCode != 0 {
		s += fmt.Sprintf("%d %s: ", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return s + e.msg
}

func (e *WriteError) Unwrap() error { return e.err }

// classify turns a client error into a WriteError that says whether to retry.
func (s *Sink) classify(err error, events, points int) (bool, error) {
	we := &WriteError{Events: events, Points: points, Bucket: s.cfg.Bucket, err: err}
	var he *influxhttp.Error
	if errors.As(err, &he) {
		we.StatusCode = he.StatusCode
		we.Retry = Retryable(he.StatusCode)
		switch {
		case he.StatusCode == 0 && he.Err != nil:
			we.msg = he.Err.Error()
		case he.Message != "":
			we.msg = he.Message
		case he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden:
			// InfluxDB 1.8 says why in a JSON "error" key the client does not read.
			we.msg = "authorization failed: check the token (for InfluxDB 1.8 \"user:password\")"
		default:
			we.msg = he.Error()
		}
	} else {
		// Not an HTTP exchange: the points could not be encoded.
		we.msg = err.Error()
	}
	we.msg = redact.New(string(s.cfg.Token), s.cfg.URL).String(we.msg)
	return we.Retry, we
}

// Retryable reports whether an InfluxDB answer with this status (0: no answer) calls for
// another try: no answer, 408, 429 and 5xx may go away by themselves; 400 (a field type
// conflict, an unparsable point) and 413 will not.
//
// 401, 403 and 404 (a bad token, missing write permission, an unknown bucket) are
// configuration problems of the whole sink, not defects of the events: setting events
// aside for them would lose every point until someone replays them by hand, so they are
// retried with backoff while the lag metric shows the sink falling behind. Only what
// InfluxDB refuses about the points themselves (400: a field type conflict, a bad
// timestamp) is permanent.
func Retryable(statusCode int) bool {
	return statusCode == 0 || statusCode == http.StatusRequestTimeout ||
		statusCode == http.StatusUnauthorized || statusCode == http.StatusForbidden ||
		statusCode == http.StatusNotFound ||
		statusCode == http.StatusTooManyRequests || statusCode >= 500
}

// appendLines appends e's points to l: a marker becomes a deployments point; a
// lifecycle event a lifecycle point, plus a deployments point when it is "deployed"; a
// window not observed (a gap) none: the schema of DESIGN §5 has no place for it, and the
// timelines read gaps from the store whatever answers their events. It returns how many
// points it appended.
func (s *Sink) appendLines(l *line, e *event.Event) (int, error) {
	if e.IsGap() {
		return 0, nil
	}
	// InfluxDB stores int64 nanoseconds (1677..2262); the query side reads from 1970 on.
	if e.Time.Before(time.Unix(0, 0)) || e.Time.Year() > 2261 {
		return 0, fmt.Errorf("influxdb: event %s (%s of %q): time %s is outside 1970..2261",
			e.ID, e.Name, e.EnvironmentID, e.Time.Format(time.RFC3339Nano))
	}
	if e.IsMarker() {
		s.markerLine(l, e)
		return 1, nil
	}
	if err := s.lifecycleLine(l, e); err != nil {
		return 0, err
	}
	if e.Name == event.Deployed {
		s.deployedLine(l, e)
		return 2, nil
	}
	return 1, nil
}

// lifecycleLine is a lifecycle event's point. Its time is the event's, so a replay
// overwrites the identical point.
func (s *Sink) lifecycleLine(l *line, e *event.Event) error {
	meta := "{}"
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("influxdb: event %s (%s of %q): metadata: %w", e.ID, e.Name, e.EnvironmentID, err)
		}
		meta = string(b)
	}
	mark := len(l.b)
	l.start(s.cfg.Measurement)
	l.tag(TagEnvironmentID, e.EnvironmentID)
	l.tag(TagEvent, string(e.Name))
	typ := e.Type
	if s.typeTag != nil {
		typ = s.typeTag(typ)
	}
	l.tag(TagType, typ)
	l.tag(TagRepository, e.Repository)
	// Always written, even empty, so that every point has the same field types.
	l.str(FieldEnvName, e.EnvironmentName)
	l.str(FieldBranch, e.Branch)
	l.str(FieldCommitSHA, e.CommitSHA)
	l.str(FieldEventID, e.ID)
	for _, k := range event.DurationKeys {
		if f, ok := e.MetaFloat(k); ok {
			if err := l.float(k, f); err != nil {
				l.b = l.b[:mark]
				return fmt.Errorf("influxdb: event %s (%s of %q): %s: %w", e.ID, e.Name, e.EnvironmentID, k, err)
			}
		}
	}
	if r := e.Meta(event.MetaReason); r != nil {
		l.str(FieldReason, e.MetaString(event.MetaReason))
	}
	if e.Name == event.ProvisioningFailed {
		l.str(FieldFailureClass, e.FailureClass())
	}
	l.str(FieldMetadata, meta)
	l.end(e.Time)
	return nil
}

// markerLine is a deployment marker's point (001): environment is the marker's
// environment, host, application, activity, status and failed come from its metadata.
func (s *Sink) markerLine(l *line, e *event.Event) {
	m := e.Marker()
	l.start(s.cfg.DeploymentsMeasurement)
	l.tag(TagHost, m.Host)
	l.tag(TagEnvironment, e.EnvironmentID)
	l.tag(TagApplication, m.Application)
	l.str(FieldActivity, m.Activity)
	l.str(FieldStatus, m.Status)
	l.boolean(FieldFailed, m.Failed)
	l.str(FieldEventID, e.ID)
	l.end(e.Time)
}

// deployedLine is the deployments point of a lifecycle "deployed" event, so that the
// 001 overlay also shows what Argo CD deployed.
func (s *Sink) deployedLine(l *line, e *event.Event) {
	activity := "deploy"
	if rev := e.MetaString(event.MetaRevision); rev != "" {
		activity += " " + rev
	}
	status := e.MetaString(event.MetaStatus)
	if status == "" {
		status = "success"
	}
	l.start(s.cfg.DeploymentsMeasurement)
	l.tag(TagEnvironment, e.EnvironmentID)
	l.tag(TagApplication, e.Repository)
	l.str(FieldActivity, activity)
	l.str(FieldStatus, status)
	l.boolean(FieldFailed, false)
	l.str(FieldEventID, e.ID)
	l.end(e.Time)
}
