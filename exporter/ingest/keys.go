package ingest

import (
	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Idempotency-Keys follow the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-
// header-07): a key names one request, bound to a fingerprint of it (section 2.4; the
// API's is the method, the path and the canonical body). The same key with the same
// request again is a retry, answered 200 "unchanged" and storing nothing; with another
// request it is refused with 422 (section 2.7, "Error Scenarios"), since the key would
// otherwise swallow an event the client meant to send. Keys expire with the journal's
// retention (retention.events, section 2.3): Prune drops them, in the store, so that
// the answer is the same before and after a restart, and the set of keys is bounded by
// what a retention period brings.

// checkKeys answers the group's requests that repeat a recorded Idempotency-Key: a
// retry is unchanged (skip, nothing per item), a reuse with another request is refused
// (err); a request with the key of an earlier request of the group is deferred. It
// returns the keys the group may record, with their requests' fingerprints.
//
// Without lookup every key is taken as not recorded (commitOnce's optimistic attempt).
func (p *Recorder) checkKeys(batch []*request, lookup bool) (map[string]event.Fingerprint, error) {
	var names []string
	for _, r := range batch {
		if r.key.Name != "" {
			names = append(names, r.key.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	var recorded map[string]event.Fingerprint
	if lookup {
		var err error
		if recorded, err = p.o.Journal.IdempotencyKeys(names); err != nil {
			return nil, err
		}
	}
	fresh := map[string]event.Fingerprint{}
	for _, r := range batch {
		k := r.key
		if k.Name == "" {
			continue
		}
		if _, ok := fresh[k.Name]; ok {
			r.deferred = true // an earlier request of the group has the key: decided after it
			continue
		}
		fp, ok := recorded[k.Name]
		switch {
		case !ok:
			fresh[k.Name] = k.Fingerprint
		case fp == k.Fingerprint || fp == (event.Fingerprint{}): // zero: recorded before fingerprints were
			r.skip = true // a retry: unchanged
		default:
			r.skip = true
			r.err = &api.KeyReusedError{Key: k.Name}
		}
	}
	return fresh, nil
}

// keysIn returns the keys of fresh that events carry (withKey put them there): those of
// the requests the commit stores events of.
func keysIn(events []event.Event, fresh map[string]event.Fingerprint) map[string]event.Fingerprint {
	var out map[string]event.Fingerprint
	for _, e := range events {
		k, _ := e.Meta(event.MetaIdempotencyKey).(string)
		if fp, ok := fresh[k]; ok && k != "" {
			if out == nil {
				out = map[string]event.Fingerprint{}
			}
			out[k] = fp
		}
	}
	return out
}

// reused answers the requests of batch whose keys (of left) were recorded with another
// request: 422, as checkKeys would have.
func (p *Recorder) reused(batch []*request, left map[string]event.Fingerprint) error {
	names := make([]string, 0, len(left))
	for k := range left {
		names = append(names, k)
	}
	recorded, err := p.o.Journal.IdempotencyKeys(names)
	if err != nil {
		return err
	}
	for _, r := range batch {
		fp, ok := recorded[r.key.Name]
		if _, mine := left[r.key.Name]; mine && ok && r.err == nil && fp != r.key.Fingerprint && fp != (event.Fingerprint{}) {
			r.err = &api.KeyReusedError{Key: r.key.Name}
		}
	}
	return nil
}
