package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
)

// states is the tracker's view as ListEnvironments reads it.
type states []tracker.State

func (s states) States() []tracker.State { return s }
func (s states) Get(id string) (tracker.State, bool) {
	for _, st := range s {
		if st.ID == id {
			return st, true
		}
	}
	return tracker.State{}, false
}

type listAnswer struct {
	Environments []struct {
		ID string `json:"environment_id"`
	} `json:"environments"`
	Count int    `json:"count"`
	Next  string `json:"next"`
	Error string `json:"error"`
}

func list(t *testing.T, h http.Handler, query string) (int, listAnswer) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/environments"+query, nil))
	var a listAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), rec.Body.String())
	return rec.Code, a
}

func ids(a listAnswer) []string {
	var out []string
	for _, e := range a.Environments {
		out = append(out, e.ID)
	}
	return out
}

// TestListEnvironmentsPages: GET /api/environments answers at most limit environments
// (DefaultListLimit unless asked), in id order, and "next" is the cursor of the following
// page; walking the pages with after lists each environment once. Before paging, 50,000
// pushed environments came back in one 13.8 MiB answer and ?limit= was ignored.
func TestListEnvironmentsPages(t *testing.T) {
	var all states
	for i := range DefaultListLimit + 5 {
		typ := "preview"
		if i%2 == 1 {
			typ = "staging"
		}
		all = append(all, tracker.State{ID: fmt.Sprintf("env-%05d", DefaultListLimit+5-i), Type: typ, Phase: tracker.PhaseReady})
	}
	h := ListEnvironments(all)

	code, a := list(t, h, "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, a.Environments, DefaultListLimit)
	require.Equal(t, DefaultListLimit, a.Count)
	require.Equal(t, "env-00001", a.Environments[0].ID)
	require.Equal(t, fmt.Sprintf("env-%05d", DefaultListLimit), a.Next)

	// Walk in pages of 300: every environment once, in order.
	var seen []string
	after, pages := "", 0
	for {
		code, a := list(t, h, "?limit=300&after="+after)
		require.Equal(t, http.StatusOK, code)
		seen = append(seen, ids(a)...)
		pages++
		if a.Next == "" {
			break
		}
		after = a.Next
	}
	require.Equal(t, 4, pages)
	require.Len(t, seen, len(all))
	require.IsIncreasing(t, seen)

	// Filters apply before the limit.
	_, a = list(t, h, "?type=staging&limit=2")
	require.Equal(t, []string{"env-00002", "env-00004"}, ids(a))
	require.Equal(t, "env-00004", a.Next)
	_, a = list(t, h, "?type=staging&limit=2&after=env-01002")
	require.Equal(t, []string{"env-01004"}, ids(a), "the last page has no next")
	require.Empty(t, a.Next)

	for _, q := range []string{"?limit=0", "?limit=-1", "?limit=x", fmt.Sprintf("?limit=%d", MaxListLimit+1), "?after=%20bad", "?phase=nope"} {
		code, a := list(t, h, q)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.NotEmpty(t, a.Error, q)
	}
}
