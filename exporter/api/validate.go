package api

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// Limits of what a push may carry: everything from outside that is stored, shown or
// becomes a tag is bounded.
const (
	// MaxMetadataBytes bounds one event's metadata, as JSON.
	MaxMetadataBytes = 8 << 10
	// MaxIdempotencyKeyBytes bounds the Idempotency-Key header (printable ASCII).
	MaxIdempotencyKeyBytes = 255
)

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

// badRune reports whether r must not appear in a stored string: control characters
// (they reach terminals through `envtrack timeline`: escape sequences, carriage
// returns) and the Unicode bidirectional overrides and isolates (text that reads other
// than it is stored). Invalid UTF-8 is refused for the whole body before decoding,
// since encoding/json would quietly turn it into U+FFFD.
func badRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true
	}
	return false
}

// checkString refuses invalid UTF-8 and the runes of badRune.
func checkString(field, v string) error {
	if !utf8.ValidString(v) {
		return unprocessable("field %q: not valid UTF-8", field)
	}
	for _, r := range v {
		if badRune(r) {
			return unprocessable("field %q: control or invisible formatting character %U", field, r)
		}
	}
	return nil
}

// reservedMeta are metadata keys envtrack sets itself: a push may not forge a duration
// or a late flag, or turn a lifecycle event into a marker. (backfill stays open:
// `envtrack import` marks history with it, which only keeps events out of the live
// counters.)
var reservedMeta = map[string]bool{
	event.MetaProvisioningDuration: true, event.MetaQueueDuration: true, event.MetaTerminationDuration: true,
	event.MetaTotalLifetimeHours: true, event.MetaLate: true, event.MetaBaseline: true,
	event.MetaKind: true, event.MetaPushed: true, event.MetaDetectedAt: true, tracker.MetaIdempotencyKey: true,
}

// checkMeta bounds the metadata: no reserved key, strings clean (checkString) in keys
// and values at any depth, and at most MaxMetadataBytes as JSON.
func checkMeta(m map[string]any) error {
	for k, v := range m {
		if reservedMeta[k] {
			return unprocessable("metadata.%s: set by envtrack, not by a push", k)
		}
		if err := checkString("metadata key", k); err != nil {
			return err
		}
		if err := checkMetaValue("metadata."+k, v); err != nil {
			return err
		}
	}
	if b, err := json.Marshal(m); err != nil {
		return unprocessable("metadata: %s", err)
	} else if len(b) > MaxMetadataBytes {
		return unprocessable("metadata: %d bytes as JSON, at most %d", len(b), MaxMetadataBytes)
	}
	return nil
}

func checkMetaValue(path string, v any) error {
	switch x := v.(type) {
	case string:
		return checkString(path, x)
	case map[string]any:
		for k, vv := range x {
			if err := checkString(path+" key", k); err != nil {
				return err
			}
			if err := checkMetaValue(path+"."+k, vv); err != nil {
				return err
			}
		}
	case []any:
		for i, vv := range x {
			if err := checkMetaValue(fmt.Sprintf("%s[%d]", path, i), vv); err != nil {
				return err
			}
		}
	}
	return nil
}
