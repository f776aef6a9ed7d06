// The query side: Backend is the query.Backend that reads lifecycle events back from
// InfluxDB with Flux, from the points the Sink wrote (DESIGN §5). It works with InfluxDB 2.x
// and with 1.8 ([http] flux-enabled = true, bucket "db/rp").
//
// Queries are plain Flux text sent with QueryAPI.Query: query parameters
// (QueryWithParams) exist only on InfluxDB Cloud. So every string in a query is a
// literal built by String, and environment ids are validated before they get there.

package influxdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Backend implements query.Backend with Flux. It is safe for concurrent use.
type Backend struct {
	cfg    config.InfluxDBConfig
	client influxdb2.Client
	query  api.QueryAPI
	logger log.Logger
}

var _ query.Backend = (*Backend)(nil)

// NewBackend returns a Backend reading the influxdb section cfg (as the sink writes it),
// as config.Load validated it. It does not contact InfluxDB.
func NewBackend(cfg config.InfluxDBConfig, logger log.Logger) (*Backend, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	client, err := NewClient(cfg.URL, string(cfg.Token), time.Duration(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	return &Backend{
		cfg:    cfg,
		client: client,
		query:  client.QueryAPI(cfg.Org),
		logger: log.With(logger, "component", "flux"),
	}, nil
}

// Close releases the client's idle connections.
func (b *Backend) Close() { b.client.Close() }

// The fields an event is rebuilt from; the durations and reason are in metadata too.
var readFields = []string{FieldEnvName, FieldBranch, FieldCommitSHA,
	FieldEventID, FieldMetadata}

// EnvironmentEvents implements query.Backend. An id that is not well-formed gets
// ErrInvalidID.
func (b *Backend) EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error) {
	if !ValidEnvironmentID(id) {
		return nil, ErrInvalidID
	}
	return b.run(ctx, b.EnvironmentEventsQuery(id), time.Time{})
}

// EnvironmentEventsQuery is the Flux query of EnvironmentEvents; id must be valid.
func (b *Backend) EnvironmentEventsQuery(id string) string {
	return b.fluxQuery("0", "", fmt.Sprintf("r.%s == %s", TagEnvironmentID, String(id)))
}

// Range implements query.Backend.
func (b *Backend) Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	from, to = clamp(from), clamp(to)
	if !from.Before(to) {
		return nil, nil
	}
	return b.run(ctx, b.RangeQuery(from, to, typ, names...), to)
}

// RangeQuery is the Flux query of Range.
func (b *Backend) RangeQuery(from, to time.Time, typ string, names ...event.Name) string {
	var preds []string
	if len(names) > 0 {
		or := make([]string, len(names))
		for i, n := range names {
			or[i] = fmt.Sprintf("r.%s == %s", TagEvent, String(string(n)))
		}
		preds = append(preds, "("+strings.Join(or, " or ")+")")
	}
	if typ != "" {
		preds = append(preds, fmt.Sprintf("r.%s == %s", TagType, String(typ)))
	}
	return b.fluxQuery(fluxTime(from), fluxTime(to), strings.Join(preds, " and "))
}

// fluxQuery selects the lifecycle points from start to stop (InfluxDB 1.8 includes stop,
// 2.x does not; run drops those) that match pred (a Flux predicate on r, or ""), one
// row per point: the storage hands out one table per series
// and field, and pivot joins a series' fields at each time. Series (environment_id,
// event, type, repository) stay apart, so two events at the same time stay two rows.
// group() merges the tables so that sort orders across them.
func (b *Backend) fluxQuery(start, stop, pred string) string {
	fields := make([]string, len(readFields))
	for i, f := range readFields {
		fields[i] = "r._field == " + String(f)
	}
	rng := "start: " + start
	if stop != "" {
		rng += ", stop: " + stop
	}
	filter := fmt.Sprintf("r._measurement == %s", String(b.cfg.Measurement))
	if pred != "" {
		filter += " and " + pred
	}
	return fmt.Sprintf(`from(bucket: %s)
  |> range(%s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])
`, String(b.cfg.Bucket), rng, filter, strings.Join(fields, " or "))
}

// Query bounds: the sink writes events from 1970 on, and InfluxDB's int64 nanoseconds end
// in 2262 (a Flux time past that fails).
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

func clamp(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t.UTC()
}

// fluxTime is a Flux time literal (RFC 3339 with nanoseconds, UTC).
func fluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// run runs q and rebuilds the events of its rows before stop (zero: all), in time order.
func (b *Backend) run(ctx context.Context, q string, stop time.Time) ([]event.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(b.cfg.Timeout))
	defer cancel()
	res, err := b.query.Query(ctx, q)
	if err != nil {
		return nil, b.queryError(err)
	}
	defer res.Close()
	var evs []event.Event
	for res.Next() {
		e, err := b.decode(res.Record().Values())
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	if err := res.Err(); err != nil {
		return nil, b.queryError(err)
	}
	if !stop.IsZero() {
		// InfluxDB 1.8 includes points at range's stop; 2.x does not. Range is [from, to).
		evs = slices.DeleteFunc(evs, func(e event.Event) bool { return !e.Time.Before(stop) })
	}
	// Already in time order; ties (same time) go by journal order, which the event ids
	// ("<journal>-<seq>") keep.
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].Time.Equal(evs[j].Time) {
			return evs[i].Time.Before(evs[j].Time)
		}
		return evs[i].Seq < evs[j].Seq
	})
	return evs, nil
}

// QueryError is a query that failed.
type QueryError struct {
	StatusCode int // InfluxDB's HTTP status; 0 when there was no (complete) answer
	msg        string
	err        error
}

func (e *QueryError) Error() string {
	s := "flux: query: "
	if e.StatusCode != 0 {
		s += strconv.Itoa(e.StatusCode) + ": "
	}
	return s + e.msg
}

// Unwrap returns the cause, and query.ErrUnavailable when InfluxDB could not be reached
// or failed (no answer, 429, 5xx), so that the API answers 503.
func (e *QueryError) Unwrap() []error {
	unavailable := e.StatusCode == 0 || e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
	if unavailable && (e.StatusCode != 0 || transportError(e.err)) {
		return []error{query.ErrUnavailable, e.err}
	}
	return []error{e.err}
}

func (b *Backend) queryError(err error) error {
	qe := &QueryError{err: err, msg: err.Error()}
	var he *influxhttp.Error
	if errors.As(err, &he) {
		qe.StatusCode = he.StatusCode
		switch {
		case he.StatusCode == 0 && he.Err != nil:
			qe.msg = he.Err.Error()
		case he.Message != "":
			qe.msg = he.Message
		}
		if he.StatusCode == 0 && he.Err != nil {
			qe.err = he.Err
		}
	}
	qe.msg = redact.New(string(b.cfg.Token), b.cfg.URL).String(qe.msg)
	return qe
}

// transportError reports whether err is a failure to talk to InfluxDB at all (as
// opposed to, say, a Flux error in the answer).
func transportError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded)
}

// decode rebuilds an event from one pivoted row.
func (b *Backend) decode(row map[string]any) (event.Event, error) {
	str := func(k string) string { s, _ := row[k].(string); return s }
	tm, ok := row["_time"].(time.Time)
	if !ok {
		return event.Event{}, fmt.Errorf("flux: row without _time: %v", row)
	}
	e := event.Event{
		ID:              str(FieldEventID),
		EnvironmentID:   str(TagEnvironmentID),
		EnvironmentName: str(FieldEnvName),
		Name:            event.Name(str(TagEvent)),
		Time:            tm.UTC(),
		Type:            str(TagType),
		Repository:      str(TagRepository),
		Branch:          str(FieldBranch),
		CommitSHA:       str(FieldCommitSHA),
	}
	if i := strings.LastIndexByte(e.ID, '-'); i >= 0 {
		if seq, err := strconv.ParseUint(e.ID[i+1:], 10, 64); err == nil {
			e.Seq = seq
		}
	}
	if m := str(FieldMetadata); m != "" && m != "{}" {
		if err := json.Unmarshal([]byte(m), &e.Metadata); err != nil {
			// One damaged point must not hide a whole timeline: keep the event.
			level.Warn(b.logger).Log("msg", "metadata is not a JSON object; ignored",
				"environment_id", e.EnvironmentID, "event", e.Name, "event_id", e.ID, "err", err)
			e.Metadata = nil
		}
	}
	return e, nil
}
