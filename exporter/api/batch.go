package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Item is one pushed event of a batch (or a single push): a lifecycle push for an
// environment, or a deployment marker.
type Item struct {
	EnvironmentID string
	Push          *tracker.Push
	Marker        *event.Event
}

// IsNDJSON reports whether a Content-Type names newline-delimited JSON.
func IsNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl")
}

// isJSONArray reports whether a JSON body is an array (a batch).
func isJSONArray(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '['
}

// batchElem is one event's JSON in a batch body, with its NDJSON line (0 for arrays).
type batchElem struct {
	raw  []byte
	line int
}

func splitNDJSON(body []byte) []batchElem {
	var out []batchElem
	for i, l := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		out = append(out, batchElem{raw: l, line: i + 1})
	}
	return out
}

func splitArray(body []byte) ([]batchElem, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, err
	}
	out := make([]batchElem, len(raws))
	for i, r := range raws {
		out[i] = batchElem{raw: r}
	}
	return out, nil
}

// decodeItem parses and validates one pushed event (the single push's and each batch
// element's one validation path) into an Item, with the URLs in its strings redacted.
func decodeItem(body []byte, now time.Time) (Item, error) {
	l, m, err := apitypes.DecodeEvent(body, now)
	if err != nil {
		return Item{}, err
	}
	if m != nil {
		redact.Values(m.Metadata)
		return Item{EnvironmentID: m.EnvironmentID, Marker: m}, nil
	}
	p := trackerPush(l)
	redactPush(&p)
	return Item{EnvironmentID: l.EnvironmentID, Push: &p}, nil
}

// redactPush masks the passwords and secret query parameters of the URLs a push
// carries (a pipeline_url with ?access_token=, a repository with user:password@), as
// redact.URL does for every configured URL. They are redacted here, before anything is
// stored, so that the journal never holds them and every output (the API, the pages,
// InfluxDB, Grafana annotations, webhooks, logs) shows what is stored, and so that the
// de-duplication of a repeated push sees the same values as the stored event. The
// environment's own url is not here: a push cannot set it.
func redactPush(p *tracker.Push) {
	redact.Values(p.Metadata)
	for _, f := range []*string{&p.Name, &p.Type, &p.Repository, &p.Branch, &p.CommitSHA} {
		*f = redact.URLsIn(*f)
	}
}

// postBatch validates every element (one bad one refuses the whole batch, naming it) and
// records them in one transaction.
// key is the request's Idempotency-Key, computed once the batch is valid.
func postBatch(w http.ResponseWriter, rec Recorder, elems []batchElem, maxBatch int, now time.Time, key func() Key, logger log.Logger) {
	switch {
	case len(elems) == 0:
		writeError(w, http.StatusUnprocessableEntity, "empty batch: send at least one event")
		return
	case len(elems) > maxBatch:
		writeError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("batch of %d events: at most %d per request (api.max_batch)", len(elems), maxBatch))
		return
	}
	items := make([]Item, len(elems))
	for i, el := range elems {
		it, err := decodeItem(el.raw, now)
		if err != nil {
			status, _, input := inputStatus(err)
			if !input {
				status = http.StatusBadRequest
			}
			where := fmt.Sprintf("event %d", i)
			if el.line > 0 {
				where += fmt.Sprintf(" (line %d)", el.line)
			}
			WriteJSON(w, status, apitypes.BatchError{Error: where + ": " + err.Error(), Index: i, Line: el.line})
			return
		}
		items[i] = it
	}
	per, err := rec.Record(items, key())
	if err != nil {
		var ie *ItemError
		var reused *KeyReusedError
		if errors.As(err, &reused) {
			writeError(w, http.StatusUnprocessableEntity, reused.Error())
			return
		}
		if errors.As(err, &ie) {
			line := 0
			if ie.Index >= 0 && ie.Index < len(elems) {
				line = elems[ie.Index].line
			}
			status := http.StatusUnprocessableEntity
			if full(ie.Err) != nil {
				status = http.StatusTooManyRequests // the batch is fine; envtrack is full
			}
			WriteJSON(w, status, apitypes.BatchError{
				Error: fmt.Sprintf("event %d: %s", ie.Index, ie.Err), Index: ie.Index, Line: line})
			return
		}
		level.Error(logger).Log("msg", "recording a pushed batch failed", "events", len(items), "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not record the batch: "+err.Error())
		return
	}
	acc := apitypes.BatchAccepted{Status: "unchanged", IDs: []string{}, Events: make([]apitypes.ItemResult, len(items))}
	for i, evs := range per {
		r := apitypes.ItemResult{Status: "unchanged", IDs: []string{}}
		for _, e := range evs {
			r.IDs = append(r.IDs, e.ID)
		}
		if len(r.IDs) > 0 {
			r.Status = "accepted"
			acc.Accepted++
		} else {
			acc.Unchanged++
		}
		acc.IDs = append(acc.IDs, r.IDs...)
		acc.Events[i] = r
	}
	if acc.Accepted == 0 {
		writeBatchAccepted(w, http.StatusOK, &acc)
		return
	}
	acc.Status = "accepted"
	writeBatchAccepted(w, http.StatusAccepted, &acc)
}

// ItemError is a Recorder's refusal of one item of a batch (for the state it would
// apply to): the batch stores nothing and the answer names the item.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }
