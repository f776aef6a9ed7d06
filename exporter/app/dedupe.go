package app

import (
	"crypto/sha256"
	"fmt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// repeats remembers the Idempotency-Key headers of the journal, so that a CI retry
// answers 200 "unchanged" instead of being stored and counted twice (repeated markers
// are recognised by App.repeated). It is built from the journal on the first push that needs it
// (so it survives restarts) and then kept current by commitGroup; only the push
// committer touches it (under pushQueue.commit). Entries are hashes, so a flood of
// distinct markers costs 16 bytes each, and the journal's retention bounds them.
type repeats struct {
	loaded bool
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
func (r *repeats) load(a *App) error {
	if r.loaded {
		return nil
	}
	seen := map[[16]byte]struct{}{}
	for after := uint64(0); ; {
		evs, err := a.store.Events(after, 5000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			r.add(seen, e)
		}
		after = evs[len(evs)-1].Seq
	}
	r.seen, r.loaded = seen, true
	return nil
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
