package apitypes

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/model/event"
)

// MaxMetadataBytes bounds one pushed event's metadata, as JSON: everything from outside
// that is stored, shown or becomes a tag is bounded.
const MaxMetadataBytes = 8 << 10

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
	event.MetaKind: true, event.MetaPushed: true, event.MetaDetectedAt: true, event.MetaIdempotencyKey: true,
	event.MetaFailureMatcher: true,
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
		if k == event.MetaFailureClass && v != event.ClassUser && v != event.ClassPlatform {
			// The platform may say whose failure it was; only as one of the classes, which
			// become a label value.
			return unprocessable("metadata.%s: must be %q or %q", k, event.ClassUser, event.ClassPlatform)
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
