package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/internal/testclock"
)

// tracking records what the URL checks hand over.
type tracking struct {
	mu     sync.Mutex
	urls   map[string]string
	ticks  []tracker.Observation
	rounds [][]tracker.Observation
}

func (t *tracking) URLs() map[string]string { return t.urls }

func (t *tracking) Ticks(at time.Time) []tracker.Observation {
	out := make([]tracker.Observation, len(t.ticks))
	for i, o := range t.ticks {
		o.At = at
		out[i] = o
	}
	return out
}

func (t *tracking) Track(_ context.Context, obs []tracker.Observation) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rounds = append(t.rounds, obs)
	return nil
}

func (t *tracking) tracked() [][]tracker.Observation {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]tracker.Observation(nil), t.rounds...)
}

// TestRunRounds: Run probes the tracker's URLs and the static environments (described
// by their entry) now and every interval of its clock, each round one hand-over with
// the tracker's ticks; a round cut short by the end of ctx hands over nothing.
func TestRunRounds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	clk := testclock.New(t0)
	cfg := config.DefaultURLConfig
	p, err := New(cfg, Options{Clock: clk}, nil, nil, nil)
	require.NoError(t, err)
	tr := &tracking{
		urls:  map[string]string{"pr-2": srv.URL + "/down", "pr-1": srv.URL + "/up"},
		ticks: []tracker.Observation{{EnvironmentID: "pushed-1"}},
	}
	static := []config.StaticEnvironment{{ID: "web", URL: srv.URL + "/up", Name: "Web", Type: "static"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, static, tr) }()
	clk.Await("probe")
	require.Empty(t, tr.tracked(), "nothing before the clock reaches the first round")

	interval := time.Duration(cfg.Interval)
	clk.Set(t0)
	clk.Set(t0.Add(interval / 2)) // not due
	clk.Set(t0.Add(interval))
	rounds := tr.tracked()
	require.Len(t, rounds, 2)
	for i, round := range rounds {
		at := t0.Add(time.Duration(i) * interval)
		require.Len(t, round, 4)
		for j, id := range []string{"pr-1", "pr-2", "web"} {
			o := round[j]
			require.Equal(t, id, o.EnvironmentID)
			require.Equal(t, at, o.At)
			require.Equal(t, at, o.Probe.At)
			require.Equal(t, id != "pr-2", o.Probe.OK, id)
		}
		require.Equal(t, "Web", round[2].Name)
		require.Equal(t, "static", round[2].Type)
		require.Equal(t, tracker.Observation{EnvironmentID: "pushed-1", At: at}, round[3], "the ticks")
	}
	cancel()
	<-done

	// A round whose ctx ends hands nothing over.
	before := len(tr.tracked())
	require.ErrorIs(t, p.round(ctx, static, tr), context.Canceled)
	require.Len(t, tr.tracked(), before)
}
