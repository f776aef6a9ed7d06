package api

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// MaxIdempotencyKeyBytes bounds the Idempotency-Key header (printable ASCII).
const MaxIdempotencyKeyBytes = 255

// jsonMediaType reports whether a request's Content-Type may carry JSON: none at all,
// application/json or any other JSON type (text/json, application/*+json), in any case
// and with parameters; and, because `curl -d` sends it unless told otherwise (as the
// README's examples do), application/x-www-form-urlencoded.
func jsonMediaType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	typ, sub, _ := strings.Cut(mt, "/") // ParseMediaType lower-cases
	switch {
	case sub == "json" && (typ == "application" || typ == "text"):
		return true
	case strings.HasSuffix(sub, "+json") && typ == "application":
		return true
	case mt == "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// IdempotencyKey returns the request's Idempotency-Key header ("" when absent). A key
// is 1 to 255 printable ASCII characters.
func IdempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", nil
	}
	k := strings.TrimSpace(vals[0])
	if len(vals) > 1 || k == "" || len(k) > MaxIdempotencyKeyBytes {
		return "", &inputError{http.StatusBadRequest, fmt.Sprintf("Idempotency-Key: one value of 1 to %d characters", MaxIdempotencyKeyBytes)}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", &inputError{http.StatusBadRequest, "Idempotency-Key: printable ASCII only"}
		}
	}
	return k, nil
}
