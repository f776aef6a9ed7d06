package event

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxTextDetail bounds free text taken from metadata (a URL error) in a Summary.
const MaxTextDetail = 200

// Summary says in one line what happened: "env-001 ready after 3m45s (backend-api@main
// 1a2b3c4d)" for a lifecycle event, "<activity> <status> on <host>" for a deployment
// marker (001). Grafana's annotations and Slack's messages say the same.
func (e Event) Summary() string {
	if e.IsMarker() {
		return markerText(e)
	}
	return lifecycleText(e)
}

func markerText(e Event) string {
	m := e.Marker()
	var words []string
	for _, w := range []string{m.Activity, m.Status} {
		if w = strings.TrimSpace(w); w != "" {
			words = append(words, w)
		}
	}
	if host := strings.TrimSpace(m.Host); host != "" {
		words = append(words, "on", host)
	}
	return OneLine(strings.Join(words, " "))
}

func lifecycleText(ev Event) string {
	var b strings.Builder
	b.WriteString(ev.EnvironmentID)
	b.WriteString(" ")
	after := func(key string) {
		if secs, ok := ev.MetaFloat(key); ok && secs >= 0 {
			b.WriteString(" after " + FormatDuration(secs))
		}
	}
	meta := func(key string) string { return strings.TrimSpace(ev.MetaString(key)) }
	withSource := true
	switch ev.Name {
	case Created:
		b.WriteString("created")
	case ProvisioningStarted:
		b.WriteString("provisioning started")
		if secs, ok := ev.MetaFloat(MetaQueueDuration); ok && secs >= 0 {
			b.WriteString(", queued " + FormatDuration(secs))
		}
	case Ready:
		b.WriteString("ready")
		if ev.Late() {
			b.WriteString(" late")
		}
		after(MetaProvisioningDuration)
	case ProvisioningFailed:
		// Whose failure it was: who is asked to act on it.
		b.WriteString("provisioning failed (" + ev.FailureClass() + ")")
		if reason := meta(MetaReason); reason != "" {
			b.WriteString(": " + reason)
		}
		after(MetaProvisioningDuration)
	case Deployed:
		b.WriteString("deployed")
		rev := meta(MetaRevision)
		if rev == "" {
			rev = ev.CommitSHA
		}
		if rev != "" {
			b.WriteString(" " + shortSHA(rev))
		}
	case Degraded:
		b.WriteString("degraded")
		switch meta(MetaCause) {
		case "health":
			b.WriteString(": health")
			if st := meta(MetaHealthStatus); st != "" {
				b.WriteString(" " + st)
			}
		case "url":
			b.WriteString(": url")
			if msg := meta(MetaURLError); msg != "" {
				b.WriteString(": " + Truncate(msg, MaxTextDetail))
			}
		}
	case Recovered:
		b.WriteString("recovered")
	case TerminationStarted:
		b.WriteString("termination started")
		withSource = false
	case Terminated:
		b.WriteString("terminated")
		after(MetaTerminationDuration)
		withSource = false
	default:
		b.WriteString(string(ev.Name))
	}
	if withSource {
		b.WriteString(sourceSuffix(ev))
	}
	return OneLine(b.String())
}

// sourceSuffix is " (repository@branch commit)", with what is known, or "".
func sourceSuffix(ev Event) string {
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

// FormatDuration writes whole seconds the short way: 9s, 3m45s, 1h5m, 2h, 1h0m5s.
func FormatDuration(secs float64) string {
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

// OneLine replaces line breaks and tabs with spaces and trims the result.
func OneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\t':
			return ' '
		}
		return r
	}, s))
}

// Truncate keeps the first n runes of s, marking a cut with "…".
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
