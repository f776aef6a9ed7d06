package store

import (
	"errors"
	"fmt"

	"github.com/blueberry-idp/envtrack/exporter/tracker"
	"github.com/blueberry-idp/envtrack/model/event"
)

// The checks every journal driver makes before it writes (bbolt here, PostgreSQL in
// store/postgres): one definition, so that both refuse the same input the same way.

// CheckID refuses an environment id no journal stores.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("empty environment id")
	case len(id) > MaxIDLength:
		return fmt.Errorf("environment id longer than %d bytes", MaxIDLength)
	}
	return nil
}

// CheckCommit refuses a commit whose states or events name such an id.
func CheckCommit(states []tracker.State, events []event.Event) error {
	for _, st := range states {
		if err := CheckID(st.ID); err != nil {
			return fmt.Errorf("commit: state: %w", err)
		}
	}
	for _, ev := range events {
		if err := CheckID(ev.EnvironmentID); err != nil {
			return fmt.Errorf("commit: event %s: %w", ev.Name, err)
		}
	}
	return nil
}

// CheckSink refuses a sink name no journal keeps a cursor for.
func CheckSink(name string) error {
	switch {
	case name == "":
		return errors.New("empty sink name")
	case len(name) > MaxIDLength:
		return fmt.Errorf("sink name longer than %d bytes", MaxIDLength)
	}
	return nil
}
