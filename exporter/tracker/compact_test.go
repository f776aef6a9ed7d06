package tracker

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fill sets every settable field of v (recursively through structs and pointers to
// structs) to a value distinct from its zero and from the other fields', so that a
// field the compact form forgot shows as a difference.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint8:
		v.SetUint(uint64(1 + *n%2))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, *n, 0, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: no value for a %s", v.Type())
	}
}

func TestCompactRoundTrip(t *testing.T) {
	var full State
	n := 0
	fill(t, reflect.ValueOf(&full).Elem(), &n)
	full.App.History, full.App.HistoryPending = nil, false // never kept (Step drops them)

	for name, s := range map[string]State{
		"every field set": full,
		"zero":            {ID: "zero"},
		"no rare field":   {ID: "a", Phase: PhaseReady, ReadyAt: full.ReadyAt, App: &Evidence{AppName: "a"}},
		"one rare field":  {ID: "b", Phase: PhaseTerminating, TerminationStartedAt: full.ReadyAt},
		"zero evidence":   {ID: "c", App: &Evidence{}},
		"evidence saying what the state says": {ID: "d", Name: "n", AppName: "app", Branch: "b", CommitSHA: "c", URL: "u",
			App: &Evidence{AppName: "app", EnvironmentID: "d", EnvironmentName: "n", Branch: "b", CommitSHA: "c", URL: "u", Revision: "c"}},
	} {
		t.Run(name, func(t *testing.T) {
			s.ID = "id-" + name
			got := pack(&s).state(s.ID)
			require.Equal(t, s, got)
			require.True(t, reflect.DeepEqual(s, got), "DeepEqual (samePersisted, holds) must agree")
		})
	}
	p := pack(&State{ID: "z", App: &Evidence{EnvironmentID: "z"}})
	require.Nil(t, p.rare, "nothing rare set, nothing rare allocated")
	require.Nil(t, p.app.own, "the evidence says what the state says")
	for _, f := range reflect.VisibleFields(reflect.TypeFor[State]()) {
		if f.Type == reflect.TypeFor[time.Time]() {
			require.True(t, reflect.ValueOf(full).FieldByIndex(f.Index).Interface().(time.Time).Unix() > 0, f.Name)
		}
	}
}

func TestStamp(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 0).UTC(),
		time.Unix(1, 0).UTC(),
		time.Unix(-1, 0).UTC(),
		time.Unix(0, 1).UTC(),
		time.Unix(-1, 999_999_999).UTC(),
		time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(2100, 1, 1, 0, 0, 0, 5, time.UTC),
	} {
		got := mkStamp(tm).Time()
		require.True(t, tm.Equal(got), "%v came back as %v", tm, got)
		require.Equal(t, tm.IsZero(), mkStamp(tm) == 0, "%v", tm)
	}
	// In another location: the same instant, in UTC.
	local := time.Date(2025, 6, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	require.Equal(t, local.UTC(), mkStamp(local).Time())
	// Beyond 2116 a fraction is not kept; the second is.
	far := time.Date(2500, 1, 1, 0, 0, 0, 5, time.UTC)
	require.Equal(t, far.Truncate(time.Second), mkStamp(far).Time())
}

// TestStateMemory holds the heap each tracked environment costs (issue 23: 100,000
// Applications within 256 MiB): a ready Argo CD environment with the evidence its
// state keeps. Measured as the live heap before and after building a tracker of them,
// not timed. It was ~1,280 bytes as State and Evidence in a map; compact, ~430.
func TestStateMemory(t *testing.T) {
	const n = 5000
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	mk := func() map[string]State {
		m := make(map[string]State, n)
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("pr-%05d", i)
			rev := fmt.Sprintf("%040x", i)
			m[id] = State{ID: id, Name: id, AppName: id, Type: "preview", Repository: "backend-api", Branch: "pr-" + id,
				CommitSHA: rev, Source: SourceArgoCD, Phase: PhaseReady, EverReady: true,
				CreatedAt: at, ProvisioningStartedAt: at, ReadyAt: at.Add(time.Minute), DeployedAt: at.Add(time.Minute),
				DeployedRevision: rev, HistoryCheckedAt: at.Add(time.Minute), LastObservedAt: at.Add(time.Hour),
				AppSeenAt: at.Add(time.Hour),
				App: &Evidence{AppName: id, EnvironmentID: id, EnvironmentName: id, Type: "preview", Repository: "backend-api", Branch: "pr-" + id,
					CommitSHA: rev, CreatedAt: at, Sync: SyncSynced, Revision: rev, Health: HealthHealthy,
					HealthStatus: "Healthy", HealthSince: at.Add(time.Minute), Op: OpSucceeded, OpPhase: "Succeeded",
					OpStartedAt: at, OpFinishedAt: at.Add(time.Minute), OpMessage: "successfully synced (all tasks run)",
					OpRevision: rev},
			}
		}
		return m
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := New(Config{}, mk()) // the states as decoded from the store, taken by New
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEnv := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per tracked environment", perEnv)
	require.Less(t, perEnv, int64(600), "heap per tracked environment")
	s, ok := tr.Get("pr-00042")
	require.True(t, ok)
	require.Equal(t, mk()["pr-00042"], s)
}
