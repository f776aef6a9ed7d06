package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Key is a request's Idempotency-Key with the fingerprint of the request, which the key
// is bound to (the IETF httpapi draft, draft-ietf-httpapi-idempotency-key-header-07,
// section 2.4): the same key with the same request is a retry, with another one an
// error. The zero Key is no key.
type Key struct {
	Name        string
	Fingerprint event.Fingerprint
}

// KeyReusedError refuses a request whose Idempotency-Key was recorded with another
// request: 422, as the draft's section 2.7 says.
type KeyReusedError struct{ Key string }

func (e *KeyReusedError) Error() string {
	return fmt.Sprintf("Idempotency-Key %q was already used for a different request: a key names one request "+
		"(retry it with the same body to get \"unchanged\"); send a new key for a new event", truncate(e.Key, 100))
}

// requestKey is the request's Key: its Idempotency-Key (validated by IdempotencyKey)
// and the fingerprint of its method, path and canonical body (JSON re-encoded with
// sorted keys and no spaces, one line per NDJSON event), so that a retry whose JSON is
// formatted differently is still the same request.
func requestKey(r *http.Request, name string, body []byte, ndjson bool) Key {
	if name == "" {
		return Key{}
	}
	var canon bytes.Buffer
	if ndjson {
		for _, el := range splitNDJSON(body) {
			canon.Write(canonicalJSON(el.raw))
			canon.WriteByte('\n')
		}
	} else {
		canon.Write(canonicalJSON(body))
	}
	return Key{Name: name, Fingerprint: event.FingerprintOf(r.Method, r.URL.Path, canon.String())}
}

// canonicalJSON re-encodes a JSON value with sorted object keys and no insignificant
// space; numbers keep their text. A value that does not decode is taken as it is (the
// request was validated before: this does not happen).
func canonicalJSON(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}
