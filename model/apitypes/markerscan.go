package apitypes

import (
	"time"
)

// markerLayout is whether DeploymentMarker is still the struct scanMarker reads: a
// field added, renamed or retagged turns the fast path off (TestScanMarkerLayout
// notices).
var markerLayout = JSONLayout[DeploymentMarker](
	[2]string{"Kind", "kind"}, [2]string{"Environment", "environment"}, [2]string{"Host", "host,omitempty"},
	[2]string{"Application", "application"}, [2]string{"Activity", "activity"}, [2]string{"Status", "status"},
	[2]string{"Timestamp", "timestamp,omitempty"}, [2]string{"Backfill", "backfill,omitempty"})

// scanMarker decodes a plain deployment marker (a JSON object of the marker's fields,
// kind among them, each once and spelt exactly, with plain strings: what a CI pipeline
// sends) as DecodeEvent's checks and strictDecode decode it, without encoding/json's
// validation pass and reflection: a batch push is hundreds of them. false leaves body
// to them, and to their errors (FuzzScanMarker holds both to the same marker).
func scanMarker(body []byte) (DeploymentMarker, bool) {
	var m DeploymentMarker
	p := JSONScanner{B: body}
	if !markerLayout || !p.Byte('{') {
		return m, false
	}
	var seen uint8
	for first := true; ; first = false {
		if p.Byte('}') {
			break
		}
		if !first && !p.Byte(',') {
			return m, false
		}
		key, ok := p.RawString()
		if !ok || !p.Byte(':') {
			return m, false
		}
		var bit uint8
		var field *string
		switch string(key[1 : len(key)-1]) {
		case "kind":
			bit, field = 1, &m.Kind
		case "environment":
			bit, field = 2, &m.Environment
		case "host":
			bit, field = 4, &m.Host
		case "application":
			bit, field = 8, &m.Application
		case "activity":
			bit, field = 16, &m.Activity
		case "status":
			bit, field = 32, &m.Status
		case "timestamp":
			bit = 64
		case "backfill":
			bit = 128
		default:
			return m, false // unknown, or a case encoding/json matches: its answer
		}
		if seen&bit != 0 {
			return m, false
		}
		seen |= bit
		switch {
		case field != nil:
			if *field, ok = p.String(); !ok {
				return m, false
			}
		case bit == 64:
			if p.Literal("null") {
				m.Timestamp = nil
				continue
			}
			raw, ok := p.RawString()
			if !ok {
				return m, false
			}
			t := new(time.Time)
			if t.UnmarshalJSON(raw) != nil {
				return m, false
			}
			m.Timestamp = t
		default:
			switch {
			case p.Literal("true"):
				m.Backfill = true
			case p.Literal("false"):
				m.Backfill = false
			default:
				return m, false
			}
		}
	}
	return m, seen&1 != 0 && p.End()
}
