package annotate

import (
	"fmt"
	"math"
	"strings"

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

// render turns ev into its annotation (DESIGN §6). extra are grafana.tags. It is pure.
func render(ev event.Event, extra []string) annotation {
	if ev.IsMarker() {
		return renderMarker(ev, extra)
	}
	if ev.IsGap() {
		return renderGap(ev, extra)
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
	t.pair(tags.KeyApp, strings.TrimSpace(m.Application))
	t.pair(tags.KeyStatus, strings.TrimSpace(m.Status))
	t.pair(tags.KeyEventID, ev.ID)
	t.add(extra...)
	return annotation{Time: ev.Time.UnixMilli(), Tags: t.tags, Text: ev.Summary()}
}

// renderGap is a window in which a source could not be seen: a region over it, so that
// no graph draws a clean line through what was not observed ("Argo CD not observed for
// 45s: stalled").
func renderGap(ev event.Event, extra []string) annotation {
	g := ev.Gap()
	var t tagList
	t.add(tags.Envtrack, tags.Gap)
	t.pair(tags.KeySource, g.Source)
	t.pair(tags.KeyReason, g.Reason)
	t.pair(tags.KeyEventID, ev.ID)
	t.add(extra...)
	what := map[string]string{event.GapArgoCD: "Argo CD", event.GapProbe: "URL probes", event.GapEnvtrack: "envtrack"}[g.Source]
	if what == "" {
		what = g.Source
	}
	a := annotation{Time: g.From.UnixMilli(), Tags: t.tags,
		Text: event.OneLine(fmt.Sprintf("%s not observed for %s: %s", truncate(what, 40), event.FormatDuration(g.To.Sub(g.From).Seconds()), truncate(g.Reason, 40)))}
	if g.To.After(g.From) {
		a.TimeEnd = g.To.UnixMilli()
	}
	return a
}

// lifecycleText says in one line what happened, e.g.
// "env-001 ready after 3m45s (backend-api@main 1a2b3c4d)": model/event's Summary, which
// Slack's webhook messages say too.
func lifecycleText(ev event.Event) string { return ev.Summary() }

// truncate is model/event's.
var truncate = event.Truncate

// tagList builds an annotation's tags.
type tagList struct{ tags []string }

func (t *tagList) add(ts ...string) { t.tags = append(t.tags, ts...) }

// pair adds "key:value" (tags.Pair), unless value is empty.
func (t *tagList) pair(key, value string) {
	if tag := tags.Pair(key, value); tag != "" {
		t.tags = append(t.tags, tag)
	}
}
