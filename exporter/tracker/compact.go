package tracker

import (
	"time"
	"unique"
)

// The tracker holds every environment's state between observations, 100,000 of them on
// a large Argo CD (issue 23: ~1.3 KB each as State and Evidence, 19 + 6 time.Time of 24
// bytes and 39 string headers of 16). It keeps them compact: times as one int64 (stamp);
// the strings that take few values (types, repositories, phases, statuses, messages)
// as interned handles (str: 8 bytes, one copy of each value); those that differ from
// one environment to the next (names, branches, revisions, URLs) as strings that share
// their bytes within the state (a handle costs ~200 bytes per distinct value); the
// fields most environments never set behind one pointer (rare). A State is unpacked
// only to step it or hand it out.

// stamp is a time.Time in 8 bytes: 0 is the zero time; an even value is Unix seconds
// (shifted left once), an odd one Unix nanoseconds (shifted left once) for a time with
// a fraction of a second between 1824 and 2116. The tracker's times are whole seconds
// (norm); a time with a fraction outside that range keeps its second only. The
// location is not kept: times come back in UTC.
type stamp int64

// shiftRange bounds what a stamp holds shifted: Unix seconds, and the seconds of the
// Unix nanoseconds an odd stamp holds.
const (
	shiftRange   = 1 << 62
	nanoSecRange = shiftRange / 1_000_000_000
)

func mkStamp(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	sec, ns := t.Unix(), t.Nanosecond()
	if ns == 0 && sec != 0 && sec > -shiftRange && sec < shiftRange {
		return stamp(sec << 1)
	}
	if sec > -nanoSecRange && sec < nanoSecRange-1 {
		return stamp(t.UnixNano()<<1 | 1)
	}
	return stamp(sec << 1) // beyond 2116 with a fraction: the second (sec ≠ 0 here)
}

func (s stamp) Time() time.Time {
	switch {
	case s == 0:
		return time.Time{}
	case s&1 == 1:
		return time.Unix(0, int64(s>>1)).UTC()
	}
	return time.Unix(int64(s>>1), 0).UTC()
}

// str is a string held as a unique.Handle: 8 bytes, and one copy of each value however
// many states hold it, released when none does. The zero str is "".
type str struct{ h unique.Handle[string] }

func mkStr(s string) str {
	if s == "" {
		return str{}
	}
	return str{unique.Make(s)}
}

func (s str) String() string {
	if s == (str{}) {
		return ""
	}
	return s.h.Value()
}

// packed is a State as the tracker holds it (its id is the map's key).
type packed struct {
	name, branch, commitSHA, url, appName, deployedRevision string
	typ, repository, source, phase                          str
	createdAt, provisioningStartedAt, readyAt, deployedAt, historyCheckedAt,
	lastObservedAt, appSeenAt, urlProbedAt, urlPassingSince stamp
	everReady bool
	rare      *packedRare // nil when all its fields are zero
	app       *packedEvidence
}

// packedRare holds what most environments never set: failures, terminations,
// degradations, a readiness waiting for its history, a refused history, failing URLs,
// absences.
type packedRare struct {
	failureReason, failureClass, failureMatcher, urlLastError str
	failedAt, terminationStartedAt, terminatedAt, terminationStuckAt, readySeenAt, readyBy,
	healthDegradedAt, urlDegradedAt, urlFailingSince, absentSince, historyRefusedAt stamp
	urlFailures, absentCount int
}

// packedEvidence is an Evidence as a state keeps it (History and HistoryPending are
// never kept: Step drops them). What describes the environment is the state's own,
// usually: then own is nil.
type packedEvidence struct {
	own                                                                        *evidenceOwn
	revision, opRevision                                                       string
	typ, repository, healthStatus, healthMessage, opPhase, opMessage           str
	requestedAt, createdAt, deletionAt, healthSince, opStartedAt, opFinishedAt stamp
	conditions                                                                 []Condition // rare, and bounded (normEvidence)
	sync                                                                       SyncState
	health                                                                     HealthState
	op                                                                         OpOutcome
}

// sharer hands out one copy of each string it was given (the first), among the few
// that a state repeats: an environment's id, name and Application name, its revisions.
type sharer struct {
	seen [6]string
	n    int
}

func (d *sharer) share(x string) string {
	if x == "" {
		return ""
	}
	for _, s := range d.seen[:d.n] {
		if s == x {
			return s
		}
	}
	if d.n < len(d.seen) {
		d.seen[d.n] = x
		d.n++
	}
	return x
}

func pack(s *State) *packed {
	d := &sharer{}
	d.share(s.ID)
	p := &packed{
		name: d.share(s.Name), appName: d.share(s.AppName), branch: d.share(s.Branch),
		commitSHA: d.share(s.CommitSHA), deployedRevision: d.share(s.DeployedRevision), url: d.share(s.URL),
		typ: mkStr(s.Type), repository: mkStr(s.Repository), source: mkStr(s.Source), phase: mkStr(string(s.Phase)),
		createdAt: mkStamp(s.CreatedAt), provisioningStartedAt: mkStamp(s.ProvisioningStartedAt),
		readyAt: mkStamp(s.ReadyAt), deployedAt: mkStamp(s.DeployedAt), historyCheckedAt: mkStamp(s.HistoryCheckedAt),
		lastObservedAt: mkStamp(s.LastObservedAt), appSeenAt: mkStamp(s.AppSeenAt), urlProbedAt: mkStamp(s.URLProbedAt),
		urlPassingSince: mkStamp(s.URLPassingSince),
		everReady:       s.EverReady,
		app:             packEvidence(s.App, s, d),
	}
	r := packedRare{
		failureReason: mkStr(s.FailureReason), failureClass: mkStr(s.FailureClass),
		failureMatcher: mkStr(s.FailureMatcher), urlLastError: mkStr(s.URLLastError),
		failedAt: mkStamp(s.FailedAt), terminationStartedAt: mkStamp(s.TerminationStartedAt),
		terminatedAt: mkStamp(s.TerminatedAt), terminationStuckAt: mkStamp(s.TerminationStuckAt),
		readySeenAt: mkStamp(s.ReadySeenAt), readyBy: mkStamp(s.ReadyBy),
		healthDegradedAt: mkStamp(s.HealthDegradedAt), urlDegradedAt: mkStamp(s.URLDegradedAt),
		urlFailingSince: mkStamp(s.URLFailingSince), absentSince: mkStamp(s.AbsentSince),
		historyRefusedAt: mkStamp(s.HistoryRefusedAt),
		urlFailures:      s.URLFailures, absentCount: s.AbsentCount,
	}
	if r != (packedRare{}) {
		p.rare = &r
	}
	return p
}

// evidenceOwn is what an Evidence says of its environment, when it is not what the
// state says (its AppName, ID, Name, Branch, CommitSHA and URL).
type evidenceOwn struct {
	appName, environmentID, environmentName, branch, commitSHA, url string
}

func packEvidence(a *Evidence, s *State, d *sharer) *packedEvidence {
	if a == nil {
		return nil
	}
	var own *evidenceOwn
	if a.AppName != s.AppName || a.EnvironmentID != s.ID || a.EnvironmentName != s.Name || a.Branch != s.Branch ||
		a.CommitSHA != s.CommitSHA || a.URL != s.URL {
		own = &evidenceOwn{appName: d.share(a.AppName), environmentID: d.share(a.EnvironmentID),
			environmentName: d.share(a.EnvironmentName), branch: d.share(a.Branch), commitSHA: d.share(a.CommitSHA),
			url: d.share(a.URL)}
	}
	return &packedEvidence{
		own: own, revision: d.share(a.Revision), opRevision: d.share(a.OpRevision),
		typ: mkStr(a.Type), repository: mkStr(a.Repository), healthStatus: mkStr(a.HealthStatus),
		healthMessage: mkStr(a.HealthMessage), opPhase: mkStr(a.OpPhase), opMessage: mkStr(a.OpMessage),
		requestedAt: mkStamp(a.RequestedAt), createdAt: mkStamp(a.CreatedAt), deletionAt: mkStamp(a.DeletionAt),
		healthSince: mkStamp(a.HealthSince), opStartedAt: mkStamp(a.OpStartedAt), opFinishedAt: mkStamp(a.OpFinishedAt),
		conditions: a.Conditions, sync: a.Sync, health: a.Health, op: a.Op,
	}
}

// state is the State p holds for environment id.
func (p *packed) state(id string) State {
	s := State{
		ID: id, Name: p.name, Type: p.typ.String(), Repository: p.repository.String(),
		Branch: p.branch, CommitSHA: p.commitSHA, URL: p.url,
		Source: p.source.String(), AppName: p.appName, Phase: Phase(p.phase.String()),
		DeployedRevision: p.deployedRevision,
		CreatedAt:        p.createdAt.Time(), ProvisioningStartedAt: p.provisioningStartedAt.Time(),
		ReadyAt: p.readyAt.Time(), DeployedAt: p.deployedAt.Time(), HistoryCheckedAt: p.historyCheckedAt.Time(),
		LastObservedAt: p.lastObservedAt.Time(), AppSeenAt: p.appSeenAt.Time(), URLProbedAt: p.urlProbedAt.Time(),
		URLPassingSince: p.urlPassingSince.Time(),
		EverReady:       p.everReady,
		App:             p.app.evidence(id, p),
	}
	if r := p.rare; r != nil {
		s.FailureReason, s.FailureClass = r.failureReason.String(), r.failureClass.String()
		s.FailureMatcher, s.URLLastError = r.failureMatcher.String(), r.urlLastError.String()
		s.FailedAt, s.TerminationStartedAt = r.failedAt.Time(), r.terminationStartedAt.Time()
		s.TerminatedAt, s.TerminationStuckAt = r.terminatedAt.Time(), r.terminationStuckAt.Time()
		s.ReadySeenAt, s.ReadyBy = r.readySeenAt.Time(), r.readyBy.Time()
		s.HealthDegradedAt, s.URLDegradedAt = r.healthDegradedAt.Time(), r.urlDegradedAt.Time()
		s.URLFailingSince, s.AbsentSince = r.urlFailingSince.Time(), r.absentSince.Time()
		s.HistoryRefusedAt = r.historyRefusedAt.Time()
		s.URLFailures, s.AbsentCount = r.urlFailures, r.absentCount
	}
	return s
}

// evidence is the Evidence e holds in the state p holds of environment id.
func (e *packedEvidence) evidence(id string, p *packed) *Evidence {
	if e == nil {
		return nil
	}
	own := e.own
	if own == nil {
		own = &evidenceOwn{appName: p.appName, environmentID: id, environmentName: p.name, branch: p.branch,
			commitSHA: p.commitSHA, url: p.url}
	}
	return &Evidence{
		AppName: own.appName, EnvironmentID: own.environmentID, EnvironmentName: own.environmentName,
		Type: e.typ.String(), Repository: e.repository.String(), Branch: own.branch, CommitSHA: own.commitSHA,
		URL: own.url, Revision: e.revision, HealthStatus: e.healthStatus.String(),
		HealthMessage: e.healthMessage.String(), OpPhase: e.opPhase.String(), OpMessage: e.opMessage.String(),
		OpRevision:  e.opRevision,
		RequestedAt: e.requestedAt.Time(), CreatedAt: e.createdAt.Time(), DeletionAt: e.deletionAt.Time(),
		HealthSince: e.healthSince.Time(), OpStartedAt: e.opStartedAt.Time(), OpFinishedAt: e.opFinishedAt.Time(),
		Conditions: e.conditions, Sync: e.sync, Health: e.health, Op: e.op,
	}
}

// What the tracker's loops over every state read, without unpacking one.
func (p *packed) phaseIs(ph Phase) bool { return p.phase.String() == string(ph) }

func (p *packed) terminationStartedAt() stamp {
	if p.rare == nil {
		return 0
	}
	return p.rare.terminationStartedAt
}

func (p *packed) terminatedAt() time.Time {
	if p.rare == nil {
		return time.Time{}
	}
	return p.rare.terminatedAt.Time()
}

func (p *packed) terminationStuckAt() stamp {
	if p.rare == nil {
		return 0
	}
	return p.rare.terminationStuckAt
}
