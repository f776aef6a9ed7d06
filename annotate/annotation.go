package annotate

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/model/event"
	"github.com/blueberry-idp/envtrack/model/tags"
)

// annotation is what one event becomes in Grafana.
type annotation struct {
	Time    int64 // ms since the epoch
	TimeEnd int64 // ms; 0 for a point annotation (Grafana then sets timeEnd = time)
	Tags    []string
	Text    string
}

// maxTextDetail bounds free text taken from metadata (an URL error) in the one-line text.
const maxTextDetail = 200

// render turns ev into its annotation (DESIGN §6). extra are grafana.tags. It is pure.
func render(ev event.Event, extra []string) annotation {
	if ev.IsMarker() {
		return renderMarker(ev, extra)
	}
	var t tagList
	t.add(tags.Envtrack)
	t.pair(tags.KeyEvent, string(ev.Name))
	t.pair(tags.KeyEnv, ev.EnvironmentID)
	t.pair(tags.KeyType, ev.Type)
	t.pair(tags.KeyRepo, ev.Repository)
	t.pair(tags.KeyEventID, ev.ID)
	t.add(extra...)

	a := annotation{Time: ev.Time.UnixMilli(), Tags: t.tags, Text: lifecycleText(ev)}
	// ready spans the provisioning window, terminated the termination window: from
	// provisioning_started / termination_started, derived from the durations the
	// tracker recorded, to the event.
	switch ev.Name {
	case event.Ready:
		a.Time, a.TimeEnd = region(ev, event.MetaProvisioningDuration)
	case event.Terminated:
		a.Time, a.TimeEnd = region(ev, event.MetaTerminationDuration)
	}
	return a
}

// region returns the window that ends at ev.Time and lasts the duration in metadata
// key, or a point (time, 0) when the duration is missing or not positive.
func region(ev event.Event, key string) (start, end int64) {
	end = ev.Time.UnixMilli()
	secs, ok := ev.MetaFloat(key)
	if !ok || secs <= 0 {
		return end, 0
	}
	return end - int64(math.Round(secs*1000)), end
}

// renderMarker is a deployment marker of 001 ("<activity> <status> on <host>").
func renderMarker(ev event.Event, extra []string) annotation {
	var t tagList
	t.add(tags.Envtrack, tags.Deployment)
	t.pair(tags.KeyEnv, ev.EnvironmentID)
	m := ev.Marker()
	app, status, activity, host := strings.TrimSpace(m.Application), strings.TrimSpace(m.Status),
		strings.TrimSpace(m.Activity), strings.TrimSpace(m.Host)
	t.pair(tags.KeyApp, app)
	t.pair(tags.KeyStatus, status)
	t.pair(tags.KeyEventID, ev.ID)
	t.add(extra...)

	words := []string{}
	for _, w := range []string{activity, status} {
		if w != "" {
			words = append(words, w)
		}
	}
	if host != "" {
		words = append(words, "on", host)
	}
	return annotation{Time: ev.Time.UnixMilli(), Tags: t.tags, Text: oneLine(strings.Join(words, " "))}
}

// lifecycleText says in one line what happened, e.g.
// "env-001 ready after 3m45s (backend-api@main 1a2b3c4d)".
func lifecycleText(ev event.Event) string {
	var b strings.Builder
	b.WriteString(ev.EnvironmentID)
	b.WriteString(" ")
	after := func(key string) {
		if secs, ok := ev.MetaFloat(key); ok && secs >= 0 {
			b.WriteString(" after " + formatDuration(secs))
		}
	}
	withSource := true
	switch ev.Name {
	case event.Created:
		b.WriteString("created")
	case event.ProvisioningStarted:
		b.WriteString("provisioning started")
		if secs, ok := ev.MetaFloat(event.MetaQueueDuration); ok && secs >= 0 {
			b.WriteString(", queued " + formatDuration(secs))
		}
	case event.Ready:
		b.WriteString("ready")
		if ev.Late() {
			b.WriteString(" late")
		}
		after(event.MetaProvisioningDuration)
	case event.ProvisioningFailed:
		// Whose failure it was: who is asked to act on it.
		b.WriteString("provisioning failed (" + ev.FailureClass() + ")")
		if reason := metaString(ev, event.MetaReason); reason != "" {
			b.WriteString(": " + reason)
		}
		after(event.MetaProvisioningDuration)
	case event.Deployed:
		b.WriteString("deployed")
		rev := metaString(ev, event.MetaRevision)
		if rev == "" {
			rev = ev.CommitSHA
		}
		if rev != "" {
			b.WriteString(" " + shortSHA(rev))
		}
	case event.Degraded:
		b.WriteString("degraded")
		switch metaString(ev, event.MetaCause) {
		case "health":
			b.WriteString(": health")
			if st := metaString(ev, event.MetaHealthStatus); st != "" {
				b.WriteString(" " + st)
			}
		case "url":
			b.WriteString(": url")
			if msg := metaString(ev, event.MetaURLError); msg != "" {
				b.WriteString(": " + truncate(msg, maxTextDetail))
			}
		}
	case event.Recovered:
		b.WriteString("recovered")
	case event.TerminationStarted:
		b.WriteString("termination started")
		withSource = false
	case event.Terminated:
		b.WriteString("terminated")
		after(event.MetaTerminationDuration)
		withSource = false
	default:
		b.WriteString(string(ev.Name))
	}
	if withSource {
		b.WriteString(sourceSuffix(ev))
	}
	return oneLine(b.String())
}

// sourceSuffix is " (repository@branch commit)", with what is known, or "".
func sourceSuffix(ev event.Event) string {
	s := ev.Repository
	if ev.Branch != "" {
		if s != "" {
			s += "@"
		}
		s += ev.Branch
	}
	if sha := shortSHA(ev.CommitSHA); sha != "" {
		if s != "" {
			s += " "
		}
		s += sha
	}
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// formatDuration writes whole seconds the short way: 9s, 3m45s, 1h5m, 2h, 1h0m5s.
func formatDuration(secs float64) string {
	d := time.Duration(math.Round(secs)) * time.Second
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 || (h > 0 && s > 0) {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 || (h == 0 && m == 0) {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// oneLine replaces line breaks and tabs with spaces and trims the result.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\t':
			return ' '
		}
		return r
	}, s))
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// tagList builds an annotation's tags.
type tagList struct{ tags []string }

func (t *tagList) add(ts ...string) { t.tags = append(t.tags, ts...) }

// pair adds "key:value" (tags.Pair), unless value is empty.
func (t *tagList) pair(key, value string) {
	if tag := tags.Pair(key, value); tag != "" {
		t.tags = append(t.tags, tag)
	}
}

func metaString(ev event.Event, key string) string {
	return strings.TrimSpace(ev.MetaString(key))
}
