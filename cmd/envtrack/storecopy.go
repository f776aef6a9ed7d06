package main

import (
	"fmt"
	"io"

	"github.com/blueberry-idp/envtrack/exporter/journal"
)

const storeUsage = `usage: envtrack store copy --from bbolt:PATH|postgres:DSN --to bbolt:PATH|postgres:DSN

Copies a journal (events, environments, sink cursors, set-aside events) between the
drivers, keeping its identity and event ids. Stop every envtrack that writes either
journal first. Resumable: run it again after an interruption; idempotent: a second
run copies nothing.
`

// storeCmd is `envtrack store copy`.
func storeCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	fs := newFlagSet("store copy", stderr)
	from := fs.String("from", "", "the journal to copy: bbolt:PATH or postgres:DSN")
	to := fs.String("to", "", "the journal to copy into: bbolt:PATH or postgres:DSN (empty, or an interrupted copy)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	if *from == *to {
		fmt.Fprintln(stderr, "envtrack store copy:", journal.ErrSameJournal)
		return 2
	}
	src, err := journal.OpenSpec(*from)
	if err != nil {
		fmt.Fprintln(stderr, "envtrack store copy: --from:", err)
		return 1
	}
	defer src.Close()
	dst, err := journal.OpenSpec(*to)
	if err != nil {
		fmt.Fprintln(stderr, "envtrack store copy: --to:", err)
		return 1
	}
	st, err := journal.Copy(src, dst, nil)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "envtrack store copy: %v (copied %d events; run it again to resume)\n", err, st.Events)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d events (%d were there already), %d environments, %d sink cursors, %d set-aside events, %d blind windows; the journal ends at %d\n",
		st.Events, st.Skipped, st.Environments, st.Cursors, st.SetAside, st.Gaps, dst.LastSeq())
	return 0
}
