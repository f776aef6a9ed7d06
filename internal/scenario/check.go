package scenario

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/testclock"
	"github.com/blueberry-idp/envtrack/model/event"
)

// URLServer answers /env/<id> with 200 while the story says the URL is up, else 503.
// The scenario is read at request time: it needs the server's address to exist.
func URLServer(t testing.TB, sc func() *Scenario, now func() time.Time) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := sc().Story(strings.TrimPrefix(r.URL.Path, "/env/"))
		if !ok || !st.URLUp(now()) {
			http.Error(w, "upstream not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// CheckJournal compares a journal with the scenario's expectations: per environment,
// exactly the expected events, in order, with their times to the second (those dated by
// envtrack's observation too when exactObserved). The windows not observed (gaps) are
// the sources', no environment's: they are not compared here.
func CheckJournal(t testing.TB, sc *Scenario, evs []event.Event, exactObserved bool) {
	t.Helper()
	got := map[string][]event.Event{}
	seen := map[string]bool{}
	envEvents := 0
	for _, e := range evs {
		require.False(t, seen[e.ID], "duplicate event id %s", e.ID)
		seen[e.ID] = true
		if e.IsGap() {
			continue // a window a source could not be seen: the source's, no environment's
		}
		envEvents++
		got[e.EnvironmentID] = append(got[e.EnvironmentID], e)
	}
	want := sc.Expected()
	total := 0
	for id, ws := range want {
		total += len(ws)
		gs := got[id]
		require.Len(t, gs, len(ws), "%s (%s): got %s", id, kindOf(sc, id), Describe(gs))
		for i, w := range ws {
			g := gs[i]
			require.Equal(t, w.Event, g.Name, "%s (%s) event %d: got %s", id, kindOf(sc, id), i, Describe(gs))
			if !w.Observed || exactObserved {
				require.Equal(t, w.Time.Format(time.RFC3339), g.Time.Format(time.RFC3339), "%s (%s) %s time", id, kindOf(sc, id), w.Event)
			}
			for k, v := range w.Meta {
				require.Equal(t, v, g.Metadata[k], "%s (%s) %s metadata %s", id, kindOf(sc, id), w.Event, k)
			}
		}
	}
	require.Equal(t, total, envEvents, "events for environments the scenario does not have")
}

func kindOf(sc *Scenario, id string) string {
	s, _ := sc.Story(id)
	return s.Kind
}

// Describe is a journal on one line, for failure messages.
func Describe(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "[%s %s %v] ", e.Name, e.Time.Format(time.RFC3339), e.Meta("reason"))
	}
	return b.String()
}

// ArgoToken is the fake Argo CD's token in the worlds these tests play.
const ArgoToken = "argo-secret-token"

// Play sets up a scenario's world for a test: the clock at the scenario's start (the
// 7th of January 2025, 10:00 UTC), the fake Argo CD, and the URL server that answers by
// the stories on that clock. perKind and static are New's.
func Play(t testing.TB, perKind, static int) (*testclock.Clock, *fakeargocd.Server, *Scenario) {
	start := time.Date(2025, 1, 7, 10, 0, 0, 0, time.UTC)
	clk := testclock.New(start)
	argo := fakeargocd.NewServer(t, fakeargocd.WithToken(ArgoToken))
	var scp atomic.Pointer[Scenario] // the handler runs on the server's goroutines
	us := URLServer(t, scp.Load, clk.Now)
	sc := New(start, perKind, static, us.URL)
	scp.Store(sc)
	return clk, argo, sc
}

// Config is envtrack's configuration for playing sc against the fake Argo CD at argoURL,
// followed in mode (poll or watch) every 15 s with requestTimeout (0: 2 s), the URLs
// probed every 15 s, provisioningTimeout (0: Timeout), the static stories as the
// configuration's environments, then extra.
func (sc *Scenario) Config(stateDir, argoURL, mode string, requestTimeout, provisioningTimeout time.Duration, extra string) string {
	if requestTimeout == 0 {
		requestTimeout = 2 * time.Second
	}
	if provisioningTimeout == 0 {
		provisioningTimeout = Timeout
	}
	var static strings.Builder
	for _, s := range sc.Static() {
		fmt.Fprintf(&static, "  - {id: %s, url: %q, type: %s}\n", s.ID, s.URL, s.Type)
	}
	envs := "environments: []\n"
	if static.Len() > 0 {
		envs = "environments:\n" + static.String()
	}
	return fmt.Sprintf(`listen_address: "127.0.0.1:0"
state_dir: %s
argocd:
  server: %s
  token: %s
  selector: "blueberry.io/managed=true"
  poll_interval: 15s
  request_timeout: %s
  mode: %s
readiness:
  provisioning_timeout: %s
  url: {interval: 15s, timeout: 2s}
%s%s`, stateDir, argoURL, ArgoToken, requestTimeout, mode, provisioningTimeout, envs, extra)
}
