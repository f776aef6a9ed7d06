package store

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/event"
)

// sameEventJSON: the journal's encoder writes what json.Marshal writes for ev, byte for
// byte (or fails where it fails); it reports whether it took the fast path.
func sameEventJSON(t *testing.T, ev *event.Event) bool {
	t.Helper()
	want, wantErr := json.Marshal(ev)
	var enc eventEncoder
	got, err := enc.encode(ev)
	if wantErr != nil {
		require.Error(t, err)
		return false
	}
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	_, fast := appendEvent(nil, ev)
	return fast
}

// TestEventJSON: the journal's events are encoding/json's, for the events envtrack
// stores and for the values encoding/json writes in its own way.
func TestEventJSON(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	marker := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	for name, tc := range map[string]struct {
		ev   event.Event
		fast bool
	}{
		"marker": {ev: event.Event{Seq: 42, ID: "0011223344556677-42", EnvironmentID: "test", EnvironmentName: "test", Name: event.Deployed,
			Time: t0.Truncate(time.Second), Metadata: marker.Metadata(), RecordedAt: t0, Source: "api"}, fast: true},
		"every field": {ev: event.Event{Seq: math.MaxUint64, ID: "x-1", EnvironmentID: "pr-7.feature:login", EnvironmentName: `Login "v2" \ <b>&amp;</b>`,
			Name: event.Ready, Time: t0, Type: "preview", Repository: "https://git.example/a?b=<c>&d", Branch: "feature/ä\u2028", CommitSHA: "a1b2c3",
			Metadata: map[string]any{"reason": "x\n\t\x01\xff", "late": true, event.MetaProvisioningDuration: 180.5, "nested": map[string]any{"b": []any{nil, 1e21}, "a": 1e-7},
				"": "empty key", "n": json.Number("1.50"), "i": 7},
			RecordedAt: t0.Add(time.Second), Source: "argocd"}, fast: true},
		"empty metadata is omitted":       {ev: event.Event{Seq: 1, Name: event.Created, Time: t0, RecordedAt: t0, Metadata: map[string]any{}}, fast: true},
		"zero":                            {ev: event.Event{}, fast: true},
		"raw metadata is never journaled": {ev: event.Event{Seq: 1, Name: event.Created, Time: t0, RecordedAt: t0, RawMetadata: `{"a":1}`}, fast: true},
		"zones": {ev: event.Event{Seq: 1, Name: event.Created, Time: t0.In(time.FixedZone("CEST", 2*3600)),
			RecordedAt: t0.In(time.FixedZone("odd", -(3*3600 + 30)))}, fast: true},
		"year 1 and 9999": {ev: event.Event{Seq: 1, Name: event.Created, Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			RecordedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}, fast: true},
		// What encoding/json refuses, it is left to refuse.
		"year 10000": {ev: event.Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"NaN":        {ev: event.Event{Metadata: map[string]any{"x": math.NaN()}}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.fast, sameEventJSON(t, &tc.ev))
		})
	}
}

// TestEventJSONLayout: the fast path knows every field of event.Event. A field added to
// it must be added to appendEvent (and to eventLayout), or the journal's events would
// go back to encoding/json's reflection unnoticed.
func TestEventJSONLayout(t *testing.T) {
	require.True(t, eventLayout, "event.Event changed: teach appendEvent (eventjson.go) its new layout")
}

// TestEventEncoderValues: the values of one transaction stay as they were encoded while
// later ones are (bbolt keeps them until the commit), across the buffer's growth.
func TestEventEncoderValues(t *testing.T) {
	var enc eventEncoder
	var got [][]byte
	var want []string
	for i := range 300 {
		ev := event.Event{Seq: uint64(i), Name: event.Deployed, Metadata: map[string]any{"pad": string(make([]byte, i*7))}}
		b, err := enc.encode(&ev)
		require.NoError(t, err)
		got = append(got, b)
		w, _ := json.Marshal(&ev)
		want = append(want, string(w))
	}
	for i := range got {
		require.Equal(t, want[i], string(got[i]), "value %d", i)
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add(uint64(42), "0011223344556677-42", "test", "", "deployed", int64(1736244000), int64(0), "", "", "", "", "host", "ci-3", 1.5, true, "api")
	f.Add(uint64(0), "", "a<b>&c", "é\u2028", "", int64(-62135596800), int64(999999999), "t", "r\x00", "b\xff", "sha", "", "", math.Copysign(0, -1), false, "")
	f.Fuzz(func(t *testing.T, seq uint64, id, env, envName, name string, sec, nsec int64, typ, repo, branch, sha, mk, mv string, num float64, flag bool, source string) {
		at := time.Unix(sec%(300*365*24*3600), nsec%1e9).UTC()
		meta := map[string]any{}
		if mk != "" {
			meta[mk] = mv
			meta[mk+"#n"] = num
			meta[mk+"#b"] = flag
			meta[mk+"#l"] = []any{mv, num, nil}
		}
		ev := event.Event{Seq: seq, ID: id, EnvironmentID: env, EnvironmentName: envName, Name: event.Name(name), Time: at,
			Type: typ, Repository: repo, Branch: branch, CommitSHA: sha, Metadata: meta, RecordedAt: at.In(time.FixedZone("", int(nsec%50000))), Source: source}
		sameEventJSON(t, &ev)
	})
}

// sameParse: parseEvent decodes v as json.Unmarshal does, when it decodes it at all;
// it reports whether it did.
func sameParse(t *testing.T, v []byte) bool {
	t.Helper()
	got, ok := parseEvent(v)
	if !ok {
		return false
	}
	var want event.Event
	require.NoError(t, json.Unmarshal(v, &want), "%s", v)
	require.Equal(t, want, got, "%s", v)
	return true
}

// TestParseEvent: what the journal's encoder writes is read back without
// encoding/json, as encoding/json reads it; anything else is left to it.
func TestParseEvent(t *testing.T) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	marker := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	for name, tc := range map[string]struct {
		v    string
		fast bool
	}{
		"marker": {v: string(must(json.Marshal(event.Event{Seq: 42, ID: "0011223344556677-42", EnvironmentID: "test", EnvironmentName: "test",
			Name: event.Deployed, Time: t0.Truncate(time.Second), Metadata: marker.Metadata(), RecordedAt: t0, Source: "api"}))), fast: true},
		"lifecycle": {v: string(must(json.Marshal(event.Event{Seq: 1, ID: "a-1", EnvironmentID: "pr-1", Name: event.Ready, Time: t0.In(time.FixedZone("", 3600)),
			Type: "preview", Repository: "r", Branch: "b", CommitSHA: "c", RecordedAt: t0,
			Metadata: map[string]any{event.MetaProvisioningDuration: 180.25, "late": false, "x": nil, "big": 1e21, "small": -1.5e-7}}))), fast: true},
		"zero":                  {v: string(must(json.Marshal(event.Event{}))), fast: true},
		"empty metadata":        {v: `{"seq":1,"metadata":{}}`, fast: true},
		"null metadata":         {v: `{"seq":1,"metadata":null}`, fast: true},
		"keys in another order": {v: `{"event":"created","seq":7,"id":"x"}`, fast: true},
		"repeated metadata key": {v: `{"metadata":{"a":1,"a":"two"}}`, fast: true},
		"escapes":               {v: `{"id":"a\u003cb","seq":1}`},
		"nested metadata":       {v: `{"metadata":{"a":{"b":1}}}`},
		"whitespace":            {v: " {\"seq\" : 1 ,\n\"metadata\":\t{ \"a\" : true } } ", fast: true},
		"key in another case":   {v: `{"Seq":1}`},
		"repeated key":          {v: `{"seq":1,"seq":2}`},
		"unknown key":           {v: `{"seq":1,"extra":2}`},
		"fractional seq":        {v: `{"seq":1.5}`},
		"null string":           {v: `{"id":null}`},
		"number out of range":   {v: `{"metadata":{"a":1e400}}`},
		"bad number":            {v: `{"metadata":{"a":01}}`},
		"bad time":              {v: `{"timestamp":"yesterday"}`},
		"invalid UTF-8":         {v: "{\"id\":\"\xff\"}"},
		"trailing text":         {v: `{"seq":1}x`},
		"truncated":             {v: `{"seq":1,"metadata":{"a":tru`},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.fast, sameParse(t, []byte(tc.v)))
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzParseEvent(f *testing.F) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	marker := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	f.Add(must(json.Marshal(event.Event{Seq: 42, ID: "0011223344556677-42", EnvironmentID: "test", EnvironmentName: "test",
		Name: event.Deployed, Time: t0.Truncate(time.Second), Metadata: marker.Metadata(), RecordedAt: t0, Source: "api"})))
	f.Add([]byte(`{"seq":0,"metadata":{"a":-0.5e+3,"b":true,"c":null,"d":"é"},"timestamp":"2025-01-07T10:00:00+02:00"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := parseEvent(v)
		var want event.Event
		err := json.Unmarshal(v, &want)
		if ok {
			require.NoError(t, err, "%q", v)
			require.Equal(t, want, got, "%q", v)
		}
	})
}

// BenchmarkEventJSON: one marker encoded and decoded as the journal does, against
// encoding/json (go test -run '^$' -bench EventJSON -benchmem ./exporter/store/).
func BenchmarkEventJSON(b *testing.B) {
	t0 := time.Date(2025, 1, 7, 10, 0, 0, 123456789, time.UTC)
	m := event.Marker{Host: "ci-3", Application: "app-7", Activity: "deploy-app-7-42", Status: "success"}
	ev := event.Event{Seq: 42, ID: "0011223344556677-42", EnvironmentID: "test", EnvironmentName: "test", Name: event.Deployed,
		Time: t0.Truncate(time.Second), Metadata: m.Metadata(), RecordedAt: t0, Source: "api"}
	v := must(json.Marshal(&ev))
	b.Run("encode", func(b *testing.B) {
		var enc eventEncoder
		for range b.N {
			enc.buf = enc.buf[:0] // as a new transaction would, without its allocation
			_, _ = enc.encode(&ev)
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		for range b.N {
			_, _ = json.Marshal(&ev)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for range b.N {
			_, _ = decodeEvent(nil, v)
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		for range b.N {
			var ev event.Event
			_ = json.Unmarshal(v, &ev)
		}
	})
}
