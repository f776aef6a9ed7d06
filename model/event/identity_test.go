package event

import (
	"encoding/json"
	"testing"
	"time"
)

// TestIdentity: two entries are one fact when they say the same thing (what envtrack
// adds itself aside), and two when what was deployed differs, even in one second.
func TestIdentity(t *testing.T) {
	at := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	deployed := func(sha string, meta map[string]any, t time.Time) Event {
		return Event{EnvironmentID: "pr-1", Name: Deployed, Time: t, CommitSHA: sha, Metadata: meta}
	}
	marker := func(activity string, t time.Time) Event {
		return Event{EnvironmentID: "test", Name: Deployed, Time: t, Metadata: map[string]any{
			MetaKind: KindDeployment, "application": "app1", "activity": activity, "status": "success", "host": "h1"}}
	}
	for _, tc := range []struct {
		name string
		a, b Event
		same bool
	}{
		{"the same deploy", deployed("aaa", nil, at), deployed("aaa", nil, at), true},
		{"within the same second", deployed("aaa", nil, at), deployed("aaa", nil, at.Add(900*time.Millisecond)), true},
		{"another second", deployed("aaa", nil, at), deployed("aaa", nil, at.Add(time.Second)), false},
		{"another commit in the same second", deployed("aaa", nil, at), deployed("bbb", nil, at), false},
		{"another revision in the same second", deployed("", map[string]any{MetaRevision: "r1"}, at), deployed("", map[string]any{MetaRevision: "r2"}, at), false},
		{"the revision decides, not the commit", deployed("aaa", map[string]any{MetaRevision: "r1"}, at), deployed("bbb", map[string]any{MetaRevision: "r1"}, at), true},
		{"what envtrack adds is no part of it", deployed("aaa", map[string]any{"note": "x"}, at),
			deployed("aaa", map[string]any{"note": "x", MetaPushed: true, MetaIdempotencyKey: "k", MetaDetectedAt: "2025-01-07T10:00:01Z"}, at), true},
		{"other metadata", deployed("aaa", map[string]any{"note": "x"}, at), deployed("aaa", map[string]any{"note": "y"}, at), false},
		{"a number decoded or stored", deployed("aaa", map[string]any{"n": json.Number("3")}, at), deployed("aaa", map[string]any{"n": 3.0}, at), true},
		{"the same marker", marker("deploy-1", at), marker("deploy-1", at), true},
		{"another activity", marker("deploy-1", at), marker("deploy-2", at), false},
	} {
		a, okA := tc.a.Identity()
		b, okB := tc.b.Identity()
		if !okA || !okB {
			t.Fatalf("%s: no identity", tc.name)
		}
		if (a == b) != tc.same {
			t.Errorf("%s: same identity %v, want %v", tc.name, a == b, tc.same)
		}
	}
	if _, ok := (Event{EnvironmentID: "pr-1", Name: Created, Time: at}).Identity(); ok {
		t.Error("created has an identity: the tracker's state absorbs its repeats")
	}
}
