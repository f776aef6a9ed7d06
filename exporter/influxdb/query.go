// The Flux read path: Flux is the query.MarkerBackend that reads lifecycle events and
// CI's deployment markers back with Flux, from the points the Sink wrote (DESIGN §5). It
// works with InfluxDB 2.x and with 1.8 ([http] flux-enabled = true, which 1.8 does not
// ship with; bucket "db/rp"). InfluxQL (influxql.go) is the default read path.
//
// Queries are plain Flux text sent with QueryAPI.Query: query parameters
// (QueryWithParams) exist only on InfluxDB Cloud. So every string in a query is a
// literal built by FluxString, and environment ids are validated before they get there.

package influxdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Flux implements query.MarkerBackend with Flux. It is safe for concurrent use.
type Flux struct {
	cfg      config.InfluxDBConfig
	client   influxdb2.Client
	query    api.QueryAPI
	logger   log.Logger
	secrets  *redact.Secrets
	failures *prometheus.CounterVec
}

var (
	_ query.MarkerBackend      = (*Flux)(nil)
	_ query.RawMetadataBackend = (*Flux)(nil)
)

// NewFlux returns the Flux reader of the influxdb section cfg (read as the sink writes
// it), as config.Load validated it. Failed reads count in reg's
// metric.InfluxDBReadFailures (reg may be nil). It does not contact InfluxDB.
func NewFlux(cfg config.InfluxDBConfig, logger log.Logger, reg prometheus.Registerer) (*Flux, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	client, err := NewClient(cfg.URL, string(cfg.Token), time.Duration(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	return &Flux{
		cfg:      cfg,
		client:   client,
		query:    client.QueryAPI(cfg.Org),
		logger:   log.With(logger, "component", "flux"),
		secrets:  redact.New(string(cfg.Token), cfg.URL),
		failures: readFailures(reg, config.QueryLanguageFlux),
	}, nil
}

// Close releases the client's idle connections.
func (b *Flux) Close() { b.client.Close() }

// The fields an event is rebuilt from; the durations and reason are in metadata too.
var readFields = []string{FieldEnvName, FieldBranch, FieldCommitSHA,
	FieldEventID, FieldMetadata}

// EnvironmentEvents implements query.Backend. An id that is not well-formed gets
// ErrInvalidID.
func (b *Flux) EnvironmentEvents(ctx context.Context, id string) ([]event.Event, error) {
	if !ValidEnvironmentID(id) {
		return nil, ErrInvalidID
	}
	return b.run(ctx, b.EnvironmentEventsQuery(id), time.Time{}, false)
}

// EnvironmentEventsRaw implements query.RawMetadataBackend: EnvironmentEvents with
// the metadata stored as json.Marshal writes it kept as that text.
func (b *Flux) EnvironmentEventsRaw(ctx context.Context, id string, f func([]event.Event) error) error {
	if !ValidEnvironmentID(id) {
		return ErrInvalidID
	}
	evs, err := b.run(ctx, b.EnvironmentEventsQuery(id), time.Time{}, true)
	if err != nil {
		return err
	}
	return f(evs)
}

// EnvironmentEventsQuery is the Flux query of EnvironmentEvents; id must be valid.
func (b *Flux) EnvironmentEventsQuery(id string) string {
	return b.fluxQuery("0", "", fmt.Sprintf("r.%s == %s", TagEnvironmentID, FluxString(id)))
}

// Range implements query.Backend.
func (b *Flux) Range(ctx context.Context, from, to time.Time, typ string, names ...event.Name) ([]event.Event, error) {
	from, to = clamp(from), clamp(to)
	if !from.Before(to) {
		return nil, nil
	}
	return b.run(ctx, b.RangeQuery(from, to, typ, names...), to, false)
}

// RangeQuery is the Flux query of Range.
func (b *Flux) RangeQuery(from, to time.Time, typ string, names ...event.Name) string {
	var preds []string
	if len(names) > 0 {
		or := make([]string, len(names))
		for i, n := range names {
			or[i] = fmt.Sprintf("r.%s == %s", TagEvent, FluxString(string(n)))
		}
		preds = append(preds, "("+strings.Join(or, " or ")+")")
	}
	if typ != "" {
		preds = append(preds, fmt.Sprintf("r.%s == %s", TagType, FluxString(typ)))
	}
	return b.fluxQuery(fluxTime(from), fluxTime(to), strings.Join(preds, " and "))
}

// fluxQuery selects the lifecycle points from start to stop (InfluxDB 1.8 includes stop,
// 2.x does not; run drops those) that match pred (a Flux predicate on r, or ""), one
// row per point: the storage hands out one table per series
// and field, and pivot joins a series' fields at each time. Series (environment_id,
// event, type, repository) stay apart, so two events at the same time stay two rows.
// group() merges the tables so that sort orders across them.
func (b *Flux) fluxQuery(start, stop, pred string) string {
	return b.pivoted(b.cfg.Measurement, readFields, start, stop, pred)
}

// pivoted selects the points of measurement with their fields (one row per point, as
// fluxQuery explains) from start to stop that match pred.
func (b *Flux) pivoted(measurement string, fieldNames []string, start, stop, pred string) string {
	fields := make([]string, len(fieldNames))
	for i, f := range fieldNames {
		fields[i] = "r._field == " + FluxString(f)
	}
	rng := "start: " + start
	if stop != "" {
		rng += ", stop: " + stop
	}
	filter := fmt.Sprintf("r._measurement == %s", FluxString(measurement))
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
`, FluxString(b.cfg.Bucket), rng, filter, strings.Join(fields, " or "))
}

// Markers implements query.MarkerBackend: the deployments measurement's points in
// [from, to) but those the sink wrote for Argo CD's deployed events.
func (b *Flux) Markers(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	from, to = clamp(from), clamp(to)
	if !from.Before(to) {
		return nil, nil
	}
	return b.markers(ctx, fluxTime(from), fluxTime(to), "", "", to)
}

// EnvironmentMarkers implements query.MarkerBackend.
func (b *Flux) EnvironmentMarkers(ctx context.Context, id string) ([]event.Event, error) {
	if !ValidEnvironmentID(id) {
		return nil, ErrInvalidID
	}
	lit := FluxString(id)
	return b.markers(ctx, "0", "", "r."+TagEnvironment+" == "+lit, "r."+TagEnvironmentID+" == "+lit, time.Time{})
}

// markers reads the deployments points matching pred from start to stop and drops the
// event ids of the lifecycle deployed events matching lifecyclePred, and what is not
// before end (1.8 includes range's stop).
func (b *Flux) markers(ctx context.Context, start, stop, pred, lifecyclePred string, end time.Time) ([]event.Event, error) {
	var evs []event.Event
	err := b.rows(ctx, b.pivoted(b.cfg.DeploymentsMeasurement, []string{FieldEventID, FieldActivity, FieldStatus, FieldFailed}, start, stop, pred),
		func(row map[string]any) error {
			evs = append(evs, markerFromRow(record(row)))
			return nil
		})
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	deployed := "r." + TagEvent + " == " + FluxString(string(event.Deployed))
	if lifecyclePred != "" {
		deployed += " and " + lifecyclePred
	}
	lifecycleIDs := map[string]bool{}
	err = b.rows(ctx, b.pivoted(b.cfg.Measurement, []string{FieldEventID}, start, stop, deployed), func(row map[string]any) error {
		if id, ok := row[FieldEventID].(string); ok {
			lifecycleIDs[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	evs = slices.DeleteFunc(evs, func(e event.Event) bool {
		return lifecycleIDs[e.ID] || (!end.IsZero() && !e.Time.Before(end))
	})
	sortEvents(evs)
	if len(evs) == 0 {
		return nil, nil
	}
	return evs, nil
}

// Probe asks InfluxDB once whether it answers envtrack's Flux reads: at most one point
// of the bucket's last minute, with the configured organization and credentials.
func (b *Flux) Probe(ctx context.Context) error {
	q := fmt.Sprintf(`from(bucket: %s) |> range(start: -1m) |> limit(n: 1)`, FluxString(b.cfg.Bucket))
	return b.rows(ctx, q, func(map[string]any) error { return nil })
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

// run runs q and rebuilds the events of its rows before stop (zero: all), in time order
// (eventFromRow's keepRaw).
func (b *Flux) run(ctx context.Context, q string, stop time.Time, keepRaw bool) ([]event.Event, error) {
	var evs []event.Event
	in := newInterner()
	err := b.rows(ctx, q, func(row map[string]any) error {
		e, err := eventFromRow(record(row), in, keepRaw, b.logger)
		if err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !stop.IsZero() {
		// InfluxDB 1.8 includes points at range's stop; 2.x does not. Range is [from, to).
		evs = slices.DeleteFunc(evs, func(e event.Event) bool { return !e.Time.Before(stop) })
	}
	sortEvents(evs)
	return evs, nil
}

// rows runs q and calls row with each record's values.
func (b *Flux) rows(ctx context.Context, q string, row func(map[string]any) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(b.cfg.Timeout))
	defer cancel()
	res, err := b.query.Query(ctx, q)
	if err != nil {
		return b.queryError(err)
	}
	defer res.Close()
	for res.Next() {
		if err := row(res.Record().Values()); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return b.queryError(err)
	}
	return nil
}

// queryError turns a client error into a *ReadError (counted), or returns the caller's
// cancellation as it is.
func (b *Flux) queryError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	e := &ReadError{Language: config.QueryLanguageFlux, Message: err.Error(), err: err}
	var he *influxhttp.Error
	if errors.As(err, &he) {
		e.StatusCode = he.StatusCode
		switch {
		case he.StatusCode == 0 && he.Err != nil:
			e.Message = he.Err.Error()
			e.err = he.Err
		case he.Message != "":
			e.Message = he.Message
		}
	}
	if e.StatusCode == 0 {
		// No answer; or an answer cut off mid-body; or a Flux error in the answer's
		// table stream (an error of the query itself: refused).
		e.Unreachable = transportError(e.err)
	} else {
		e.Unreachable = unreachableStatus(e.StatusCode)
	}
	e.Message = strings.TrimSpace(b.secrets.String(e.Message))
	if !e.Unreachable {
		e.Hint = hint(&b.cfg, e.Language, e.StatusCode, e.Message)
	}
	b.failures.WithLabelValues(e.Language, e.Reason()).Inc()
	return e
}

// fields is a row as the event builders read it: a Flux record's values (record) or an
// InfluxQL row.
type fields interface {
	str(key string) string
	boolean(key string) bool
	// time is the row's time; false without one.
	time() (time.Time, bool, error)
}

// record is a Flux record's values.
type record map[string]any

func (r record) str(k string) string   { s, _ := r[k].(string); return s }
func (r record) boolean(k string) bool { b, _ := r[k].(bool); return b }
func (r record) time() (time.Time, bool, error) {
	t, ok := r["_time"].(time.Time)
	return t, ok, nil
}

// eventFromRow rebuilds an event from one row: a pivoted Flux record, or an InfluxQL
// row. With keepRaw, metadata stored as json.Marshal writes it stays that text
// (RawMetadata).
func eventFromRow(row fields, in *interner, keepRaw bool, logger log.Logger) (event.Event, error) {
	tm, ok, err := row.time()
	if err != nil {
		return event.Event{}, err
	}
	if !ok {
		return event.Event{}, fmt.Errorf("influxdb: row without a time: event %q of %q", row.str(FieldEventID), row.str(TagEnvironmentID))
	}
	e := event.Event{
		ID:              row.str(FieldEventID),
		EnvironmentID:   row.str(TagEnvironmentID),
		EnvironmentName: row.str(FieldEnvName),
		Name:            event.Name(row.str(TagEvent)),
		Time:            tm.UTC(),
		Type:            row.str(TagType),
		Repository:      row.str(TagRepository),
		Branch:          row.str(FieldBranch),
		CommitSHA:       row.str(FieldCommitSHA),
	}
	e.Seq = seqOf(e.ID)
	if m := row.str(FieldMetadata); m != "" && m != "{}" {
		// A kind of its own (a marker, a gap) is read from the map (Kind); the sink
		// writes none into the lifecycle measurement. Any key that ends so is decoded
		// (looking for `kind":` rather than `"kind":` spares strings.Index a candidate
		// at every quote).
		if keepRaw && !strings.Contains(m, event.MetaKind+`":`) && canonicalJSON(m) {
			e.RawMetadata = m
			return e, nil
		}
		if e.Metadata, err = decodeMetadata(m, in); err != nil {
			// One damaged point must not hide a whole timeline: keep the event.
			level.Warn(logger).Log("msg", "metadata is not a JSON object; ignored",
				"environment_id", e.EnvironmentID, "event", e.Name, "event_id", e.ID, "err", err)
			e.Metadata = nil
		}
	}
	return e, nil
}

// seqOf is the journal sequence number in an event id ("<journal>-<seq>"); 0 when the
// id has none.
func seqOf(id string) uint64 {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		if seq, err := strconv.ParseUint(id[i+1:], 10, 64); err == nil {
			return seq
		}
	}
	return 0
}
