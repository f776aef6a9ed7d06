package tracker

import (
	"slices"
	"sort"
	"time"
)

// Deployment is one entry of the source's history of an environment: a successful sync,
// numbered in the order the source made them (for Argo CD, status.history: see
// exporter/argocd).
type Deployment struct {
	ID         int64
	Revision   string
	StartedAt  time.Time // when the sync started (zero when not recorded)
	DeployedAt time.Time // when it was recorded done
}

// sortedHistory returns the entries in the order the source made them, times normalised.
func sortedHistory(h []Deployment) []Deployment {
	out := slices.Clone(h)
	for i := range out {
		out[i].StartedAt, out[i].DeployedAt = norm(out[i].StartedAt), norm(out[i].DeployedAt)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].DeployedAt.Before(out[j].DeployedAt)
	})
	return out
}

// deployedFromHistory records every deployment of status.history made after the
// last one envtrack recorded (and after ready: earlier syncs were the provisioning),
// each at its own deployedAt, in order: deployments made while envtrack was blind (an
// Argo CD outage, a restart) are not lost behind the latest one.
func (st *stepper) deployedFromHistory(a Evidence) {
	s := &st.s
	for _, h := range sortedHistory(a.History) {
		if h.DeployedAt.IsZero() || !h.DeployedAt.After(latest(s.DeployedAt, s.ReadyAt)) {
			continue
		}
		st.deploy(h.Revision, h.StartedAt, h.DeployedAt, evidenceHistory)
	}
	st.historyRead(a)
}

// backfillHistory, on the first sight of an Application that was running before
// tracking began, records each of its history entries as a deployment (marked
// backfill), so its past deployments are known wherever Argo CD still holds them.
func (st *stepper) backfillHistory(a Evidence) {
	s := &st.s
	s.DeployedRevision, s.DeployedAt = "", time.Time{}
	for _, h := range sortedHistory(a.History) {
		if h.DeployedAt.IsZero() || h.DeployedAt.Before(s.DeployedAt) {
			continue
		}
		st.deploy(h.Revision, h.StartedAt, h.DeployedAt, evidenceHistory)
	}
	if s.DeployedRevision == "" {
		s.DeployedRevision = a.Revision
	}
	st.historyRead(a)
}

// historyRead notes that the history was read up to the current operation, whose
// finishedAt is a moment after its own history entry's deployedAt.
func (st *stepper) historyRead(a Evidence) {
	s := &st.s
	if a.Op == OpSucceeded && a.OpFinishedAt.After(s.DeployedAt) && (a.Revision == s.DeployedRevision || a.Revision == "") {
		s.DeployedAt = a.OpFinishedAt
	}
	s.HistoryCheckedAt = latest(s.HistoryCheckedAt, a.OpFinishedAt)
}

// firstSync is the deployedAt of the first successful sync of this provisioning in the
// history the observation carries, if any: what made an Application found running
// Synced, rather than its latest redeploy.
func (st *stepper) firstSync() (time.Time, bool) {
	if st.o.App == nil || st.s.EverReady {
		return time.Time{}, false
	}
	for _, h := range sortedHistory(st.o.App.History) {
		if !h.DeployedAt.IsZero() && !h.DeployedAt.Before(st.s.ProvisioningStartedAt) {
			return h.DeployedAt, true
		}
	}
	return time.Time{}, false
}

// runningAt is the history entry of this provisioning running at t (the last one
// deployed by then), if the observation carries the history.
func (st *stepper) runningAt(t time.Time) (Deployment, bool) {
	var d Deployment
	found := false
	if st.o.App == nil {
		return d, false
	}
	for _, h := range sortedHistory(st.o.App.History) {
		if !h.DeployedAt.IsZero() && !h.DeployedAt.Before(st.s.ProvisioningStartedAt) && !h.DeployedAt.After(t) {
			d, found = h, true
		}
	}
	return d, found
}

// backfill reports whether this step describes an environment found on its first sight
// to have started provisioning before tracking began: its events are history.
func (st *stepper) backfill() bool {
	s := &st.s
	return st.firstSight && !s.ProvisioningStartedAt.IsZero() && !st.c.TrackingSince.IsZero() &&
		s.ProvisioningStartedAt.Before(st.c.TrackingSince)
}

// NeedsHistory reports, for each evidence of a successful answer, whether the source
// must read its history (Evidence.History; Argo CD's list leaves status.history out)
// before the tracker sees it: an operation completed since the last one whose
// history was read (deployments may have happened unseen), an environment about to
// become ready (which sync made it ready), or the first sight of a running Application
// (its past deployments). One operation costs one fetch, even when its finishedAt lies
// in the future and is refused as evidence (HistoryRefusedAt); an Application already
// carrying its history needs none.
func (t *Tracker) NeedsHistory(apps []Evidence) []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	need := make([]bool, len(apps))
	for i := range apps {
		a := &apps[i]
		if a.History != nil {
			continue
		}
		id := a.EnvironmentID
		if id == "" {
			id = a.AppName
		}
		s, ok := t.states[id]
		fin := norm(a.OpFinishedAt)
		if ok && !fin.IsZero() && fin.Equal(s.HistoryRefusedAt) {
			continue // this operation's history was read, its time refused (future): once is enough
		}
		looksReady := a.Sync == SyncSynced && a.Health == HealthHealthy
		switch {
		case !ok || (s.Phase == PhaseTerminated && !a.CreatedAt.IsZero() && a.CreatedAt.After(s.TerminatedAt)):
			// First sight of a running Application: its past deployments (backfill), or
			// the ones made since it became ready while envtrack could not see.
			need[i] = looksReady && !a.CreatedAt.IsZero()
		case s.Phase == PhaseTerminating || s.Phase == PhaseTerminated:
		case !s.EverReady:
			// About to become ready: which sync made it ready, and whether it was
			// redeployed since (one read per provisioning).
			need[i] = looksReady && a.Op == OpSucceeded && !fin.IsZero() && fin.After(s.HistoryCheckedAt) &&
				!fin.Before(s.ProvisioningStartedAt)
		default:
			need[i] = !fin.IsZero() && fin.After(latest(s.DeployedAt, s.HistoryCheckedAt)) && fin.After(s.ReadyAt)
		}
	}
	return need
}
