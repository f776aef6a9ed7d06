package event

import (
	"time"
)

// Gap is a window in which envtrack could not see a source (DESIGN §3, the timelines'
// "gaps"): what changed in it was not observed, and the timelines, pages and Grafana
// say so instead of drawing a clean line through it. Times are whole seconds, UTC.
type Gap struct {
	From time.Time `json:"from"`
	// To is when envtrack saw the source again; zero while the window lasts.
	To     time.Time `json:"to,omitzero"`
	Source string    `json:"source"` // GapArgoCD, GapProbe or GapEnvtrack
	Reason string    `json:"reason"` // one short word: GapStalled, GapRefused, ...
}

// Sources of gaps (the "source" of DESIGN §3).
const (
	GapArgoCD   = "argocd"   // Argo CD could not be seen (its stream, its lists)
	GapProbe    = "probe"    // URL probes could not run
	GapEnvtrack = "envtrack" // envtrack itself was not running
)

// Reasons of Argo CD gaps.
const (
	GapRefused     = "refused"     // an error answer (401, 403, 5xx) or an error chunk on the stream
	GapUnreachable = "unreachable" // no answer: connection refused or reset, a timeout
	GapTruncated   = "truncated"   // an answer or stream cut in the middle
	GapUnusable    = "unusable"    // an answer that is not Argo CD's (a proxy's page, bad JSON)
	GapStalled     = "stalled"     // an open stream that delivered nothing (nor its keepalives) for too long
	GapEnded       = "ended"       // Argo CD ended the stream (a restart)
)

// KindGap is the kind of the journal entries that record a closed Gap: sinks that draw
// windows (Grafana) deliver them, the others skip them. They belong to no environment
// (EnvironmentID is empty) and are named by no lifecycle event (Name is empty); their
// time is the window's start.
const KindGap Kind = "gap"

// Metadata of gap entries (besides MetaKind, MetaReason and MetaSource).
const (
	MetaTo              = "to"               // the window's end, RFC 3339
	MetaDurationSeconds = "duration_seconds" // its length
)

// Open reports whether the window still lasts.
func (g Gap) Open() bool { return g.To.IsZero() }

// Overlaps reports whether the window overlaps [from, to] (an open window lasts until
// now, so it overlaps everything after its start).
func (g Gap) Overlaps(from, to time.Time) bool {
	return !g.From.After(to) && (g.Open() || !g.To.Before(from))
}

// Event is the journal entry of a closed window.
func (g Gap) Event() Event {
	return Event{
		Name:   "",
		Time:   g.From,
		Source: g.Source,
		Metadata: map[string]any{
			MetaKind: string(KindGap), MetaSource: g.Source, MetaReason: g.Reason,
			MetaTo: g.To.UTC().Format(time.RFC3339), MetaDurationSeconds: Seconds(g.To.Sub(g.From)),
		},
	}
}

// IsGap reports whether e is the journal entry of a Gap.
func (e Event) IsGap() bool { return e.Kind() == KindGap }

// IsLifecycle reports whether e is a lifecycle event (not a marker, not a gap).
func (e Event) IsLifecycle() bool { return e.Kind() == KindLifecycle }

// Gap reads a gap entry back.
func (e Event) Gap() Gap {
	to, _ := time.Parse(time.RFC3339, e.MetaString(MetaTo))
	return Gap{From: e.Time, To: to, Source: e.MetaString(MetaSource), Reason: e.MetaString(MetaReason)}
}

// Closing is g, the end of a window (To set), merged with the window open until then
// (nil: none): from the open one's start when earlier, for the open one's reason. Both
// journal drivers close windows by it. ok is false for a window of no length, which is
// not recorded.
func (g Gap) Closing(open *Gap) (closed Gap, ok bool) {
	if open != nil {
		if open.From.Before(g.From) {
			g.From = open.From
		}
		g.Reason = open.Reason
	}
	return g, g.To.After(g.From)
}
