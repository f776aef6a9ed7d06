package influxdb

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/query"
	"github.com/blueberry-idp/envtrack/exporter/store"
	synth "github.com/blueberry-idp/envtrack/internal/scenario"
	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// markerView is what a deployment marker is to its readers (the pages): its identity,
// environment, time and the marker's fields. The journal keeps more (when it was
// recorded, a push's idempotency key), which InfluxDB's deployments measurement does
// not hold.
type markerView struct {
	ID, EnvironmentID, EnvironmentName string
	Seq                                uint64
	Time                               time.Time
	Marker                             event.Marker
}

func markerViews(evs []event.Event) []markerView {
	out := make([]markerView, len(evs))
	for i, e := range evs {
		if e.IsLifecycle() {
			panic(fmt.Sprintf("%s is no marker", e.ID))
		}
		out[i] = markerView{ID: e.ID, EnvironmentID: e.EnvironmentID, EnvironmentName: e.EnvironmentName, Seq: e.Seq,
			Time: e.Time.UTC(), Marker: e.Marker()}
	}
	return out
}

// TestReadPathsAgree: the journal, Flux and InfluxQL answer every question identically
// from the same history in a real InfluxDB 1.8.10: timelines, insights (exact
// percentiles: each backend hands over the durations and the query layer computes
// them in Go, as for the journal), the landing page's chart data and CI's deployment
// markers. The history is a long one (WORKLOADS.md): 30 days of 600 environments and
// 4,000 CI markers over 20 environments, three quarters of them in "test", ids with
// dots and colons, metadata and activities with quotes, backslashes and "${", two
// deploys of one environment in one second. InfluxQL runs with the server's chunks and
// with chunks of 250 rows (many chunk boundaries).
func TestReadPathsAgree(t *testing.T) {
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const span = 30 * 24 * time.Hour
	life, states := synth.Synthetic(end, span, 600)
	// Ids and metadata as people write them.
	rename := map[string]string{"env-00007": "pr-7.feature:login", "env-00019": "Team_A.env-19", "env-00029": "9"}
	for i := range life {
		e := &life[i]
		if id, ok := rename[e.EnvironmentID]; ok {
			e.EnvironmentID, e.EnvironmentName = id, `Login "v2" \ ${team}'s`
		}
		if e.Name == event.ProvisioningFailed {
			e.Metadata[event.MetaMessage] = `ComparisonError: "values.yaml" \n at C:\charts\app ${x} 'quoted'`
		}
	}
	for i := range states {
		if id, ok := rename[states[i].ID]; ok {
			states[i].ID = id
		}
	}
	markers := synth.Markers(end, span, 4000)

	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "envtrack.db"), store.Options{Now: func() time.Time { return end }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = st.Commit(states, append(life, markers...))
	require.NoError(t, err)

	db := testinfra.StartInfluxDB(t, testinfra.WithFlux())
	f := newFixtureOn(t, db, db.Bucket, "")
	for after := uint64(0); ; {
		batch, err := st.Events(after, 5000)
		require.NoError(t, err)
		if len(batch) == 0 {
			break
		}
		f.deliver(t, batch)
		after = batch[len(batch)-1].Seq
	}
	chunked, err := NewInfluxQL(section(config.InfluxDBConfig{URL: db.URL, Bucket: db.Bucket}), log.NewNopLogger(), nil)
	require.NoError(t, err)
	chunked.chunkSize = 250
	t.Cleanup(chunked.Close)

	now := func() time.Time { return end }
	services := map[string]*query.Service{
		"journal":             query.NewService(query.NewJournalBackend(st), config.DefaultTargetsConfig, now),
		"journal cache":       query.NewService(query.NewCachedJournal(st), config.DefaultTargetsConfig, now),
		"flux":                query.NewService(f.flux, config.DefaultTargetsConfig, now),
		"influxql":            query.NewService(f.influxql, config.DefaultTargetsConfig, now),
		"influxql chunks=250": query.NewService(chunked, config.DefaultTargetsConfig, now),
	}
	ctx := context.Background()
	// The reference is the journal, as the daemon reads it (through its cache); the
	// uncached journal is the reference for what the cache does not keep.
	ask := func(t *testing.T, question func(*query.Service) (any, error), skip string) {
		t.Helper()
		ref := "journal cache"
		if skip == ref {
			ref = "journal"
		}
		want, err := question(services[ref])
		require.NoError(t, err)
		for name, svc := range services {
			if name == skip {
				continue
			}
			got, err := question(svc)
			require.NoError(t, err, name)
			require.Equal(t, want, got, name)
		}
	}

	t.Run("timelines", func(t *testing.T) {
		ids := []string{"pr-7.feature:login", "Team_A.env-19", "9", "env-00000", "env-00009", "env-00599"}
		for i := 0; i < 600; i += 37 {
			ids = append(ids, fmt.Sprintf("env-%05d", i))
		}
		raws := 0
		for _, id := range ids {
			ask(t, func(s *query.Service) (any, error) { return s.Timeline(ctx, id) }, "journal")
			// The API's timeline (TimelineRaw) is the same document: metadata kept as
			// stored is what json.Marshal writes for the map it stands for.
			ask(t, func(s *query.Service) (any, error) {
				tl, err := s.TimelineRaw(ctx, id)
				if err != nil {
					return nil, err
				}
				for i := range tl.Timeline {
					e := &tl.Timeline[i]
					if e.RawMetadata == "" {
						continue
					}
					raws++
					require.Nil(t, e.Metadata)
					e.Metadata = apitypes.DecodeMetadata(e.RawMetadata)
					b, err := json.Marshal(e.Metadata)
					require.NoError(t, err)
					require.Equal(t, e.RawMetadata, string(b))
					e.RawMetadata = ""
				}
				return tl, nil
			}, "journal")
		}
		require.Positive(t, raws, "metadata kept as stored")
		for name, svc := range services {
			_, err := svc.Timeline(ctx, "nobody")
			require.ErrorIs(t, err, query.ErrNotFound, name)
			_, err = svc.Timeline(ctx, "test") // markers only: no lifecycle
			require.ErrorIs(t, err, query.ErrNotFound, name)
		}
	})
	t.Run("insights", func(t *testing.T) {
		for _, q := range []struct {
			win time.Duration
			typ string
		}{{span, ""}, {span, "staging"}, {7 * 24 * time.Hour, "preview"}, {24 * time.Hour, ""}, {span, "nosuchtype"}} {
			ask(t, func(s *query.Service) (any, error) { return s.Performance(ctx, q.win, "w", q.typ) }, "journal")
		}
		p, err := services["influxql"].Performance(ctx, span, "30d", "")
		require.NoError(t, err)
		require.Greater(t, p.EnvironmentPerformance.Provisioning.SampleSize, 500, "a long history")
	})
	t.Run("charts", func(t *testing.T) {
		for _, win := range []time.Duration{24 * time.Hour, span} {
			ask(t, func(s *query.Service) (any, error) { return s.Chart(ctx, win, "w", "") }, "journal")
		}
	})
	t.Run("markers", func(t *testing.T) {
		// Every field, but for the journal cache, which keeps what the landing page
		// draws (time, environment, activity, failed); those it must agree on.
		markersOf := func(evs []event.Event, err error) (any, error) {
			if err != nil {
				return nil, err
			}
			return markerViews(evs), nil
		}
		drawn := func(evs []event.Event, err error) (any, error) {
			if err != nil {
				return nil, err
			}
			out := make([]markerView, len(evs))
			for i, e := range evs {
				m := e.Marker()
				out[i] = markerView{Seq: e.Seq, EnvironmentID: e.EnvironmentID, Time: e.Time.UTC(),
					Marker: event.Marker{Activity: m.Activity, Failed: m.Failed}}
			}
			return out, nil
		}
		for _, win := range []time.Duration{24 * time.Hour, span + time.Hour} {
			ask(t, func(s *query.Service) (any, error) { return markersOf(s.Markers(ctx, end.Add(-win), end)) }, "journal cache")
			ask(t, func(s *query.Service) (any, error) { return drawn(s.Markers(ctx, end.Add(-win), end)) }, "journal")
		}
		for _, id := range []string{"test", "prod.eu-1", "perf:load", "env-00001"} {
			ask(t, func(s *query.Service) (any, error) { return markersOf(s.EnvironmentMarkers(ctx, id)) }, "journal cache")
		}
		ms, err := services["influxql"].EnvironmentMarkers(ctx, "test")
		require.NoError(t, err)
		require.Greater(t, len(ms), 3000, "a long history")
		twins := 0
		for i := 1; i < len(ms); i++ {
			if ms[i].Time.Equal(ms[i-1].Time) {
				twins++
			}
		}
		require.Positive(t, twins, "two deploys in one second both come back")
		require.True(t, strings.Contains(ms[0].Marker().Activity, `C:\ci\build\`), ms[0].Marker().Activity)
	})
}
