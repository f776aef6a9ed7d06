package recycle

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecyclerKeepsAcrossCollections: values put back to keep survive garbage
// collections (KeptValues of them; a sync.Pool empties at every other one), in the order
// of a channel; without keep, or beyond KeptValues, they go to the pool.
func TestRecyclerKeepsAcrossCollections(t *testing.T) {
	for _, tc := range []struct {
		name string
		put  int  // values put back
		keep bool // put back to keep
		want int  // of them got back after two collections
	}{
		{"one kept", 1, true, 1},
		{"as many as kept", KeptValues, true, KeptValues},
		{"more than kept", KeptValues + 3, true, KeptValues},
		{"not to keep", 2, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New[[]byte]()
			var put []*[]byte
			for range tc.put {
				v := r.Get()
				*v = make([]byte, 0, 64)
				put = append(put, v)
			}
			for _, v := range put {
				r.Put(v, tc.keep)
			}
			runtime.GC()
			runtime.GC()
			got := 0
			for i := 0; i < tc.put; i++ {
				v := r.Get()
				if i < len(put) && v == put[i] {
					got++
				}
			}
			if tc.keep {
				require.Equal(t, tc.want, got)
			} else {
				require.LessOrEqual(t, got, tc.want)
			}
		})
	}
}
