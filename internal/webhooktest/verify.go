// Package webhooktest is a webhook receiver for tests: a real HTTP endpoint that
// verifies every request's Standard Webhooks signature and records what it took.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// Verify is a receiver's check of a Standard Webhooks signature, written from the
// specification ("Verifying webhook authenticity",
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
// not from envtrack's signing code; the README shows it as is. The signed content is
// webhook-id "." webhook-timestamp "." body, the key the base64 after "whsec_", and
// webhook-signature a space-separated list of "v1,<base64 HMAC-SHA256>", one of which
// must match. (A receiver also refuses a webhook-timestamp far from its clock, against
// replays, and drops a webhook-id it has seen: delivery is at least once.)
func Verify(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}
