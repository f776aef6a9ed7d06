package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
)

// Fingerprint is a digest of what an event or a request says: 128 bits (of a request,
// the first 128 bits of its SHA-256; of an event, its second and 64 bits: Identity).
// Journals index events by it (Identity) and bind an Idempotency-Key to the request it
// first came with.
type Fingerprint [16]byte

// addedKeys are the metadata keys envtrack adds to a pushed or observed event itself:
// they say when and how envtrack recorded it, not what happened, so they are no part of
// its identity.
var addedKeys = map[string]bool{MetaDetectedAt: true, MetaPushed: true, MetaIdempotencyKey: true, MetaBackfill: true}

// Identity is what makes two journal entries the same fact, for those that can happen
// more than once in an environment, so that neither the tracker's state nor a second's
// resolution tells them apart:
//
//   - a deployment marker: its environment, second, application, activity, status and
//     host;
//   - deployed, degraded and recovered: the environment, the event, the second, and what
//     was deployed: the revision it names (metadata "revision"), or, when it names
//     none, its commit_sha and everything its metadata says besides what envtrack adds
//     itself (detected_at, pushed, idempotency_key, backfill).
//
// Two entries with the same identity are one fact told twice (a CI retry, a re-run
// import, a push beside Argo CD's own record of the same deploy); two deploys of
// different revisions in one second are two. ok is false for every other event: the
// tracker's state lets each of them happen once per environment life.
func (e Event) Identity() (id Fingerprint, ok bool) {
	var buf [512]byte // the parts, hashed at once: no allocation for most events
	var parts []byte
	switch {
	case e.IsMarker():
		m := e.Marker()
		parts = appendParts(buf[:0], "marker", e.EnvironmentID, "", m.Application, m.Activity, m.Status, m.Host)
	case e.Name == Deployed || e.Name == Degraded || e.Name == Recovered:
		if rev, _ := e.Meta(MetaRevision).(string); rev != "" {
			parts = appendParts(buf[:0], "lifecycle", e.EnvironmentID, string(e.Name), "revision", rev)
		} else {
			parts = appendParts(buf[:0], "lifecycle", e.EnvironmentID, string(e.Name), "said", e.CommitSHA, canonicalMeta(e.Metadata))
		}
	default:
		return id, false
	}
	sum := sha256.Sum256(parts)
	// The second first, then 64 bits of the digest: keys in time order, so that a
	// journal's index of identities grows at its end (a commit of recent events touches
	// a few pages, not one per event, as random keys would), and only events of the same
	// second share a prefix (a collision of the rest: 2^-64 per pair).
	binary.BigEndian.PutUint64(id[:8], uint64(e.Time.Unix()))
	copy(id[8:], sum[:])
	return id, true
}

// appendParts appends length-prefixed strings, so that no two lists of parts give the
// same bytes.
func appendParts(dst []byte, parts ...string) []byte {
	for _, p := range parts {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
		dst = append(dst, p...)
	}
	return dst
}

// canonicalMeta is the metadata as JSON with sorted keys, numbers as float64 (the same
// whether they were decoded from a push, as json.Number, or from the journal), without
// the keys envtrack adds.
func canonicalMeta(m map[string]any) string {
	said := make(map[string]any, len(m))
	for k, v := range m {
		if !addedKeys[k] {
			said[k] = canonicalValue(v)
		}
	}
	if len(said) == 0 {
		return ""
	}
	b, err := json.Marshal(said)
	if err != nil {
		return "" // cannot happen for metadata that was stored as JSON
	}
	return string(b)
}

func canonicalValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, vv := range x {
			out[k] = canonicalValue(vv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = canonicalValue(vv)
		}
		return out
	case string, bool, nil:
		return x
	}
	if f, ok := Number(v); ok {
		return f
	}
	return v
}

// FingerprintOf is the fingerprint of a list of strings (length-prefixed, so that no
// two lists share one): a request's method, path and canonical body, say.
func FingerprintOf(parts ...string) Fingerprint {
	var buf [512]byte
	sum := sha256.Sum256(appendParts(buf[:0], parts...))
	var f Fingerprint
	copy(f[:], sum[:])
	return f
}
