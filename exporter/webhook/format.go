package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TypePrefix starts every CloudEvents type envtrack sends: reverse-DNS, as the
// specification's `type` attribute SHOULD be (cloudevents/spec.md, "type").
const TypePrefix = "io.blueberry.envtrack."

// MarkerType is the CloudEvents type of a deployment marker (001).
const MarkerType = TypePrefix + "marker.deployment"

// DefaultSource is the CloudEvents source without web.external_url (a URI-reference;
// with it, the source is that absolute URL, as the specification recommends).
const DefaultSource = "/envtrack"

// CloudEvent is the body of a cloudevents request: a CloudEvents 1.0 event in the JSON
// format, structured mode (cloudevents/formats/json-format.md §3).
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            Data      `json:"data"`
}

// Data is an event as envtrack recorded it: the `data` of a CloudEvent. Times are RFC
// 3339 in UTC, as everywhere in envtrack's API.
type Data struct {
	ID              string         `json:"id"`
	EnvironmentID   string         `json:"environment_id"`
	EnvironmentName string         `json:"environment_name,omitempty"`
	Event           event.Name     `json:"event"`
	Timestamp       time.Time      `json:"timestamp"` // the evidence's time
	Type            string         `json:"type,omitempty"`
	Repository      string         `json:"repository,omitempty"`
	Branch          string         `json:"branch,omitempty"`
	CommitSHA       string         `json:"commit_sha,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
	Source          string         `json:"source,omitempty"` // argocd, probe, api
	RecordedAt      time.Time      `json:"recorded_at"`      // when the journal appended it
	Summary         string         `json:"summary"`          // event.Summary
	URL             string         `json:"url,omitempty"`    // the environment's page, with web.external_url
}

// Type is e's CloudEvents type.
func Type(e event.Event) string {
	if e.IsMarker() {
		return MarkerType
	}
	return TypePrefix + string(e.Name)
}

func (s *Sink) cloudEvent(e event.Event) ([]byte, error) {
	source := s.opts.Web.ExternalURL
	if source == "" {
		source = DefaultSource
	}
	return json.Marshal(CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: source, Type: Type(e), Subject: e.EnvironmentID,
		Time: e.Time.UTC(), DataContentType: "application/json",
		Data: Data{
			ID: e.ID, EnvironmentID: e.EnvironmentID, EnvironmentName: e.EnvironmentName, Event: e.Name,
			Timestamp: e.Time.UTC(), Type: e.Type, Repository: e.Repository, Branch: e.Branch, CommitSHA: e.CommitSHA,
			Metadata: e.Metadata, Source: e.Source, RecordedAt: e.RecordedAt.UTC(), Summary: e.Summary(),
			URL: link(s.opts.Web, e),
		},
	})
}

// SlackMessage is the body of a slack request: an incoming-webhook message
// (https://api.slack.com/messaging/webhooks).
type SlackMessage struct {
	Text string `json:"text"`
}

func (s *Sink) slack(e event.Event) ([]byte, error) {
	return json.Marshal(SlackMessage{Text: SlackText(e, link(s.opts.Web, e))})
}

// SlackText is e's line in Slack: the environment (linked to its page when href is
// set), then what happened; "(history)" marks a backfilled or imported event.
func SlackText(e event.Event, href string) string {
	env := slackEscape(e.EnvironmentID)
	if href != "" {
		env = "<" + slackEscape(href) + "|" + env + ">"
	}
	sum := e.Summary()
	var line string
	if e.IsMarker() {
		line = env + ": " + slackEscape(sum)
	} else {
		line = env + slackEscape(strings.TrimPrefix(sum, e.EnvironmentID))
	}
	if e.Backfill() {
		line += " (history)"
	}
	return line
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning to
// (https://api.slack.com/reference/surfaces/formatting#escaping).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// link is the environment's page under web.external_url, "" without one.
func link(web config.WebConfig, e event.Event) string {
	if e.EnvironmentID == "" {
		return ""
	}
	return web.Link(apitypes.EnvironmentPage(e.EnvironmentID))
}
