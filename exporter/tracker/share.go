package tracker

// Strings is a pool of the strings states repeat: ids and names (an environment's id,
// name and Application name are usually one string, kept in five fields), revisions
// (four fields), and the few values of types, phases, statuses and messages that every
// environment carries. Decoding 10,000 states from JSON allocates each of them
// separately; sharing them makes the tracker's states ~20 % smaller (issue 9, memory).
// A Strings is not safe for concurrent use; drop it after loading.
type Strings map[string]string

func (p Strings) share(s *string) {
	if *s == "" {
		return
	}
	if v, ok := p[*s]; ok {
		*s = v
		return
	}
	p[*s] = *s
}

// Share makes s's strings the pool's: equal strings, within the state and across
// states for the values that repeat, share their bytes. Unique ones (ids) enter the pool
// too, so it grows with the states it shared; one pool serves a whole load.
func (p Strings) Share(s *State) {
	for _, f := range []*string{&s.ID, &s.Name, &s.AppName, &s.Type, &s.Repository, &s.Branch, &s.CommitSHA,
		&s.URL, &s.Source, (*string)(&s.Phase), &s.FailureReason, &s.FailureClass, &s.FailureMatcher, &s.DeployedRevision, &s.URLLastError} {
		p.share(f)
	}
	if a := s.App; a != nil {
		for _, f := range []*string{&a.AppName, &a.EnvironmentID, &a.EnvironmentName, &a.Type, &a.Repository, &a.Branch,
			&a.CommitSHA, &a.URL, &a.Revision, &a.HealthStatus, &a.HealthMessage, &a.OpPhase, &a.OpMessage, &a.OpRevision} {
			p.share(f)
		}
		for i := range a.Conditions {
			p.share(&a.Conditions[i].Type)
			p.share(&a.Conditions[i].Message)
		}
	}
}
