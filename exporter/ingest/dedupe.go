package ingest

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/blueberry-idp/envtrack/exporter/api"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// repeats remembers the Idempotency-Key headers of the journal, so that a CI retry
// answers 200 "unchanged" instead of being stored and counted twice (repeated markers
// are recognised by Recorder.repeated). It is built from the journal on the first push
// that needs it (so it survives restarts) and then kept current by commitGroup; only the
// push committer touches it (under queue.commit). Entries are hashes, so a flood of
// distinct markers costs 16 bytes each, and the journal's retention bounds them.
type repeats struct {
	loaded bool
	after  uint64 // the journal was read up to this seq
	seen   map[[16]byte]struct{}
}

func hashKey(parts ...string) [16]byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

func idempotencyKey(key string) [16]byte { return hashKey("idempotency-key", key) }

// load reads the journal once.
func (r *repeats) load(j Journal) error {
	if r.loaded {
		return nil
	}
	r.seen, r.after = map[[16]byte]struct{}{}, 0
	if err := r.catchUp(j); err != nil {
		r.seen = nil
		return err
	}
	r.loaded = true
	return nil
}

// catchUp reads the keys of the events appended since the last read: with a shared
// journal, those other replicas recorded (this one's own are known from its commits).
func (r *repeats) catchUp(j Journal) error {
	if r.seen == nil {
		r.seen = map[[16]byte]struct{}{}
	}
	for {
		evs, err := j.Events(r.after, 5000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			r.add(r.seen, e)
		}
		r.after = evs[len(evs)-1].Seq
	}
}

func (*repeats) add(seen map[[16]byte]struct{}, e event.Event) {
	if k, _ := e.Meta(tracker.MetaIdempotencyKey).(string); k != "" {
		seen[idempotencyKey(k)] = struct{}{}
	}
}

// group checks the keys of one commit group: a key is a repeat when the journal or an
// earlier push of the same group has it. The group's keys join the journal's only
// once the group is committed, so a failed commit remembers nothing.
type group struct {
	r     *repeats
	fresh map[[16]byte]struct{}
}

func (r *repeats) group() *group { return &group{r: r, fresh: map[[16]byte]struct{}{}} }

func (g *group) repeat(k [16]byte) bool {
	if _, ok := g.r.seen[k]; ok {
		return true
	}
	if _, ok := g.fresh[k]; ok {
		return true
	}
	g.fresh[k] = struct{}{}
	return false
}

// forget drops a key of this group (its push was rejected and stored nothing).
func (g *group) forget(k [16]byte) { delete(g.fresh, k) }

func (g *group) commit() {
	for k := range g.fresh {
		g.r.seen[k] = struct{}{}
	}
}

// repeated reports whether the pushed item repeats an event already in the journal (or
// earlier in the same group) exactly: same environment, event and evidence time, and for
// markers the same application, activity, status and host. The tracker's state already
// absorbs repeats of the once-per-life events (created, ready, ...); deployed, degraded
// and recovered happen many times, so a CI retry or a re-run `envtrack import` is
// recognised here, and answered "unchanged".
func (p *Recorder) repeated(it api.Item, seen map[string]bool) bool {
	var (
		env  string
		name event.Name
		at   time.Time
		key  string
	)
	switch {
	case it.Marker != nil:
		m := it.Marker
		env, name, at = m.EnvironmentID, m.Name, m.Time
		key = markerKey(m)
	case it.Push != nil:
		switch it.Push.Event {
		case event.Deployed, event.Degraded, event.Recovered:
		default:
			return false
		}
		env, name, at = it.EnvironmentID, it.Push.Event, it.Push.Time.UTC().Truncate(time.Second)
		key = fmt.Sprintf("push\x00%s\x00%s\x00%d", env, name, at.Unix())
	default:
		return false
	}
	if seen[key] {
		return true
	}
	seen[key] = true
	// A marker's environment is usually no tracked one (001's "test"): its markers are
	// in the journal all the same.
	if _, known := p.o.Tracker.Get(env); !known && it.Marker == nil {
		return false
	}
	evs, err := p.o.Journal.EnvironmentEvents(env)
	if err != nil {
		return false // the commit will meet the same store error and answer it
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Name != name || !e.Time.Equal(at) {
			continue
		}
		if it.Marker == nil && !e.IsMarker() || it.Marker != nil && e.IsMarker() && markerKey(&e) == key {
			return true
		}
	}
	return false
}

// itemKey is the Idempotency-Key a pushed item carries ("" when none).
func itemKey(it api.Item) string {
	if it.Push != nil {
		return it.Push.IdempotencyKey
	}
	if it.Marker != nil {
		k, _ := it.Marker.Meta(tracker.MetaIdempotencyKey).(string)
		return k
	}
	return ""
}

func markerKey(e *event.Event) string {
	str := func(k string) string { s, _ := e.Meta(k).(string); return s }
	return fmt.Sprintf("marker\x00%s\x00%d\x00%s\x00%s\x00%s\x00%s", e.EnvironmentID, e.Time.Unix(),
		str("application"), str("activity"), str("status"), str("host"))
}
