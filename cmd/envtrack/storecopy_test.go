package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/store"
	"github.com/blueberry-idp/envtrack/model/event"
)

// TestStoreCopy: the command's flags, answers and exit codes (the copy itself, between
// both drivers, is exporter/journal's TestCopy).
func TestStoreCopy(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "a", "envtrack.db")
	s, err := store.Open(from, store.Options{})
	require.NoError(t, err)
	_, err = s.Commit(nil, []event.Event{{EnvironmentID: "e", Name: event.Created, Source: "push"}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	var out, errb bytes.Buffer
	args := []string{"store", "copy", "--from", "bbolt:" + from, "--to", "bbolt:" + filepath.Join(dir, "b", "envtrack.db")}
	require.Equal(t, 0, run(args, &out, &errb), errb.String())
	require.Equal(t, "copied 1 events (0 were there already), 0 environments, 0 sink cursors, 0 set-aside events, 0 blind windows; the journal ends at 1\n", out.String())
	out.Reset()
	require.Equal(t, 0, run(args, &out, &errb), errb.String())
	require.Contains(t, out.String(), "copied 0 events (1 were there already)")

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"store"}, 2, "usage: envtrack store copy"},
		{[]string{"store", "copy", "--from", "bbolt:" + from}, 2, "usage: envtrack store copy"},
		{[]string{"store", "copy", "--from", "bbolt:" + from, "--to", "bbolt:" + from}, 2, "the same journal"},
		{[]string{"store", "copy", "--from", "sqlite:x", "--to", "bbolt:" + from}, 1, "the driver must be bbolt or postgres"},
		{[]string{"store", "copy", "--from", "postgres:postgres://u:hunter2@127.0.0.1:1/db", "--to", "bbolt:" + from}, 1, "--from"},
	} {
		errb.Reset()
		require.Equal(t, tc.code, run(tc.args, &out, &errb), tc.args)
		require.Contains(t, errb.String(), tc.want)
		require.NotContains(t, errb.String(), "hunter2")
	}
}
