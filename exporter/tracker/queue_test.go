package tracker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeadlineQueue: the deadlines come out earliest first (ties by id), a moved one
// takes its new place, a removed one is gone, and passed visits exactly those at or
// before the time asked, checked against a sorted list after every random operation.
func TestDeadlineQueue(t *testing.T) {
	q := newDeadlineQueue()
	want := map[string]time.Time{}
	rng := rand.New(rand.NewPCG(23, 1))
	passed := func(at time.Time) []deadlineItem {
		var out []deadlineItem
		q.passed(at, func(d deadlineItem) { out = append(out, d) })
		slices.SortFunc(out, func(a, b deadlineItem) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		return out
	}
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("env-%03d", rng.IntN(200))
		switch rng.IntN(3) {
		case 0, 1:
			d := t0.Add(time.Duration(rng.IntN(100)) * time.Minute)
			q.set(id, d)
			want[id] = d
		default:
			q.remove(id)
			delete(want, id)
		}
		require.Len(t, q.items, len(want))
		require.Len(t, q.pos, len(want))
		if len(want) > 0 {
			// The root is the earliest, ties by id.
			var first deadlineItem
			for id, d := range want {
				if first.id == "" || d.Before(first.at) || d.Equal(first.at) && id < first.id {
					first = deadlineItem{id, d}
				}
			}
			require.Equal(t, first, q.items[0])
		}
		at := t0.Add(time.Duration(rng.IntN(110)) * time.Minute)
		var expect []deadlineItem
		for id, d := range want {
			if !d.After(at) {
				expect = append(expect, deadlineItem{id, d})
			}
		}
		slices.SortFunc(expect, func(a, b deadlineItem) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		got := passed(at)
		if len(expect) == 0 {
			require.Empty(t, got)
		} else {
			require.Equal(t, expect, got, "step %d", i)
		}
	}
}

// TestDeadlineQueueVisitsOnlyPassed: finding the passed deadlines among 10,000 costs
// those (and the children that cut the walk), not the queue.
func TestDeadlineQueueVisitsOnlyPassed(t *testing.T) {
	q := newDeadlineQueue()
	for i := 0; i < 10000; i++ {
		q.set(fmt.Sprintf("env-%05d", i), t0.Add(time.Duration(i)*time.Second))
	}
	visited := 0
	q.passed(t0.Add(4*time.Second), func(deadlineItem) { visited++ })
	require.Equal(t, 5, visited)
	q.remove("env-00002")
	q.set("env-00003", t0.Add(time.Hour))
	var got []string
	q.passed(t0.Add(4*time.Second), func(d deadlineItem) { got = append(got, d.id) })
	slices.Sort(got)
	require.Equal(t, []string{"env-00000", "env-00001", "env-00004"}, got)
}
