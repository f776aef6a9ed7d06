// Package tracker turns observations of an environment (a deployment source's evidence,
// URL probes, pushed events) into lifecycle events. It speaks its own terms (Evidence):
// each source translates its vocabulary before handing observations over. Step is a pure function: state plus observation
// in, new state plus events out. It does no I/O and never reads the clock, so it is
// table-tested exhaustively and a restart can replay nothing by accident.
package tracker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/config/redact"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// What dated an event, as its metadata says (DESIGN §2: event.MetaEvidence names the
// source's field, event.MetaHealthTimeSource the observation), and the event's source.
const (
	evidenceCreated     = "creationTimestamp"
	evidenceOpStarted   = "operationState.startedAt"
	evidenceOpFinished  = "operationState.finishedAt"
	evidenceHealthSince = "health.lastTransitionTime"
	evidenceDeletion    = "deletionTimestamp"
	evidenceHistory     = "status.history"
	evidenceGone        = "application_gone"
	timeSourceSeen      = "observed" // the source gave no timestamp: envtrack's observation time
	timeSourceProbe     = "probe"
)

// norm makes every time the tracker stores comparable and printable the same way:
// UTC, whole seconds (the API and Argo CD speak RFC 3339 seconds), no monotonic part.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// Step applies one observation to one environment's state. s is the zero State for an
// environment never seen before. It returns the new state and the events, in order.
func Step(s State, o Observation, c Config) (State, []event.Event) {
	st := stepper{c: c, o: o, at: norm(o.At), firstSight: s.ID == ""}
	if o.App != nil {
		a := boundEvidence(*o.App, s.App, st.at)
		st.o.App = &a
	}
	if st.firstSight {
		s.ID = o.EnvironmentID
	}
	st.s = s
	switch {
	case o.App != nil:
		st.app(*st.o.App)
	case o.Absent:
		st.absent()
	case o.Probe != nil:
		st.probe(*o.Probe)
	case o.Push != nil:
		st.push(*o.Push)
	default:
		st.evaluate()
	}
	if o.App != nil || o.Probe != nil {
		st.s.LastObservedAt = st.at
	}
	if o.App != nil && o.App.History != nil && !o.App.OpFinishedAt.IsZero() && st.o.App.OpFinishedAt.IsZero() {
		st.s.HistoryRefusedAt = norm(o.App.OpFinishedAt) // read, and refused: not again (NeedsHistory)
	}
	return st.s, st.events
}

type stepper struct {
	s          State
	o          Observation
	c          Config
	at         time.Time // observation time, normalised
	firstSight bool
	events     []event.Event
	bounded    bool // ready is dated by the bound of the answer that showed it (datedReadiness)
}

func (st *stepper) emit(name event.Name, t time.Time, meta map[string]any) {
	if meta == nil {
		meta = map[string]any{}
	}
	meta[event.MetaDetectedAt] = st.at.Format(time.RFC3339)
	if name != event.Created && st.backfill() {
		meta[event.MetaBackfill] = true
	}
	source := SourceArgoCD
	switch {
	case st.o.Probe != nil:
		source = timeSourceProbe
	case st.o.Push != nil:
		source = "api"
	case st.o.App == nil && !st.o.Absent:
		source = "tracker"
	}
	st.events = append(st.events, event.Event{
		EnvironmentID:   st.s.ID,
		EnvironmentName: st.s.Name,
		Name:            name,
		Time:            norm(t),
		Type:            st.s.Type,
		Repository:      st.s.Repository,
		Branch:          st.s.Branch,
		CommitSHA:       st.s.CommitSHA,
		Metadata:        meta,
		Source:          source,
	})
}

// app applies one observation of the source's evidence.
func (st *stepper) app(a Evidence) {
	a = normEvidence(a)
	s := &st.s
	// The same environment id coming back after it terminated is a new incarnation.
	if s.Phase == PhaseTerminated && !a.CreatedAt.IsZero() && a.CreatedAt.After(s.TerminatedAt) {
		*s = State{ID: s.ID}
		st.firstSight = true
	}
	if s.Phase == PhaseTerminated {
		return // a stale answer about an environment that is gone
	}
	s.Source = SourceArgoCD
	s.AppName = a.AppName
	s.Name = firstNonEmpty(a.EnvironmentName, s.Name, a.AppName)
	s.Type = firstNonEmpty(a.Type, s.Type)
	s.Repository = firstNonEmpty(a.Repository, s.Repository)
	s.Branch = firstNonEmpty(a.Branch, s.Branch)
	if s.CommitSHA == "" || !s.EverReady {
		// After ready the commit moves only with a deployed event.
		s.CommitSHA = firstNonEmpty(a.CommitSHA, s.CommitSHA)
	}
	if a.URL != s.URL {
		s.URL = a.URL
		s.URLPassingSince, s.URLFailingSince, s.URLFailures, s.URLLastError = time.Time{}, time.Time{}, 0, ""
	}
	s.AbsentCount, s.AbsentSince = 0, time.Time{}
	kept := a
	kept.History, kept.HistoryPending = nil, false
	s.App = &kept
	s.AppSeenAt = latest(s.AppSeenAt, norm(st.o.AskedAt))

	if s.CreatedAt.IsZero() && !a.RequestedAt.IsZero() && s.ProvisioningStartedAt.IsZero() {
		s.CreatedAt = a.RequestedAt
		if s.Phase == "" {
			s.Phase = PhaseRequested
		}
		st.emit(event.Created, a.RequestedAt, map[string]any{event.MetaSource: "annotation"})
	}
	if s.ProvisioningStartedAt.IsZero() {
		t, from := a.CreatedAt, evidenceCreated
		if t.IsZero() {
			t, from = a.OpStartedAt, evidenceOpStarted
		}
		if t.IsZero() {
			t, from = st.at, timeSourceSeen
		}
		s.ProvisioningStartedAt = t
		s.Phase = PhaseProvisioning
		meta := map[string]any{event.MetaEvidence: from}
		addIf(meta, event.MetaRepository, s.Repository)
		addIf(meta, event.MetaBranch, s.Branch)
		addIf(meta, event.MetaCommitSHA, shortSHA(s.CommitSHA))
		addIf(meta, event.MetaApplication, a.AppName)
		if !s.CreatedAt.IsZero() {
			meta[event.MetaQueueDuration] = seconds(t.Sub(s.CreatedAt))
		}
		st.emit(event.ProvisioningStarted, t, meta)
	}

	st.evaluate()

	if a.History != nil {
		s.HistoryCheckedAt = latest(s.HistoryCheckedAt, a.OpFinishedAt)
	}
	if s.EverReady && s.Phase != PhaseTerminating && s.Phase != PhaseTerminated {
		if st.backfill() && a.History != nil {
			st.backfillHistory(a)
		} else {
			st.deployed(a)
		}
	}
	if !a.DeletionAt.IsZero() && s.TerminationStartedAt.IsZero() {
		s.TerminationStartedAt = a.DeletionAt
		s.Phase = PhaseTerminating
		st.emit(event.TerminationStarted, a.DeletionAt, map[string]any{event.MetaEvidence: evidenceDeletion})
	}
}

func (st *stepper) deployed(a Evidence) {
	s := &st.s
	switch {
	case a.HistoryPending:
		return // the history could not be read: decide on the next observation
	case a.History != nil:
		st.deployedFromHistory(a)
		return
	}
	if a.Op != OpSucceeded || a.OpFinishedAt.IsZero() || !a.OpFinishedAt.After(s.DeployedAt) {
		return
	}
	st.deploy(a.Revision, a.OpStartedAt, a.OpFinishedAt, "")
}

// deploy records that revision runs since at (a sync that started at started).
func (st *stepper) deploy(revision string, started, at time.Time, evidence string) {
	s := &st.s
	if revision == s.DeployedRevision || revision == "" {
		s.DeployedAt = at // a re-sync of the same revision is no deployment
		return
	}
	prev := s.DeployedRevision
	s.DeployedRevision, s.DeployedAt = revision, at
	s.CommitSHA = revision
	meta := map[string]any{event.MetaRevision: revision, event.MetaStatus: "success"}
	addIf(meta, event.MetaPreviousRevision, prev)
	addIf(meta, event.MetaEvidence, evidence)
	if !started.IsZero() && !started.After(at) {
		meta[event.MetaDeployDuration] = seconds(at.Sub(started))
	}
	st.emit(event.Deployed, at, meta)
}

// absent applies a conclusive answer of the source that did not contain the environment.
func (st *stepper) absent() {
	s := &st.s
	if s.Source != SourceArgoCD || s.Phase == PhaseTerminated {
		return
	}
	s.AbsentCount++
	if s.AbsentCount == 1 {
		s.AbsentSince = st.at
	}
	if s.AbsentCount < AbsentConfirmations {
		return
	}
	gone := s.AbsentSince
	if !s.ReadySeenAt.IsZero() && !s.EverReady {
		st.readyAsSeen() // shown ready before it went: that stands
	}
	if !s.EverReady && s.FailedAt.IsZero() {
		st.fail(event.ReasonDeletedBeforeReady, firstTime(s.TerminationStartedAt, gone), map[string]any{event.MetaEvidence: evidenceGone})
	}
	meta := map[string]any{event.MetaConfirmations: s.AbsentCount}
	st.noteStuck(meta)
	if !s.TerminationStartedAt.IsZero() {
		meta[event.MetaTerminationDuration] = seconds(gone.Sub(s.TerminationStartedAt))
	} else {
		meta[event.MetaTerminationStartedObserved] = false
	}
	if start := firstTime(s.CreatedAt, s.ProvisioningStartedAt); !start.IsZero() {
		meta[event.MetaTotalLifetimeHours] = hours(gone.Sub(start))
	}
	s.TerminatedAt = gone
	s.Phase = PhaseTerminated
	st.emit(event.Terminated, gone, meta)
}

// probe applies one URL probe result.
func (st *stepper) probe(p ProbeResult) {
	s := &st.s
	if s.Phase == PhaseTerminated || (p.URL != "" && s.URL != "" && p.URL != s.URL) {
		return // a probe of a URL the environment no longer has
	}
	if p.At.IsZero() {
		return // never sent (a cancelled round): no evidence either way
	}
	if s.Source == "" {
		s.Source = SourceStatic
	}
	if s.Source == SourceStatic {
		s.Name = firstNonEmpty(st.o.Name, s.Name, s.ID)
		s.Type = firstNonEmpty(st.o.Type, s.Type)
	}
	if s.URL == "" {
		s.URL = p.URL
	}
	at := norm(p.At)
	s.URLProbedAt = at
	if p.OK {
		if s.URLPassingSince.IsZero() {
			s.URLPassingSince = at
		}
		s.URLFailingSince, s.URLFailures, s.URLLastError = time.Time{}, 0, ""
	} else {
		if s.URLFailingSince.IsZero() {
			s.URLFailingSince = at
		}
		s.URLPassingSince = time.Time{}
		s.URLFailures++
		s.URLLastError = probeError(p)
	}
	// A URL-only environment with no known provisioning start: its first passing probe
	// is a baseline "ready", not a provisioning attempt.
	if s.Source == SourceStatic && s.ProvisioningStartedAt.IsZero() && !s.EverReady && p.OK {
		s.EverReady, s.ReadyAt, s.Phase = true, at, PhaseReady
		st.emit(event.Ready, at, map[string]any{event.MetaBaseline: true, event.MetaReadinessSummary: "url answered"})
		return
	}
	if s.Source == SourceStatic && s.Phase == "" {
		s.Phase = PhaseRequested
	}
	st.evaluate()
}

// push applies an event pushed through the API: the platform's own word, with its time.
func (st *stepper) push(p Push) {
	s := &st.s
	t := norm(p.Time)
	if t.IsZero() {
		t = st.at
	}
	if s.Source == "" {
		s.Source = SourceAPI
	}
	s.Name = firstNonEmpty(p.Name, s.Name, s.ID)
	s.Type = firstNonEmpty(p.Type, s.Type)
	s.Repository = firstNonEmpty(p.Repository, s.Repository)
	s.Branch = firstNonEmpty(p.Branch, s.Branch)
	s.CommitSHA = firstNonEmpty(p.CommitSHA, s.CommitSHA)
	meta := maps.Clone(p.Metadata)
	if meta == nil {
		meta = map[string]any{}
	}
	meta[event.MetaPushed] = true
	addIf(meta, MetaIdempotencyKey, p.IdempotencyKey)
	switch p.Event {
	case event.Created:
		if !s.CreatedAt.IsZero() {
			return
		}
		s.CreatedAt = t
		if s.Phase == "" {
			s.Phase = PhaseRequested
		}
		st.emit(event.Created, t, meta)
	case event.ProvisioningStarted:
		if !s.ProvisioningStartedAt.IsZero() {
			return
		}
		s.ProvisioningStartedAt = t
		if s.Phase == "" || s.Phase == PhaseRequested {
			s.Phase = PhaseProvisioning
		}
		if !s.CreatedAt.IsZero() {
			meta[event.MetaQueueDuration] = seconds(t.Sub(s.CreatedAt))
		}
		st.emit(event.ProvisioningStarted, t, meta)
	case event.Ready:
		if s.EverReady {
			return
		}
		st.ready(t, meta)
	case event.ProvisioningFailed:
		if s.EverReady || !s.FailedAt.IsZero() {
			return
		}
		reason, _ := meta[event.MetaReason].(string)
		delete(meta, event.MetaReason)
		st.fail(firstNonEmpty(reason, event.ReasonReported), t, meta)
	case event.Deployed:
		st.emit(event.Deployed, t, meta)
	case event.Degraded:
		if s.Phase != PhaseReady {
			return
		}
		s.Phase = PhaseDegraded
		st.emit(event.Degraded, t, meta)
	case event.Recovered:
		if s.Phase != PhaseDegraded {
			return
		}
		s.Phase = PhaseReady
		st.emit(event.Recovered, t, meta)
	case event.TerminationStarted:
		if !s.TerminationStartedAt.IsZero() || s.Phase == PhaseTerminated {
			return
		}
		s.TerminationStartedAt, s.Phase = t, PhaseTerminating
		st.emit(event.TerminationStarted, t, meta)
	case event.Terminated:
		if s.Phase == PhaseTerminated {
			return
		}
		if !s.TerminationStartedAt.IsZero() {
			meta[event.MetaTerminationDuration] = seconds(t.Sub(s.TerminationStartedAt))
		}
		st.noteStuck(meta)
		if start := firstTime(s.CreatedAt, s.ProvisioningStartedAt); !start.IsZero() {
			meta[event.MetaTotalLifetimeHours] = hours(t.Sub(start))
		}
		s.TerminatedAt, s.Phase = t, PhaseTerminated
		st.emit(event.Terminated, t, meta)
	}
}

// evaluate derives the provisioning outcome and, after ready, degradation from the
// evidence now in the state.
func (st *stepper) evaluate() {
	s := &st.s
	switch {
	case s.Phase == PhaseProvisioning:
		st.provisioning()
	case s.Phase == PhaseFailed && !s.EverReady:
		if t, summary, ok, wait := st.datedReadiness(); ok && !wait {
			st.ready(t, map[string]any{event.MetaLate: true, event.MetaReadinessSummary: summary})
		}
	case s.Phase == PhaseTerminating:
		st.terminating()
	}
	if s.EverReady && (s.Phase == PhaseReady || s.Phase == PhaseDegraded) {
		st.degradation()
	}
}

type candidate struct {
	reason string
	at     time.Time
	meta   map[string]any
}

// provisioning decides between ready and each failure: the earliest evidence wins.
func (st *stepper) provisioning() {
	s := &st.s
	readyAt, summary, isReady, wait := st.datedReadiness()
	if wait {
		return // ready, but when depends on the history: nothing is decided before it comes
	}
	var fails []candidate
	if a := s.App; a != nil {
		if a.Op == OpFailed && !a.OpFinishedAt.Before(s.ProvisioningStartedAt) {
			t, src := a.OpFinishedAt, evidenceOpFinished
			if t.IsZero() {
				t, src = st.at, timeSourceSeen
			}
			meta := map[string]any{event.MetaEvidence: src, event.MetaOperationPhase: a.OpPhase}
			addIf(meta, event.MetaMessage, a.OpMessage)
			fails = append(fails, candidate{event.ReasonSyncFailed, t, meta})
		}
		if a.Health == HealthDegraded {
			t, src := a.HealthSince, evidenceHealthSince
			if t.IsZero() {
				t, src = st.at, timeSourceSeen
			}
			fails = append(fails, candidate{event.ReasonDegraded, t, map[string]any{event.MetaEvidence: src, event.MetaHealthStatus: a.HealthStatus}})
		}
		if !a.DeletionAt.IsZero() {
			fails = append(fails, candidate{event.ReasonDeletedBeforeReady, a.DeletionAt, map[string]any{event.MetaEvidence: evidenceDeletion}})
		}
	}
	deadline := s.ProvisioningStartedAt.Add(st.c.ProvisioningTimeout)
	if !st.at.Before(deadline) && !st.decidable(deadline) {
		// The deadline passed, and no answer asked for since says what happened by then:
		// what the evidence dates before it is decided now; what it dates after it (a
		// failure, a late ready) waits until such an answer decides the timeout first.
		fails = slices.DeleteFunc(fails, func(c candidate) bool { return c.at.After(deadline) })
		isReady = isReady && !readyAt.After(deadline)
	} else if !st.at.Before(deadline) {
		reason := event.ReasonTimeout
		meta := map[string]any{event.MetaTimeoutSeconds: seconds(st.c.ProvisioningTimeout)}
		if st.urlOnlyPending() {
			reason = event.ReasonURLUnreachable
			addIf(meta, event.MetaURLError, s.URLLastError)
		}
		if pending := st.pendingChecks(); len(pending) > 0 {
			meta[event.MetaPendingChecks] = strings.Join(pending, ",")
		}
		fails = append(fails, candidate{reason, deadline, meta})
	}
	slices.SortStableFunc(fails, func(a, b candidate) int { return a.at.Compare(b.at) })
	if len(fails) == 0 || (isReady && !readyAt.After(fails[0].at)) {
		if isReady {
			st.ready(readyAt, map[string]any{event.MetaReadinessSummary: summary})
		}
		return
	}
	f := fails[0]
	st.fail(f.reason, f.at, f.meta)
	if isReady && readyAt.After(f.at) {
		st.ready(readyAt, map[string]any{event.MetaLate: true, event.MetaReadinessSummary: summary})
	}
}

// decidable reports whether the evidence in the state was observed late enough to
// decide a provisioning timeout: a timer alone never fails an environment. What the
// source shows must come from an answer at or after the deadline (while the source is
// failing, evidence from before the deadline may still arrive: ready, a real failure,
// a deletion); and when only the URL is missing, a probe must have run, and failed, at
// or after the deadline.
func (st *stepper) decidable(deadline time.Time) bool {
	s := &st.s
	if s.Source == SourceArgoCD && s.AppSeenAt.Before(deadline) {
		return false
	}
	if s.URL != "" && (s.Source != SourceArgoCD || st.urlOnlyPending()) && s.URLProbedAt.Before(deadline) {
		return false
	}
	return true
}

// urlOnlyPending: the source shows the environment ready, its URL does not answer.
func (st *stepper) urlOnlyPending() bool {
	s := &st.s
	return st.appReady() && s.URL != "" && s.URLPassingSince.IsZero()
}

func (st *stepper) fail(reason string, t time.Time, meta map[string]any) {
	s := &st.s
	if meta == nil {
		meta = map[string]any{}
	}
	meta[event.MetaReason] = reason
	if !s.ProvisioningStartedAt.IsZero() {
		meta[event.MetaProvisioningDuration] = seconds(t.Sub(s.ProvisioningStartedAt))
	}
	st.classify(reason, meta)
	s.FailedAt, s.FailureReason, s.Phase = t, reason, PhaseFailed
	st.emit(event.ProvisioningFailed, t, meta)
}

// classify decides whose failure it is (Config.Classify) on what the failure's evidence
// shows: its reason, the source's error conditions and messages, a pushed message. A
// push that names its class (the platform knows its own error codes) keeps it. The
// class and the deciding matcher go in the metadata and the state; the conditions and
// the health message too, so the timeline shows what was decided on.
func (st *stepper) classify(reason string, meta map[string]any) {
	s := &st.s
	if c, _ := meta[event.MetaFailureClass].(string); st.o.Push != nil && slices.Contains(event.FailureClasses, c) {
		meta[event.MetaFailureMatcher] = event.MatcherPushed
		s.FailureClass, s.FailureMatcher = c, event.MatcherPushed
		return
	}
	delete(meta, event.MetaFailureClass)
	delete(meta, event.MetaFailureMatcher)
	var conditions, messages []string
	if m, _ := meta[event.MetaMessage].(string); m != "" {
		messages = append(messages, m)
	}
	if a := s.App; a != nil && st.o.Push == nil {
		if a.OpMessage != "" && (len(messages) == 0 || messages[0] != a.OpMessage) {
			messages = append(messages, a.OpMessage)
		}
		texts := make([]string, 0, len(a.Conditions))
		for _, c := range a.Conditions {
			conditions = append(conditions, c.Type)
			texts = append(texts, c.String())
		}
		messages = append(messages, texts...)
		if len(texts) > 0 {
			meta[event.MetaConditions] = BoundMessage(strings.Join(texts, "; "))
		}
		if a.HealthMessage != "" {
			messages = append(messages, a.HealthMessage)
			meta[event.MetaHealthMessage] = a.HealthMessage
		}
	}
	if u, _ := meta[event.MetaURLError].(string); u != "" {
		messages = append(messages, u)
	}
	if st.c.Classify == nil {
		return
	}
	class, matcher := st.c.Classify(reason, conditions, messages)
	meta[event.MetaFailureClass], meta[event.MetaFailureMatcher] = class, matcher
	s.FailureClass, s.FailureMatcher = class, matcher
}

func (st *stepper) ready(t time.Time, meta map[string]any) {
	s := &st.s
	if t.Before(s.ProvisioningStartedAt) {
		t = s.ProvisioningStartedAt // evidence from before this provisioning (a reused URL, say)
	}
	if meta == nil {
		meta = map[string]any{}
	}
	if !s.ProvisioningStartedAt.IsZero() {
		meta[event.MetaProvisioningDuration] = seconds(t.Sub(s.ProvisioningStartedAt))
	}
	if a := s.App; a != nil {
		rev, at := a.Revision, a.OpFinishedAt
		if d, ok := st.runningAt(t); ok {
			rev, at = d.Revision, d.DeployedAt // later entries are deployments made since
		}
		s.DeployedRevision, s.DeployedAt = rev, at
		addIf(meta, event.MetaRevision, rev)
		if a.HealthSince.IsZero() {
			meta[event.MetaHealthTimeSource] = timeSourceSeen
		}
	}
	if st.bounded {
		meta[event.MetaHistoryUnread] = true
	}
	s.EverReady, s.ReadyAt, s.Phase = true, t, PhaseReady
	s.ReadySeenAt, s.ReadyBy = time.Time{}, time.Time{}
	st.emit(event.Ready, t, meta)
}

// datedReadiness is readiness as it may be decided now. An answer whose history could
// not be read cannot say which sync made the environment ready: a redeploy that
// finished just after would date ready by its own finish and hide itself. So ready
// waits for the history (the source reads it again with the next answer), and the first
// answer that showed it ready bounds it: ready is never dated after that answer, nor
// after the readiness it showed (ReadySeenAt, ReadyBy). When the history has not come
// within HistoryPatience, or the environment no longer looks ready, it is dated by that
// bound. wait reports that the decision waits.
func (st *stepper) datedReadiness() (at time.Time, summary string, ready, wait bool) {
	s := &st.s
	at, summary, ready = st.readiness()
	a := st.o.App
	if ready && a != nil && a.HistoryPending && s.ReadySeenAt.IsZero() {
		s.ReadySeenAt, s.ReadyBy = st.at, earliest(at, st.at)
	}
	switch {
	case s.ReadySeenAt.IsZero():
		return at, summary, ready, false
	case ready && a != nil && a.History != nil:
		return earliest(at, s.ReadyBy), summary, true, false
	case !ready && a != nil, st.at.Sub(s.ReadySeenAt) >= HistoryPatience:
	default:
		return at, summary, ready, true
	}
	st.bounded = true
	return s.ReadyBy, st.seenSummary(), true, false
}

func (st *stepper) seenSummary() string {
	s := &st.s
	return fmt.Sprintf("Ready by %s: an answer at %s showed every check passed; the history that dates it could not be read",
		s.ReadyBy.Format(time.RFC3339), s.ReadySeenAt.Format(time.RFC3339))
}

// readyAsSeen records the readiness an earlier answer showed (ReadySeenAt) at its bound:
// the environment is going before its history could be read.
func (st *stepper) readyAsSeen() {
	s := &st.s
	st.bounded = true
	meta := map[string]any{event.MetaReadinessSummary: st.seenSummary()}
	if !s.FailedAt.IsZero() {
		meta[event.MetaLate] = true
	}
	st.ready(s.ReadyBy, meta)
}

// terminating flags a termination that outlasted its timeout (State.TerminationStuckAt).
// As a provisioning timeout, it needs an answer given after the deadline that still
// shows the environment (a pushed-only environment has no source but the platform,
// whose silence is the evidence).
func (st *stepper) terminating() {
	s := &st.s
	d := st.c.terminationTimeout(s.Type)
	if d <= 0 || !s.TerminationStuckAt.IsZero() || s.TerminationStartedAt.IsZero() {
		return
	}
	deadline := s.TerminationStartedAt.Add(d)
	if st.at.Before(deadline) || (s.Source == SourceArgoCD && s.AppSeenAt.Before(deadline)) {
		return
	}
	s.TerminationStuckAt = deadline
}

// noteStuck says in a terminated event's metadata that the termination was stuck.
func (st *stepper) noteStuck(meta map[string]any) {
	if !st.s.TerminationStuckAt.IsZero() {
		meta[event.MetaTerminationStuck] = true
	}
}

// readiness reports whether every readiness check passes and, if so, when the last one
// became true, from evidence.
func (st *stepper) readiness() (time.Time, string, bool) {
	s := &st.s
	var last time.Time
	var parts []string
	if a := s.App; a != nil {
		if !st.appReady() {
			return time.Time{}, "", false
		}
		sync := a.OpFinishedAt
		if a.Op == OpNone || sync.IsZero() {
			sync = st.at // synced with no operation on record: only our observation dates it
		}
		if first, ok := st.firstSync(); ok && first.Before(sync) {
			sync = first // later syncs (redeploys seen on a first sight) did not make it ready
		}
		health := a.HealthSince
		if health.IsZero() {
			health = st.at
		}
		last = latest(sync, health)
		parts = append(parts, "sync "+sync.Format(time.RFC3339), "health "+health.Format(time.RFC3339))
	} else if s.Source == SourceArgoCD {
		return time.Time{}, "", false
	}
	if s.URL != "" {
		if s.URLPassingSince.IsZero() {
			return time.Time{}, "", false
		}
		last = latest(last, s.URLPassingSince)
		parts = append(parts, "url "+s.URLPassingSince.Format(time.RFC3339))
	}
	if last.IsZero() {
		return time.Time{}, "", false // nothing to go on (an API-only environment)
	}
	return last, "All checks passed: " + strings.Join(parts, ", "), true
}

func (st *stepper) appReady() bool {
	a := st.s.App
	return a != nil && a.Sync == SyncSynced && a.Health == HealthHealthy &&
		(a.Op == OpNone || a.Op == OpSucceeded)
}

func (st *stepper) pendingChecks() []string {
	s := &st.s
	var p []string
	if a := s.App; a != nil {
		if a.Sync != SyncSynced || (a.Op != OpNone && a.Op != OpSucceeded) {
			p = append(p, "sync")
		}
		if a.Health != HealthHealthy {
			p = append(p, "health")
		}
	}
	if s.URL != "" && s.URLPassingSince.IsZero() {
		p = append(p, "url")
	}
	return p
}

// degradation turns health and URL evidence after ready into degraded / recovered.
func (st *stepper) degradation() {
	s := &st.s
	var cleared time.Time
	if a := s.App; a != nil {
		t := a.HealthSince
		if t.IsZero() {
			t = st.at
		}
		switch a.Health {
		case HealthDegraded, HealthMissing:
			if s.HealthDegradedAt.IsZero() && !t.Before(s.ReadyAt) {
				s.HealthDegradedAt = t
			} else if s.HealthDegradedAt.IsZero() {
				s.HealthDegradedAt = st.at // a stale transition time: date it by our observation
			}
		case HealthHealthy:
			if prev := s.HealthDegradedAt; !prev.IsZero() {
				s.HealthDegradedAt = time.Time{}
				cleared = latest(cleared, latest(t, prev))
			}
		}
	}
	if s.URL != "" {
		if s.URLFailures >= st.c.URLFailuresBeforeDegraded && s.URLDegradedAt.IsZero() {
			s.URLDegradedAt = s.URLFailingSince
		} else if !s.URLPassingSince.IsZero() && !s.URLDegradedAt.IsZero() {
			s.URLDegradedAt = time.Time{}
			cleared = latest(cleared, s.URLPassingSince)
		}
	}
	degraded := !s.HealthDegradedAt.IsZero() || !s.URLDegradedAt.IsZero()
	switch {
	case degraded && s.Phase == PhaseReady:
		meta := map[string]any{}
		var at time.Time
		switch {
		case !s.HealthDegradedAt.IsZero() && (s.URLDegradedAt.IsZero() || !s.URLDegradedAt.Before(s.HealthDegradedAt)):
			at = s.HealthDegradedAt
			meta[event.MetaCause] = "health"
			meta[event.MetaHealthStatus] = s.App.HealthStatus
		default:
			at = s.URLDegradedAt
			meta[event.MetaCause] = "url"
			addIf(meta, event.MetaURLError, s.URLLastError)
		}
		s.Phase = PhaseDegraded
		st.emit(event.Degraded, at, meta)
	case !degraded && s.Phase == PhaseDegraded:
		if cleared.IsZero() {
			cleared = st.at
		}
		s.Phase = PhaseReady
		st.emit(event.Recovered, cleared, nil)
	}
}

// boundEvidence leaves out the source's times that lie past the observation at by more
// than apitypes.MaxFuture (the clock skew a push may have): a creationTimestamp or sync
// time in 2099 is no evidence, and would date events in 2099. The tracker then dates
// what needs a time by its observation, and says so (evidence "observed"), as when the
// source shows none. A deletion is a fact whatever its stated time: it is dated by the
// observation that first showed it (held, the evidence kept from before, keeps that
// date). History entries deployed in the future are left out: such a deployment cannot
// be dated.
func boundEvidence(a Evidence, held *Evidence, at time.Time) Evidence {
	limit := at.Add(apitypes.MaxFuture)
	future := func(t time.Time) bool { return t.After(limit) }
	for _, t := range []*time.Time{&a.RequestedAt, &a.CreatedAt, &a.HealthSince, &a.OpStartedAt, &a.OpFinishedAt} {
		if future(*t) {
			*t = time.Time{}
		}
	}
	if future(a.DeletionAt) {
		a.DeletionAt = at
		if held != nil && !held.DeletionAt.IsZero() && !future(held.DeletionAt) {
			a.DeletionAt = held.DeletionAt
		}
	}
	if a.History != nil && slices.ContainsFunc(a.History, func(d Deployment) bool { return future(d.DeployedAt) || future(d.StartedAt) }) {
		h := make([]Deployment, 0, len(a.History))
		for _, d := range a.History {
			if !future(d.DeployedAt) {
				if future(d.StartedAt) {
					d.StartedAt = time.Time{}
				}
				h = append(h, d)
			}
		}
		a.History = h
	}
	return a
}

func normEvidence(a Evidence) Evidence {
	a.RequestedAt, a.CreatedAt, a.DeletionAt = norm(a.RequestedAt), norm(a.CreatedAt), norm(a.DeletionAt)
	a.HealthSince, a.OpStartedAt, a.OpFinishedAt = norm(a.HealthSince), norm(a.OpStartedAt), norm(a.OpFinishedAt)
	// A sync failure may quote its repository's URL with the credentials in it: the
	// messages are shown and sent on, so their URLs are redacted as every other's.
	a.OpMessage, a.HealthMessage = BoundMessage(redact.URLsIn(a.OpMessage)), BoundMessage(redact.URLsIn(a.HealthMessage))
	a.Repository = redact.URLsIn(a.Repository)
	if len(a.Conditions) == 0 {
		a.Conditions = nil // none is none, whichever way the source said it
	} else {
		cs := make([]Condition, 0, min(len(a.Conditions), MaxConditions))
		for _, c := range a.Conditions[:min(len(a.Conditions), MaxConditions)] {
			cs = append(cs, Condition{Type: BoundMessage(c.Type), Message: BoundMessage(redact.URLsIn(c.Message))})
		}
		a.Conditions = cs
	}
	return a
}

// BoundMessage cuts s to MaxMessageBytes, at a character boundary, marked with "…".
func BoundMessage(s string) string {
	if len(s) <= MaxMessageBytes {
		return s
	}
	cut := MaxMessageBytes - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func probeError(p ProbeResult) string {
	switch {
	case p.Err != "":
		return p.Err
	case p.StatusCode != 0:
		return fmt.Sprintf("status %dxx", p.StatusCode/100) // the class only, as the prober says it
	}
	return "failed"
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstTime(v ...time.Time) time.Time {
	for _, t := range v {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// earliest is the earlier of two times, ignoring a zero one.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func addIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// seconds and hours give durations as JSON numbers, exact to the second (times are
// whole seconds), never negative (event.Seconds).
func seconds(d time.Duration) float64 { return event.Seconds(d) }

func hours(d time.Duration) float64 { return event.Hours(d) }
