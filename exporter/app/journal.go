package app

import "github.com/blueberry-idp/envtrack/exporter/journal"

// StoreFile is the name of the embedded store inside state_dir.
const StoreFile = journal.StoreFile

// Journal is the daemon's journal as its consumers see it (exporter/journal opens the
// configured driver).
type Journal = journal.Journal
