package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// inputError is a request refused before or while decoding it, with its status.
type inputError struct {
	status int
	msg    string
}

func (e *inputError) Error() string { return e.msg }

// inputStatus is the status and message of a refused push: 400 for a malformed body,
// 422 for a well-formed but invalid event (apitypes.DecodeEvent), or what an inputError
// says.
func inputStatus(err error) (status int, msg string, ok bool) {
	var ie *inputError
	var ae *apitypes.InputError
	switch {
	case errors.As(err, &ie):
		return ie.status, ie.msg, true
	case errors.As(err, &ae) && ae.Malformed:
		return http.StatusBadRequest, ae.Msg, true
	case errors.As(err, &ae):
		return http.StatusUnprocessableEntity, ae.Msg, true
	}
	return 0, "", false
}

// PostEvents is POST /api/events: one event (a JSON object), or a batch of up to
// maxBatch (a JSON array, or NDJSON) validated as a whole and committed in one
// transaction (batch.go).
func PostEvents(rec Recorder, maxBody int64, maxBatch int, now func() time.Time, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !jsonMediaType(ct) && !IsNDJSON(ct) {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send application/json", truncate(ct, 100)))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		if IsNDJSON(r.Header.Get("Content-Type")) {
			postBatch(w, rec, splitNDJSON(body), maxBatch, now(), logger)
			return
		}
		if isJSONArray(body) {
			elems, err := splitArray(body)
			if err != nil {
				writeError(w, http.StatusBadRequest, "malformed JSON array body")
				return
			}
			postBatch(w, rec, elems, maxBatch, now(), logger)
			return
		}
		key, err := IdempotencyKey(r)
		if err == nil {
			var ev *apitypes.Push
			var marker *event.Event
			if ev, marker, err = apitypes.DecodeEvent(body, now()); err == nil {
				err = record(w, rec, ev, marker, key)
			}
		}
		var rej *tracker.RejectedError
		status, msg, input := inputStatus(err)
		switch {
		case err == nil:
		case input:
			writeError(w, status, msg)
		case full(err) != nil:
			writeError(w, http.StatusTooManyRequests, full(err).Error())
		case errors.As(err, &rej):
			writeError(w, http.StatusUnprocessableEntity, rej.Reason)
		default:
			level.Error(logger).Log("msg", "recording a pushed event failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not record the event: "+err.Error())
		}
	})
}

// record stores one decoded push and answers 202 with the stored ids, or 200
// "unchanged" for a repeat (of what is known, of a marker, or of an Idempotency-Key).
// It returns the recorder's error unanswered.
func record(w http.ResponseWriter, rec Recorder, ev *apitypes.Push, marker *event.Event, key string) error {
	var stored []event.Event
	if marker != nil {
		if key != "" {
			marker.Metadata[tracker.MetaIdempotencyKey] = key
		}
		e, err := rec.Mark(*marker)
		if err != nil {
			return err
		}
		if e.ID != "" {
			stored = []event.Event{e}
		}
	} else {
		p := trackerPush(ev)
		p.IdempotencyKey = key
		var err error
		if stored, err = rec.Push(ev.EnvironmentID, p); err != nil {
			return err
		}
	}
	acc := apitypes.Accepted{IDs: []string{}, Status: "accepted"}
	for _, e := range stored {
		acc.IDs = append(acc.IDs, e.ID)
	}
	if len(acc.IDs) == 0 {
		acc.Status = "unchanged"
		WriteJSON(w, http.StatusOK, acc)
		return nil
	}
	acc.ID = acc.IDs[0]
	WriteJSON(w, http.StatusAccepted, acc)
	return nil
}

// trackerPush is what the tracker applies for a validated lifecycle push.
func trackerPush(p *apitypes.Push) tracker.Push {
	return tracker.Push{
		Event: p.Event, Time: p.Time, Metadata: p.Metadata, Name: p.Name, Type: p.Type,
		Repository: p.Repository, Branch: p.Branch, CommitSHA: p.CommitSHA,
	}
}

// full is the *tracker.FullError in err's chain, if any: a push for a new environment
// beyond api.max_environments (429).
func full(err error) *tracker.FullError {
	var f *tracker.FullError
	if errors.As(err, &f) {
		return f
	}
	return nil
}
