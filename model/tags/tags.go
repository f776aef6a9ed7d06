// Package tags defines the tags of the Grafana annotations envtrack writes (DESIGN §6,
// contract): the fixed tags, the keys of the key:value tags and the rule that turns a
// value into a tag Grafana keeps as written. The Grafana sink (annotate) tags each
// annotation with them and the generated dashboards (dashboards) query annotations by
// them, so both read them from here. It is a leaf: it imports only model/event.
package tags

import (
	"strings"

	"github.com/blueberry-idp/envtrack/model/event"
)

// Fixed tags.
const (
	Envtrack   = "envtrack"   // every annotation envtrack writes
	Deployment = "deployment" // deployment markers (001)
	Gap        = "gap"        // windows in which a source could not be seen (region annotations)
)

// Keys of the key:value tags.
const (
	KeyEvent   = "event"       // the lifecycle event's name
	KeyEnv     = "env"         // the environment id
	KeyType    = "type"        // the environment type
	KeyRepo    = "repo"        // the repository's short name
	KeyApp     = "app"         // a deployment marker's application
	KeyStatus  = "status"      // a deployment marker's status
	KeyEventID = "envtrack-id" // the journal event's id: what a restart looks an annotation up by
	KeySource  = "source"      // a gap's source (argocd, probe, envtrack)
	KeyReason  = "reason"      // a gap's reason (stalled, refused, ...)
)

// Pair is the tag "key:value", or "" when value is empty. Grafana splits a tag at its
// colons and keeps the first two parts only ("env:a:b" would be stored as "env:a"), so a
// colon in the value is replaced with "_"; surrounding spaces, which Grafana trims, are
// trimmed.
func Pair(key, value string) string {
	value = strings.TrimSpace(strings.ReplaceAll(value, ":", "_"))
	if value == "" {
		return ""
	}
	return key + ":" + value
}

// Event is the tag of the annotations of lifecycle events named n ("event:deployed").
func Event(n event.Name) string { return Pair(KeyEvent, string(n)) }

// EventID is the tag that identifies an event's annotation ("envtrack-id:<id>"), or ""
// for an empty id.
func EventID(id string) string { return Pair(KeyEventID, id) }
