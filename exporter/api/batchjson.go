package api

// A batch push's answer without reflection: it names every stored event (500 ids for a
// CI's batch of markers, each twice), and encoding/json's reflection over them was a
// fortieth of what a batched marker cost envtrack (docs/benchmarks.md).
// appendBatchAccepted writes the very bytes encoding/json writes (TestBatchAcceptedJSON
// and FuzzBatchAcceptedJSON hold it to that).

import (
	"net/http"
	"strconv"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// batchLayout is whether apitypes.BatchAccepted and ItemResult are still the structs
// appendBatchAccepted writes: a field added to either turns the fast path off.
var batchLayout = apitypes.JSONLayout[apitypes.BatchAccepted](
	[2]string{"Status", "status"}, [2]string{"IDs", "ids"}, [2]string{"Accepted", "accepted"},
	[2]string{"Unchanged", "unchanged"}, [2]string{"Events", "events"}) &&
	apitypes.JSONLayout[apitypes.ItemResult]([2]string{"Status", "status"}, [2]string{"IDs", "ids"})

// appendBatchAccepted appends a's JSON, as json.Marshal writes it, to dst; false when it
// leaves a to encoding/json.
func appendBatchAccepted(dst []byte, a *apitypes.BatchAccepted) ([]byte, bool) {
	if !batchLayout {
		return dst, false
	}
	dst = append(dst, `{"status":`...)
	dst = apitypes.AppendJSONString(dst, a.Status)
	dst = append(dst, `,"ids":`...)
	dst = appendStrings(dst, a.IDs)
	dst = append(dst, `,"accepted":`...)
	dst = strconv.AppendInt(dst, int64(a.Accepted), 10)
	dst = append(dst, `,"unchanged":`...)
	dst = strconv.AppendInt(dst, int64(a.Unchanged), 10)
	dst = append(dst, `,"events":`...)
	if a.Events == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range a.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"status":`...)
			dst = apitypes.AppendJSONString(dst, a.Events[i].Status)
			dst = append(dst, `,"ids":`...)
			dst = appendStrings(dst, a.Events[i].IDs)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), true
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = apitypes.AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// writeBatchAccepted is WriteJSON of a batch's answer.
func writeBatchAccepted(w http.ResponseWriter, status int, a *apitypes.BatchAccepted) {
	b, ok := appendBatchAccepted(make([]byte, 0, 64+64*len(a.IDs)), a)
	if !ok {
		WriteJSON(w, status, a)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // as json.Encoder ends what it writes
}
