package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// sameBatchAnswer: writeBatchAccepted answers what WriteJSON answers for a, byte for
// byte.
func sameBatchAnswer(t *testing.T, a *apitypes.BatchAccepted) {
	t.Helper()
	want := httptest.NewRecorder()
	WriteJSON(want, http.StatusAccepted, a)
	got := httptest.NewRecorder()
	writeBatchAccepted(got, http.StatusAccepted, a)
	require.Equal(t, want.Code, got.Code)
	require.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"))
	require.Equal(t, want.Body.String(), got.Body.String())
}

// TestBatchAcceptedJSON: a batch's answer is encoding/json's, empty, nil and odd
// strings included.
func TestBatchAcceptedJSON(t *testing.T) {
	require.True(t, batchLayout, "BatchAccepted or ItemResult changed: update appendBatchAccepted")
	for name, a := range map[string]apitypes.BatchAccepted{
		"zero": {},
		"unchanged": {Status: "unchanged", IDs: []string{}, Unchanged: 2,
			Events: []apitypes.ItemResult{{Status: "unchanged", IDs: []string{}}, {Status: "unchanged", IDs: nil}}},
		"accepted": {Status: "accepted", IDs: []string{"0011223344556677-1", "0011223344556677-2", "0011223344556677-3"}, Accepted: 2, Unchanged: 1,
			Events: []apitypes.ItemResult{{Status: "accepted", IDs: []string{"0011223344556677-1", "0011223344556677-2"}},
				{Status: "unchanged", IDs: []string{}}, {Status: "accepted", IDs: []string{"0011223344556677-3"}}}},
		"odd strings": {Status: "<&>\u2028\"\\\x01\xff", IDs: []string{"", "日本 😀", "\t\n"}, Accepted: -1, Unchanged: 1 << 40,
			Events: []apitypes.ItemResult{{Status: "a\u2029b"}}},
	} {
		t.Run(name, func(t *testing.T) { sameBatchAnswer(t, &a) })
	}
}

// FuzzBatchAcceptedJSON: whatever the strings and counts, the answer is encoding/json's.
func FuzzBatchAcceptedJSON(f *testing.F) {
	f.Add("accepted", "0011223344556677-1", "unchanged", 1, 0, true)
	f.Add("<\xff>", "\u2028\x00", "", -7, 1<<30, false)
	f.Fuzz(func(t *testing.T, status, id, item string, accepted, unchanged int, nilIDs bool) {
		a := apitypes.BatchAccepted{Status: status, IDs: []string{id, item}, Accepted: accepted, Unchanged: unchanged,
			Events: []apitypes.ItemResult{{Status: item, IDs: []string{id}}, {Status: status}}}
		if nilIDs {
			a.IDs, a.Events[0].IDs = nil, nil
		}
		sameBatchAnswer(t, &a)
	})
}
