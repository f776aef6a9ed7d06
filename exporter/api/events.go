package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/apitypes"
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

// readBody reads a request's body of at most maxBody bytes into a buffer sized by its
// Content-Length (up to 1 MiB: a length is only a claim until the bytes come), where
// io.ReadAll grew its buffer from 512 bytes, copying a batch push's body a dozen times.
func readBody(w http.ResponseWriter, r *http.Request, maxBody int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBody)
	n := min(r.ContentLength, maxBody, 1<<20)
	if n <= 0 {
		return io.ReadAll(rd)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead)) // ReadFrom wants MinRead free to read the end
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
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
		body, err := readBody(w, r, maxBody)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		name, err := IdempotencyKey(r)
		if err != nil {
			status, msg, _ := inputStatus(err)
			writeError(w, status, msg)
			return
		}
		if ndjson := IsNDJSON(r.Header.Get("Content-Type")); ndjson || isJSONArray(body) {
			elems := splitNDJSON(body)
			if !ndjson {
				if elems, err = splitArray(body); err != nil {
					writeError(w, http.StatusBadRequest, "malformed JSON array body")
					return
				}
			}
			postBatch(w, rec, elems, maxBatch, now(), func() Key { return requestKey(r, name, body, ndjson) }, logger)
			return
		}
		var it Item
		if it, err = decodeItem(body, now()); err == nil {
			err = record(w, rec, it, requestKey(r, name, body, false))
		}
		var rej *tracker.RejectedError
		var reused *KeyReusedError
		status, msg, input := inputStatus(err)
		switch {
		case err == nil:
		case input:
			writeError(w, status, msg)
		case full(err) != nil:
			writeError(w, http.StatusTooManyRequests, full(err).Error())
		case errors.As(err, &rej):
			writeError(w, http.StatusUnprocessableEntity, rej.Reason)
		case errors.As(err, &reused):
			writeError(w, http.StatusUnprocessableEntity, reused.Error())
		default:
			level.Error(logger).Log("msg", "recording a pushed event failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not record the event: "+err.Error())
		}
	})
}

// record stores one decoded push and answers 202 with the stored ids, or 200
// "unchanged" for a repeat (of what is known, of a marker, or of an Idempotency-Key).
// It returns the recorder's error unanswered.
func record(w http.ResponseWriter, rec Recorder, it Item, key Key) error {
	per, err := rec.Record([]Item{it}, key)
	if err != nil {
		var ie *ItemError
		if errors.As(err, &ie) {
			return ie.Err // one item: its own error (a *tracker.RejectedError)
		}
		return err
	}
	acc := apitypes.Accepted{IDs: []string{}, Status: "accepted"}
	for _, e := range per[0] {
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
