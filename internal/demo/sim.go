package demo

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
)

// Outcomes of a provisioning attempt in the simulated world: success, or one of the
// failure reasons of DESIGN §2 (what envtrack must derive from the evidence).
const (
	OutcomeReady          = "ready"
	OutcomeSyncFailed     = "sync_failed"
	OutcomeDegraded       = "degraded"
	OutcomeTimeout        = "timeout"
	OutcomeURLUnreachable = "url_unreachable"
	OutcomeDeleted        = "deleted_before_ready"
)

// EnvType is one kind of environment of the simulated platform.
type EnvType struct {
	Name   string
	Prefix string  // of the environment ids: pr-1001, feat-1002, ...
	Weight float64 // share of the arrivals
	// Provisioning time (creation to ready) is log-normal: Median and Sigma (of the
	// underlying normal); 0.5 gives a p95 about 2.3× the median.
	Median time.Duration
	Sigma  float64
	// Lifetime after ready, log-normal with this median (sigma 0.7).
	Lifetime time.Duration
	// DeployEvery is the mean time between deployments while the environment lives.
	DeployEvery time.Duration
	// URL: the environment has a URL (blueberry.io/url) that envtrack probes.
	URL bool
}

// DefaultTypes is the simulated platform's mix.
var DefaultTypes = []EnvType{
	{Name: "preview", Prefix: "pr", Weight: 0.55, Median: 2 * time.Minute, Sigma: 0.55, Lifetime: 3 * time.Hour, DeployEvery: 40 * time.Minute, URL: true},
	{Name: "feature", Prefix: "feat", Weight: 0.2, Median: 3 * time.Minute, Sigma: 0.6, Lifetime: 5 * time.Hour, DeployEvery: time.Hour, URL: true},
	{Name: "staging", Prefix: "staging", Weight: 0.1, Median: 5 * time.Minute, Sigma: 0.5, Lifetime: 10 * time.Hour, DeployEvery: 90 * time.Minute},
	{Name: "qa", Prefix: "qa", Weight: 0.15, Median: 4 * time.Minute, Sigma: 0.7, Lifetime: 2 * time.Hour, DeployEvery: 2 * time.Hour},
}

// DefaultFailures are the probabilities of each failure reason per provisioning
// attempt (the rest succeed): about 91 % success, below the 95 % alert threshold of
// the default targets, so the success-rate alert has something to say.
var DefaultFailures = map[string]float64{
	OutcomeSyncFailed:     0.025,
	OutcomeDegraded:       0.02,
	OutcomeTimeout:        0.015,
	OutcomeURLUnreachable: 0.015, // URL types only; the others time out instead
	OutcomeDeleted:        0.015,
}

var repos = []string{"backend-api", "frontend-web", "payments", "search", "notifications", "checkout"}

var failMessages = []string{
	`one or more objects failed to apply, reason: Deployment.apps "{repo}" is invalid: spec.template.spec.containers[0].image: Required value`,
	`one or more objects failed to apply, reason: admission webhook "validate.kyverno.svc" denied the request`,
	`ComparisonError: failed to load target state: rpc error: code = Unknown desc = helm template: values.yaml: unknown field "replica"`,
}

// SimConfig configures a Sim.
type SimConfig struct {
	Types    []EnvType          // nil: DefaultTypes
	Failures map[string]float64 // nil: DefaultFailures
	// PerHour is the mean number of arrivals per simulated hour (over a day; the rate
	// follows working hours).
	PerHour float64
	// Timeout is envtrack's readiness.provisioning_timeout.
	Timeout time.Duration
	// MinPhase returns the shortest simulated time a phase must last for envtrack to see
	// it (two of its polls, in simulated time): the simulator stretches the phases that
	// only a poll or a probe can see (a deletion in progress, a health or URL flap).
	MinPhase func() time.Duration
	// URLBase is the base of the environments' URLs (the Sim's handler serves /env/).
	URLBase string
	Seed    uint64
}

// SimStats counts what the simulator did.
type SimStats struct {
	Arrivals  int
	ByType    map[string]int
	Outcomes  map[string]int
	Deploys   int
	Live      int // Applications listed now
	FirstID   string
	FirstTime time.Time
}

// Sim is the simulated platform: environments arrive over time, each with a story drawn
// at random (type, provisioning time, outcome, deployments, lifetime) that it plays on a
// fake Argo CD through the fake's builders, on the virtual clock.
type Sim struct {
	cfg   SimConfig
	clock func() time.Time
	argo  *fakeargocd.Server

	mu          sync.Mutex
	rng         *rand.Rand
	envs        map[string]*simEnv
	nextArrival time.Time
	seq         int
	stats       SimStats
}

type simEnv struct {
	id      string
	outcome string
	steps   []simStep
	next    int
	urlUp   []window // when the URL answers 200
}

type window struct{ from, to time.Time }

type simStep struct {
	at     time.Time
	create *fakeargocd.Application
	apply  func(*fakeargocd.Application)
	delete bool
}

// NewSim returns a simulator playing on argo. The first arrival comes shortly after
// clock() (so that the demo has something to show at once).
func NewSim(cfg SimConfig, clock func() time.Time, argo *fakeargocd.Server) *Sim {
	if cfg.Types == nil {
		cfg.Types = DefaultTypes
	}
	if cfg.Failures == nil {
		cfg.Failures = DefaultFailures
	}
	if cfg.PerHour <= 0 {
		cfg.PerHour = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Duration(config.DefaultReadinessConfig.ProvisioningTimeout)
	}
	if cfg.MinPhase == nil {
		cfg.MinPhase = func() time.Duration { return time.Minute }
	}
	s := &Sim{cfg: cfg, clock: clock, argo: argo, envs: map[string]*simEnv{},
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		stats: SimStats{Outcomes: map[string]int{}, ByType: map[string]int{}}}
	s.nextArrival = clock().Add(20 * time.Second)
	return s
}

// Tick brings the fake Argo CD to the virtual time now: new arrivals, then every due
// step of every environment, in time order per environment.
func (s *Sim) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	for !s.nextArrival.After(now) {
		e := s.plan(s.nextArrival)
		s.envs[e.id] = e
		s.nextArrival = s.nextArrival.Add(s.gap(s.nextArrival))
	}
	for id, e := range s.envs {
		for e.next < len(e.steps) && !e.steps[e.next].at.After(now) {
			st := e.steps[e.next]
			e.next++
			switch {
			case st.create != nil:
				s.argo.Upsert(*st.create)
				s.stats.Live++
			case st.delete:
				if s.argo.Delete(id) {
					s.stats.Live--
				}
			default:
				s.argo.Update(id, st.apply)
			}
		}
		if e.next == len(e.steps) {
			delete(s.envs, id)
		}
	}
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Outcomes = maps.Clone(s.stats.Outcomes)
	st.ByType = maps.Clone(s.stats.ByType)
	return st
}

// URLHandler serves the environments' URLs, /env/<id>/healthz: 200 while the story
// says the URL is up, else 503 (as an ingress does for a backend that is not ready).
func (s *Sim) URLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/env/"), "/healthz")
		now := s.clock()
		s.mu.Lock()
		up := false
		if e, ok := s.envs[id]; ok {
			for _, win := range e.urlUp {
				if !now.Before(win.from) && now.Before(win.to) {
					up = true
				}
			}
		}
		s.mu.Unlock()
		if !up {
			http.Error(w, "503 Service Temporarily Unavailable: no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// hourWeight shapes arrivals like a working day (UTC): quiet nights, busy afternoons.
// The weights average 1 over a day.
var hourWeight = [24]float64{0.35, 0.3, 0.3, 0.3, 0.35, 0.45, 0.6, 0.9, 1.3, 1.6, 1.7, 1.6,
	1.4, 1.6, 1.7, 1.7, 1.6, 1.4, 1.1, 0.9, 0.7, 0.6, 0.5, 0.4}

func init() {
	sum := 0.0
	for _, w := range hourWeight {
		sum += w
	}
	for i := range hourWeight {
		hourWeight[i] *= 24 / sum
	}
}

// gap draws the time to the next arrival: exponential at the hour's rate.
func (s *Sim) gap(at time.Time) time.Duration {
	rate := s.cfg.PerHour * hourWeight[at.UTC().Hour()] / float64(time.Hour)
	return time.Duration(s.rng.ExpFloat64()/rate) + time.Second
}

func (s *Sim) logNormal(median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*s.rng.NormFloat64()))
}

func (s *Sim) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Float64()*float64(hi-lo))
}

func (s *Sim) revision() string {
	return fmt.Sprintf("%016x%016x%08x", s.rng.Uint64(), s.rng.Uint64(), s.rng.Uint32())
}

func (s *Sim) pickType() EnvType {
	total := 0.0
	for _, t := range s.cfg.Types {
		total += t.Weight
	}
	x := s.rng.Float64() * total
	for _, t := range s.cfg.Types {
		if x -= t.Weight; x < 0 {
			return t
		}
	}
	return s.cfg.Types[len(s.cfg.Types)-1]
}

func (s *Sim) pickOutcome(t EnvType) string {
	x := s.rng.Float64()
	reasons := make([]string, 0, len(s.cfg.Failures))
	for r := range s.cfg.Failures {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons) // the draw must not depend on map order
	for _, r := range reasons {
		if x -= s.cfg.Failures[r]; x < 0 {
			if r == OutcomeURLUnreachable && !t.URL {
				return OutcomeTimeout
			}
			return r
		}
	}
	return OutcomeReady
}

// plan draws one environment's story, requested at `requested`.
func (s *Sim) plan(requested time.Time) *simEnv {
	s.seq++
	t := s.pickType()
	id := fmt.Sprintf("%s-%d", t.Prefix, 1000+s.seq)
	repo := repos[s.rng.IntN(len(repos))]
	branch := "main"
	switch t.Name {
	case "preview", "feature":
		branch = fmt.Sprintf("feature/%s-%d", []string{"login", "search", "cart", "billing", "profile", "export"}[s.rng.IntN(6)], 100+s.rng.IntN(900))
	case "qa":
		branch = fmt.Sprintf("release/1.%d", 20+s.rng.IntN(10))
	}
	outcome := s.pickOutcome(t)
	s.stats.Arrivals++
	s.stats.ByType[t.Name]++
	s.stats.Outcomes[outcome]++
	if s.stats.FirstID == "" {
		s.stats.FirstID, s.stats.FirstTime = id, requested
	}
	minPhase := s.cfg.MinPhase()

	e := &simEnv{id: id, outcome: outcome}
	add := func(at time.Time, fn func(*fakeargocd.Application)) {
		e.steps = append(e.steps, simStep{at: at, apply: fn})
	}
	// The platform asks for the environment; Argo CD creates the Application after a
	// short queue (the created → provisioning_started gap).
	created := requested.Add(min(s.logNormal(15*time.Second, 0.8), 5*time.Minute)).Truncate(time.Second)
	opts := []fakeargocd.AppOption{
		fakeargocd.WithType(t.Name),
		fakeargocd.WithRequestedAt(requested),
		fakeargocd.WithRepo("https://github.com/acme/" + repo + ".git"),
		fakeargocd.WithBranch(branch),
		fakeargocd.WithProject("environments"),
	}
	if t.URL {
		opts = append(opts, fakeargocd.WithURL(s.cfg.URLBase+"/env/"+id+"/healthz"))
	}
	app := fakeargocd.NewApp(id, created, opts...)
	e.steps = append(e.steps, simStep{at: created, create: &app})

	rev := s.revision()
	syncStart := created.Add(s.between(2*time.Second, 8*time.Second))
	add(syncStart, func(a *fakeargocd.Application) { fakeargocd.StartSync(a, rev, syncStart) })

	// Provisioning time: log-normal, kept inside the timeout (the long tail is what the
	// p95 shows; the timeout outcome is drawn on its own).
	d := max(s.logNormal(t.Median, t.Sigma), 30*time.Second)
	d = min(d, s.cfg.Timeout*8/10)
	syncDone := created.Add(d * time.Duration(55+s.rng.IntN(25)) / 100)
	healthy := created.Add(d)

	var end time.Time // when the platform deletes the environment
	switch outcome {
	case OutcomeReady:
		add(syncDone, func(a *fakeargocd.Application) { fakeargocd.SyncSucceeded(a, rev, syncDone) })
		add(healthy, func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, healthy) })
		ready := healthy
		urlFrom := healthy
		if t.URL {
			// The URL usually answers once the pods run, before Argo CD calls the whole
			// Application Healthy; sometimes (the ingress, DNS) a little after.
			urlFrom = syncDone.Add(time.Duration(float64(healthy.Sub(syncDone)) * (0.3 + 0.8*s.rng.Float64())))
			ready = later(healthy, urlFrom)
		}
		end = ready.Add(max(s.logNormal(t.Lifetime, 0.7), 10*time.Minute))
		// Sometimes health flaps after ready (degraded, then recovered), or the URL
		// stops answering for a while; deployments follow, until the end.
		cursor := ready.Add(s.between(5*time.Minute, 30*time.Minute))
		urlDown := window{}
		switch x := s.rng.Float64(); {
		case x < 0.05 && cursor.Add(20*time.Minute).Before(end):
			from, to := cursor, cursor.Add(max(s.between(2*time.Minute, 12*time.Minute), minPhase))
			add(from, func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthDegraded, from) })
			add(to, func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, to) })
			cursor = to.Add(5 * time.Minute)
		case x < 0.08 && t.URL && cursor.Add(20*time.Minute).Before(end):
			urlDown = window{cursor, cursor.Add(max(s.between(2*time.Minute, 8*time.Minute), minPhase))}
			cursor = urlDown.to.Add(5 * time.Minute)
		}
		if t.URL {
			if urlDown.from.IsZero() {
				e.urlUp = []window{{urlFrom, end.Add(time.Hour)}}
			} else {
				e.urlUp = []window{{urlFrom, urlDown.from}, {urlDown.to, end.Add(time.Hour)}}
			}
		}
		for {
			cursor = cursor.Add(time.Duration(s.rng.ExpFloat64() * float64(t.DeployEvery)))
			took := s.logNormal(90*time.Second, 0.5)
			if !cursor.Add(took + time.Minute).Before(end) {
				break
			}
			start, done, r := cursor, cursor.Add(took), s.revision()
			healthyAgain := done.Add(s.between(5*time.Second, 40*time.Second))
			add(start, func(a *fakeargocd.Application) { fakeargocd.StartSync(a, r, start) })
			add(done, func(a *fakeargocd.Application) { fakeargocd.SyncSucceeded(a, r, done) })
			add(healthyAgain, func(a *fakeargocd.Application) {
				fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, healthyAgain)
			})
			s.stats.Deploys++
			cursor = healthyAgain
		}
	case OutcomeSyncFailed:
		failed := syncStart.Add(s.between(15*time.Second, 3*time.Minute))
		msg := strings.ReplaceAll(failMessages[s.rng.IntN(len(failMessages))], "{repo}", repo)
		add(failed, func(a *fakeargocd.Application) {
			fakeargocd.SyncFailed(a, failed, msg)
			fakeargocd.SetHealth(a, fakeargocd.HealthMissing, failed)
		})
		end = failed.Add(s.logNormal(40*time.Minute, 0.6))
	case OutcomeDegraded:
		degraded := healthy
		add(syncDone, func(a *fakeargocd.Application) { fakeargocd.SyncSucceeded(a, rev, syncDone) })
		add(degraded, func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthDegraded, degraded) })
		end = degraded.Add(s.logNormal(40*time.Minute, 0.6))
	case OutcomeTimeout:
		// The sync never finishes (a hook waits forever): still Running at the timeout.
		end = created.Add(s.cfg.Timeout + s.logNormal(20*time.Minute, 0.5))
	case OutcomeURLUnreachable:
		// Argo CD says Synced and Healthy, but the URL never answers.
		add(syncDone, func(a *fakeargocd.Application) { fakeargocd.SyncSucceeded(a, rev, syncDone) })
		add(healthy, func(a *fakeargocd.Application) { fakeargocd.SetHealth(a, fakeargocd.HealthHealthy, healthy) })
		end = created.Add(s.cfg.Timeout + s.logNormal(20*time.Minute, 0.5))
	case OutcomeDeleted:
		// The pull request is closed while the environment is still provisioning.
		end = created.Add(d * time.Duration(20+s.rng.IntN(60)) / 100)
		if end.After(syncDone) {
			add(syncDone, func(a *fakeargocd.Application) { fakeargocd.SyncSucceeded(a, rev, syncDone) })
		}
	}
	// Termination: a cascading delete, the Application stays until its finalizer ran.
	gone := end.Add(max(s.logNormal(90*time.Second, 0.6), minPhase))
	add(end, func(a *fakeargocd.Application) { fakeargocd.MarkDeleting(a, end) })
	e.steps = append(e.steps, simStep{at: gone, delete: true})
	sort.SliceStable(e.steps, func(i, j int) bool { return e.steps[i].at.Before(e.steps[j].at) })
	return e
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
