package logging

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/stretchr/testify/require"
)

// TestCaller: every way a line is logged names the line that logged it, as
// log.DefaultCaller does for a logger used directly.
func TestCaller(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "debug", "logfmt")
	require.NoError(t, err)
	comp := log.With(l, "component", "x")
	for _, tc := range []struct {
		name string
		log  func() int // logs one line, returns its line number
	}{
		{"direct", func() int { l.Log("msg", "m"); return line() }},
		{"level", func() int { level.Info(l).Log("msg", "m"); return line() }},
		{"component", func() int { comp.Log("msg", "m"); return line() }},
		{"component, level", func() int { level.Warn(comp).Log("msg", "m"); return line() }},
		{"prefixed twice", func() int { level.Debug(log.With(comp, "sink", "y")).Log("msg", "m"); return line() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			n := tc.log()
			require.Contains(t, buf.String(), "caller=logging_test.go:"+strconv.Itoa(n)+" ", buf.String())
			require.True(t, strings.HasPrefix(buf.String(), "ts="), buf.String())
		})
	}
}

// TestFilteredLinesCostNoValues: a line the level drops reads neither the clock nor the
// stack; one it keeps reads each once.
func TestFilteredLinesCostNoValues(t *testing.T) {
	for _, tc := range []struct {
		lvl  level.Option
		log  func(log.Logger)
		want int
	}{
		{level.AllowInfo(), func(l log.Logger) { level.Debug(l).Log("msg", "m") }, 0},
		{level.AllowInfo(), func(l log.Logger) { level.Debug(log.With(l, "component", "x")).Log("msg", "m") }, 0},
		{level.AllowWarn(), func(l log.Logger) { level.Info(l).Log("msg", "m") }, 0},
		{level.AllowInfo(), func(l log.Logger) { level.Info(l).Log("msg", "m") }, 1},
		{level.AllowDebug(), func(l log.Logger) { level.Debug(log.With(l, "component", "x")).Log("msg", "m") }, 1},
	} {
		var buf bytes.Buffer
		reads := 0
		l := build(log.NewLogfmtLogger(&buf), tc.lvl, func() any { reads++; return "now" })
		tc.log(l)
		require.Equal(t, tc.want, reads, buf.String())
		require.Equal(t, tc.want, strings.Count(buf.String(), "\n"), buf.String())
	}
}

func TestNewRefuses(t *testing.T) {
	_, err := New(&bytes.Buffer{}, "trace", "logfmt")
	require.ErrorContains(t, err, `unknown log level "trace"`)
	_, err = New(&bytes.Buffer{}, "info", "xml")
	require.ErrorContains(t, err, `unknown log format "xml"`)
}

// BenchmarkDroppedDebugLine: what a debug line costs a daemon logging at info.
func BenchmarkDroppedDebugLine(b *testing.B) {
	l, err := New(&bytes.Buffer{}, "info", "logfmt")
	require.NoError(b, err)
	dbg := level.Debug(l)
	for b.Loop() {
		dbg.Log("msg", "pushed event", "environment_id", "test", "seq", 42)
	}
}

// line is the line of its call.
func line() int {
	_, _, n, _ := runtime.Caller(1)
	return n
}
