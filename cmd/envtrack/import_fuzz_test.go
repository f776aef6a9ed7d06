package main

import (
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/model/apitypes"
)

// FuzzParseHistory: whatever the file, parsing never panics, and every record it keeps
// is an event the batch push accepts, marked history.
func FuzzParseHistory(f *testing.F) {
	for _, s := range []string{
		"environment_id,event,timestamp\npr-1,created,2025-01-07T10:00:00Z\n",
		"environment_id,event,timestamp,reason,metadata\npr-1,provisioning_failed,2025-01-07T10:00:00Z,timeout,\"{\"\"a\"\":1}\"\n",
		`{"environment_id":"pr-1","event":"ready","timestamp":"2025-01-07T10:00:00Z","metadata":{"x":[1,2]}}` + "\n\n{",
		"\ufeffenvironment_id,event\n", `{"kind":"deployment"}`, "a,b\n\"", "",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 1, 8, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, err := parseHistory(data, "auto", now)
		if err != nil {
			return
		}
		for _, r := range recs {
			push, _, err := apitypes.DecodeEvent(r.json, now)
			if err != nil {
				t.Fatalf("kept line %d that the server refuses: %v", r.line, err)
			}
			if push == nil || push.Metadata["backfill"] != true {
				t.Fatalf("line %d is not history: %+v", r.line, push)
			}
		}
	})
}
