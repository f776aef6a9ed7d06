package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"--speed", "fast"}, &out, &errOut))
	require.Contains(t, errOut.String(), `invalid value "fast" for flag -speed`)

	errOut.Reset()
	require.Equal(t, 2, run([]string{"now"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unexpected arguments ["now"]`)
}

func TestMissingToolsSayMakeTools(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--dir", t.TempDir(), "--tools", t.TempDir(), "--any-ports"}, &out, &errOut)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "influxd not found")
	require.Contains(t, errOut.String(), "make tools")
}

func TestSpeedBelowOne(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"--dir", t.TempDir(), "--speed", "0.5"}, &out, &errOut))
	require.Contains(t, errOut.String(), "speed must be at least 1")
}
