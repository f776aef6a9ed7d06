// The InfluxQL read path: InfluxQL is the query.MarkerBackend that reads lifecycle
// events and CI's deployment markers back with InfluxQL on the v1 /query API, the one read
// path InfluxDB 1.x answers as it ships (Flux is off there), 2.x answers for a bucket
// with a DBRP mapping (its virtual mapping, or `influx v1 dbrp create`) and 3.x answers
// at all. The request shapes are each server's own:
//
//   - 1.8: services/httpd/handler.go, serveQuery (q, db, rp, epoch, chunked) and
//     parseCredentials (u/p, Basic, "Token user:password"; errors as {"error": ...}).
//   - 2.x: https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/query/
//     (db and rp mapped to a bucket, Authorization: Token; errors as {"code","message"}).
//   - 3.x: https://docs.influxdata.com/influxdb3/core/query-data/execute-queries/influxdb-v1-api/
//     (db, rp, epoch, chunked; Authorization: Token or Bearer).
//
// Every name and value in a statement is quoted by InfluxQL (escape.go).

package influxdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/recycle"
	"github.com/blueberry-idp/envtrack/model/event"
)

// ChunkSize is the rows per chunk envtrack asks a timeline's answer in: it reads each
// chunk while InfluxDB writes the next, so a long timeline's answer is mostly read by
// the time its last chunk arrives (the server's default, 10,000 rows, is a whole
// timeline at once; docs/benchmarks.md). Other reads keep the server's chunks (not
// measured with smaller ones).
const ChunkSize = 500

// maxIdleConns are the keep-alive connections to InfluxDB kept for reads.
const maxIdleConns = 16

// InfluxQL implements query.MarkerBackend with InfluxQL. It is safe for concurrent use.
type InfluxQL struct {
	cfg      config.InfluxDBConfig
	endpoint string // <url>/query?db=...&rp=...&epoch=ns&chunked=true (chunk_size and q are added per query)
	client   *http.Client
	auth     func(*http.Request)
	secrets  *redact.Secrets
	logger   log.Logger
	failures *prometheus.CounterVec
	// chunkSize is chunk_size for every read: rows per chunk of the answer; 0 is
	// ChunkSize for a timeline and the server's default (10,000) for the rest. Tests
	// lower it to cross many chunk boundaries.
	chunkSize int

	// Quoted once: the measurements and the column lists.
	lifecycle, deployments string
	lifecycleColumns       string
	markerColumns          string
}

var (
	_ query.MarkerBackend      = (*InfluxQL)(nil)
	_ query.RawMetadataBackend = (*InfluxQL)(nil)
)

// NewInfluxQL returns the InfluxQL reader of the influxdb section cfg (read as the sink
// writes it: database and retention policy from cfg.DBRP), as config.Load validated it.
// Failed reads count in reg's metric.InfluxDBReadFailures (reg may be nil). It does not
// contact InfluxDB.
func NewInfluxQL(cfg config.InfluxDBConfig, logger log.Logger, reg prometheus.Registerer) (*InfluxQL, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	db, rp := cfg.DBRP()
	q := &InfluxQL{
		cfg:      cfg,
		secrets:  redact.New(string(cfg.Token), cfg.URL),
		logger:   log.With(logger, "component", "influxql"),
		failures: readFailures(reg, config.QueryLanguageInfluxQL),
	}
	var err error
	ident := func(s string) string {
		if err != nil {
			return ""
		}
		var quoted string
		quoted, err = QuoteInfluxQL(s, Ident)
		return quoted
	}
	q.lifecycle, q.deployments = ident(cfg.Measurement), ident(cfg.DeploymentsMeasurement)
	cols := func(names ...string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = ident(n)
		}
		return strings.Join(out, ",")
	}
	// Fields first: InfluxQL wants at least one field among the selected columns.
	q.lifecycleColumns = cols(append(append([]string{}, readFields...), TagEnvironmentID, TagEvent, TagType, TagRepository)...)
	q.markerColumns = cols(FieldEventID, FieldActivity, FieldStatus, FieldFailed, TagEnvironment, TagHost, TagApplication)
	if err != nil {
		return nil, fmt.Errorf("influxql: measurement: %w", err)
	}
	params := url.Values{"db": {db}, "epoch": {"ns"}, "chunked": {"true"}}
	if rp != "" {
		params.Set("rp", rp)
	}
	q.endpoint = strings.TrimRight(cfg.URL, "/") + "/query?" + params.Encode()
	// The influxdb section has no tls key: the system roots and TLS 1.2 at least, built
	// as every outgoing client's transport is.
	tr, err := config.TLSConfig{}.Transport()
	if err != nil {
		return nil, fmt.Errorf("influxql: %w", err)
	}
	// Reads that run at once keep their connections (the default keeps two).
	tr.MaxIdleConnsPerHost = maxIdleConns
	// No gzip from an InfluxDB on a loopback address (as the sink sends it none): there
	// bytes cost nothing, and InfluxDB compressing a long timeline's answer and envtrack
	// inflating it were time on the request's path (docs/benchmarks.md).
	tr.DisableCompression = !compress(cfg.URL)
	q.client = &http.Client{Transport: q.secrets.Transport(tr)}
	q.auth = authorize(string(cfg.Token))
	return q, nil
}

// authorize returns how requests carry token: "user:password" (InfluxDB 1.x) as HTTP
// Basic, which 1.8's parseCredentials reads and 2.x's and 3.x's v1 APIs accept too
// (a password with a space would break 1.8's "Token user:password" parsing); any
// other token as "Authorization: Token", the scheme of 2.x and 3.x.
func authorize(token string) func(*http.Request) {
	switch user, password, ok := strings.Cut(token, ":"); {
	case token == "":
		return func(*http.Request) {}
	case ok:
		return func(r *http.Request) { r.SetBasicAuth(user, password) }
	default:
		return func(r *http.Request) { r.Header.Set("Authorization", "Token "+token) }
	}
}

// Close releases idle connections.
func (q *InfluxQL) Close() { q.client.CloseIdleConnections() }

// EnvironmentEvents implements query.Backend. An id that is not well-formed gets
// ErrInvalidID.
func (q *InfluxQL) EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error) {
	return q.appendEnvironmentEvents(ctx, nil, id, false)
}

// EnvironmentEventsRaw implements query.RawMetadataBackend: EnvironmentEvents with
// the metadata stored as json.Marshal writes it kept as that text, in a slice that is
// reused once f returns (a long timeline's events were most of the memory a request
// allocated: docs/benchmarks.md).
func (q *InfluxQL) EnvironmentEventsRaw(ctx context.Context, id string, f func([]event.Event) error) error {
	bp := eventBuffers.Get()
	evs, err := q.appendEnvironmentEvents(ctx, (*bp)[:0], id, true)
	if err == nil {
		err = f(evs)
	}
	clear(evs) // nothing of this timeline stays reachable from the pool
	if cap(evs) <= maxPooledEvents {
		if evs != nil {
			*bp = evs[:0]
		}
		eventBuffers.Put(bp, cap(*bp) <= keptEvents)
	}
	return err
}

// eventBuffers recycles the events of timelines read for the API.
var eventBuffers = recycle.New[[]event.Event]()

// maxPooledEvents: a slice that grew larger is left to the garbage collector.
const maxPooledEvents = 16 << 10

// keptEvents: the events kept across garbage collections at most (a long timeline's).
const keptEvents = 4 << 10

func (q *InfluxQL) appendEnvironmentEvents(ctx context.Context, evs []event.Event, id string, keepRaw bool) ([]event.Event, error) {
	if !ValidEnvironmentID(id) {
		return nil, ErrInvalidID
	}
	stmt, err := q.EnvironmentEventsQuery(id)
	if err != nil {
		return nil, err
	}
	return q.appendEvents(ctx, evs, stmt, ChunkSize, keepRaw)
}

// EnvironmentEventsQuery is the statement of EnvironmentEvents.
func (q *InfluxQL) EnvironmentEventsQuery(id string) (string, error) {
	lit, err := QuoteInfluxQL(id, Literal)
	if err != nil {
		return "", err
	}
	key, _ := QuoteInfluxQL(TagEnvironmentID, Ident)
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s = %s", q.lifecycleColumns, q.lifecycle, key, lit), nil
}

// Range implements query.Backend.
func (q *InfluxQL) Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	from, to = clamp(from), clamp(to)
	if !from.Before(to) {
		return nil, nil
	}
	stmt, err := q.RangeQuery(from, to, typ, names...)
	if err != nil {
		return nil, err
	}
	return q.events(ctx, stmt, 0, false)
}

// RangeQuery is the statement of Range.
func (q *InfluxQL) RangeQuery(from, to time.Time, typ string, names ...event.Name) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s WHERE %s", q.lifecycleColumns, q.lifecycle, timeRange(from, to))
	if len(names) > 0 {
		key, _ := QuoteInfluxQL(TagEvent, Ident)
		or := make([]string, len(names))
		for i, n := range names {
			lit, err := QuoteInfluxQL(string(n), Literal)
			if err != nil {
				return "", err
			}
			or[i] = key + " = " + lit
		}
		b.WriteString(" AND (" + strings.Join(or, " OR ") + ")")
	}
	if typ != "" {
		key, _ := QuoteInfluxQL(TagType, Ident)
		lit, err := QuoteInfluxQL(typ, Literal)
		if err != nil {
			return "", err
		}
		b.WriteString(" AND " + key + " = " + lit)
	}
	return b.String(), nil
}

// timeRange is [from, to) in integer nanoseconds, InfluxQL's own time literal.
func timeRange(from, to time.Time) string {
	return fmt.Sprintf("time >= %d AND time < %d", from.UnixNano(), to.UnixNano())
}

// Markers implements query.MarkerBackend: the deployments measurement's points in
// [from, to) but those the sink wrote for Argo CD's deployed events (001's overlay shows
// both; the pages show those from the timeline).
func (q *InfluxQL) Markers(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	from, to = clamp(from), clamp(to)
	if !from.Before(to) {
		return nil, nil
	}
	where := timeRange(from, to)
	return q.markers(ctx, where, where)
}

// EnvironmentMarkers implements query.MarkerBackend.
func (q *InfluxQL) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	if !ValidEnvironmentID(id) {
		return nil, ErrInvalidID
	}
	lit, err := QuoteInfluxQL(id, Literal)
	if err != nil {
		return nil, err
	}
	env, _ := QuoteInfluxQL(TagEnvironment, Ident)
	envID, _ := QuoteInfluxQL(TagEnvironmentID, Ident)
	return q.markers(ctx, env+" = "+lit, envID+" = "+lit)
}

// markers reads the deployments points matching where and drops the event ids of the
// lifecycle deployed events matching lifecycleWhere, in one request of two statements.
func (q *InfluxQL) markers(ctx context.Context, where, lifecycleWhere string) ([]event.Event, error) {
	eventID, _ := QuoteInfluxQL(FieldEventID, Ident)
	eventKey, _ := QuoteInfluxQL(TagEvent, Ident)
	deployed, _ := QuoteInfluxQL(string(event.Deployed), Literal)
	stmt := fmt.Sprintf("SELECT %s FROM %s WHERE %s; SELECT %s FROM %s WHERE %s = %s AND %s",
		q.markerColumns, q.deployments, where,
		eventID, q.lifecycle, eventKey, deployed, lifecycleWhere)
	var evs []event.Event
	lifecycleIDs := map[string]bool{}
	err := q.run(ctx, stmt, 0, func(statement int, row *row) error {
		if statement == 1 {
			lifecycleIDs[row.str(FieldEventID)] = true
			return nil
		}
		evs = append(evs, markerFromRow(row))
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := evs[:0]
	for _, e := range evs {
		if !lifecycleIDs[e.ID] {
			out = append(out, e)
		}
	}
	sortEvents(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Probe asks InfluxDB once whether it answers envtrack's InfluxQL reads: a SELECT of
// at most one point of the lifecycle measurement in the last minute, in the configured
// database and retention policy, with the configured credentials.
func (q *InfluxQL) Probe(ctx context.Context) error {
	eventID, _ := QuoteInfluxQL(FieldEventID, Ident)
	stmt := fmt.Sprintf("SELECT %s FROM %s WHERE time >= now() - 1m LIMIT 1", eventID, q.lifecycle)
	return q.run(ctx, stmt, 0, func(int, *row) error { return nil })
}

// events runs stmt in chunks of chunk rows and rebuilds the events of its rows, in time
// order (eventFromRow's keepRaw).
func (q *InfluxQL) events(ctx context.Context, stmt string, chunk int, keepRaw bool) ([]event.Event, error) {
	return q.appendEvents(ctx, nil, stmt, chunk, keepRaw)
}

// appendEvents is events appended to evs (empty).
func (q *InfluxQL) appendEvents(ctx context.Context, evs []event.Event, stmt string, chunk int, keepRaw bool) ([]event.Event, error) {
	err := q.run(ctx, stmt, chunk, func(_ int, row *row) error {
		e, err := eventFromRow(row, row.in, keepRaw, q.logger)
		if err != nil {
			return err
		}
		if len(evs) == cap(evs) {
			// A chunk's rows at first, then twice as many: fewer copies of the events
			// than append's growth by a quarter.
			evs = slices.Grow(evs, max(row.rows, len(evs)))
		}
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortEvents(evs)
	return evs, nil
}

// sortEvents orders evs by time; ties (same time) go by journal order, which the event
// ids ("<journal>-<seq>") keep.
func sortEvents(evs []event.Event) {
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].Time.Equal(evs[j].Time) {
			return evs[i].Time.Before(evs[j].Time)
		}
		return evs[i].Seq < evs[j].Seq
	})
}

// maxErrorBody bounds how much of an error answer is read and quoted.
const maxErrorBody = 4 << 10

// run sends stmt (one or more statements) and calls row for every row of every series,
// with the statement's index. It fails with a *ReadError.
func (q *InfluxQL) run(ctx context.Context, stmt string, chunk int, row func(statement int, r *row) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(q.cfg.Timeout))
	defer cancel()
	// GET: 1.8 runs a GET read-only (serveQuery's ReadOnly), and 3.x documents GET.
	u := q.endpoint + "&q=" + url.QueryEscape(stmt)
	if q.chunkSize > 0 {
		chunk = q.chunkSize
	}
	if chunk > 0 {
		u += "&chunk_size=" + strconv.Itoa(chunk)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return q.fail(&ReadError{Message: err.Error(), err: err})
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", config.DefaultUserAgent)
	q.auth(req)
	resp, err := q.client.Do(req)
	if err != nil {
		return q.fail(q.transportFailure(ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return q.fail(&ReadError{StatusCode: resp.StatusCode, Unreachable: unreachableStatus(resp.StatusCode),
			Message: errorMessage(resp.StatusCode, body)})
	}
	if err := decodeAnswer(resp.Body, row); err != nil {
		var re *ReadError
		if errors.As(err, &re) {
			re.StatusCode = http.StatusOK
			return q.fail(re)
		}
		if transportError(err) {
			return q.fail(q.transportFailure(ctx, err))
		}
		return err // row's own error
	}
	return nil
}

func (q *InfluxQL) transportFailure(ctx context.Context, err error) *ReadError {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within influxdb.timeout %s: %w", time.Duration(q.cfg.Timeout), err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL holds the statement; the error says enough without it
	}
	return &ReadError{Unreachable: true, Message: err.Error(), err: err}
}

// fail completes e (language, secrets removed, hint), counts it and returns it. A read
// the caller cancelled is neither counted nor explained.
func (q *InfluxQL) fail(e *ReadError) error {
	if errors.Is(e.err, context.Canceled) {
		return e.err
	}
	e.Language = config.QueryLanguageInfluxQL
	e.Message = strings.TrimSpace(q.secrets.String(e.Message))
	if !e.Unreachable {
		e.Hint = hint(&q.cfg, e.Language, e.StatusCode, e.Message)
	}
	q.failures.WithLabelValues(e.Language, e.Reason()).Inc()
	return e
}

// errorMessage is InfluxDB's reason in an error answer: 1.x and 3.x send
// {"error": "..."}, 2.x {"code": "...", "message": "..."}; else the body's first line.
func errorMessage(status int, body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error != "" {
			return e.Error
		}
		if e.Message != "" {
			return e.Message
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if line == "" {
		return http.StatusText(status)
	}
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}

// markerFromRow rebuilds a deployment marker from a deployments point, as the API
// built it from the push (exporter/api: the environment is also its name).
func markerFromRow(row fields) event.Event {
	tm, _, _ := row.time()
	str := row.str
	e := event.Event{
		ID: str(FieldEventID), EnvironmentID: str(TagEnvironment), EnvironmentName: str(TagEnvironment),
		Name: event.Deployed, Time: tm.UTC(),
		Metadata: event.Marker{Host: str(TagHost), Application: str(TagApplication), Activity: str(FieldActivity),
			Status: str(FieldStatus), Failed: row.boolean(FieldFailed)}.Metadata(),
	}
	e.Seq = seqOf(e.ID)
	return e
}

// Reader is a read path to InfluxDB: InfluxQL or Flux.
type Reader interface {
	query.MarkerBackend
	// Probe asks InfluxDB once whether it answers this read path; its error is a
	// *ReadError that says what is wrong and how to fix it.
	Probe(ctx context.Context) error
	Close()
}

// NewReader returns the read path cfg.QueryLanguage names: InfluxQL (the default) or
// Flux. Failed reads count in reg (may be nil).
func NewReader(cfg config.InfluxDBConfig, logger log.Logger, reg prometheus.Registerer) (Reader, error) {
	switch cfg.QueryLanguage {
	case config.QueryLanguageFlux:
		return NewFlux(cfg, logger, reg)
	case config.QueryLanguageInfluxQL:
		return NewInfluxQL(cfg, logger, reg)
	}
	return nil, fmt.Errorf("influxdb: unknown query language %q", cfg.QueryLanguage)
}
