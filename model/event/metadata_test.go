package event

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// The accessors must read the same values before and after the journal's JSON round
// trip, and treat a missing or wrongly typed value as absent.
func TestAccessors(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		meta       map[string]any
		backfill   bool
		late       bool
		baseline   bool
		reason     string
		detectedAt time.Time
		kind       Kind
	}{
		{name: "empty"},
		{name: "all set", meta: map[string]any{MetaBackfill: true, MetaLate: true, MetaBaseline: true,
			MetaReason: ReasonTimeout, MetaDetectedAt: at.Format(time.RFC3339)},
			backfill: true, late: true, baseline: true, reason: ReasonTimeout, detectedAt: at},
		{name: "wrong types", meta: map[string]any{MetaBackfill: "true", MetaLate: 1.0, MetaReason: 3.0,
			MetaDetectedAt: "yesterday", MetaKind: 7.0}},
		{name: "marker", meta: Marker{Status: "success"}.Metadata(), kind: KindDeployment},
		{name: "kind set in Go", meta: map[string]any{MetaKind: KindDeployment}, kind: KindDeployment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Event{Metadata: tc.meta}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, e := range []Event{e, back} {
				da, ok := e.DetectedAt()
				if e.Backfill() != tc.backfill || e.Late() != tc.late || e.Baseline() != tc.baseline ||
					e.Reason() != tc.reason || !da.Equal(tc.detectedAt) || ok != !tc.detectedAt.IsZero() ||
					e.Kind() != tc.kind || e.IsMarker() != (tc.kind == KindDeployment) {
					t.Errorf("%v: backfill %v late %v baseline %v reason %q detected %v %v kind %q",
						e.Metadata, e.Backfill(), e.Late(), e.Baseline(), e.Reason(), da, ok, e.Kind())
				}
			}
		})
	}
}

// A marker written with Metadata reads back the same, also after the JSON round trip.
func TestMarkerRoundTrip(t *testing.T) {
	for _, m := range []Marker{
		{Application: "app1", Activity: "deployment-app1-1.2.34", Status: "success"},
		{Host: "host1", Application: "app1", Activity: "rollback", Status: "failed", Failed: true},
	} {
		e := Event{Name: Deployed, Metadata: m.Metadata()}
		if _, ok := e.Metadata[MetaHost]; ok != (m.Host != "") {
			t.Errorf("%+v: host key present %v", m, ok)
		}
		b, _ := json.Marshal(e)
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		for _, e := range []Event{e, back} {
			if !e.IsMarker() || e.Marker() != m {
				t.Errorf("got %+v marker %v, want %+v", e.Marker(), e.IsMarker(), m)
			}
		}
	}
}

// Number takes every JSON-ish number (moved here from the InfluxDB sink's test, where a
// copy of it lived).
func TestNumber(t *testing.T) {
	for _, v := range []any{225, int64(225), uint32(225), 225.0, float32(225), json.Number("225")} {
		f, ok := Number(v)
		if !ok || f != 225 {
			t.Errorf("%T %v: %v %v", v, v, f, ok)
		}
	}
	for _, v := range []any{"225", nil, true, math.NaN(), math.Inf(1), json.Number("x")} {
		if _, ok := Number(v); ok {
			t.Errorf("%T %v: a number", v, v)
		}
	}
}
