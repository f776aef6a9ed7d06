// Package logging builds envtrack's go-kit logger from the --log.level and --log.format
// flags, the way Prometheus components do.
package logging

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Levels and formats accepted by the flags.
var (
	Levels  = []string{"debug", "info", "warn", "error"}
	Formats = []string{"logfmt", "json"}
)

// New returns a logger writing to w with a UTC timestamp and the caller, filtered at lvl.
func New(w io.Writer, lvl, format string) (log.Logger, error) {
	var l log.Logger
	switch format {
	case "logfmt", "":
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("unknown log format %q: want logfmt or json", format)
	}
	var opt level.Option
	switch lvl {
	case "debug":
		opt = level.AllowDebug()
	case "info", "":
		opt = level.AllowInfo()
	case "warn":
		opt = level.AllowWarn()
	case "error":
		opt = level.AllowError()
	default:
		return nil, fmt.Errorf("unknown log level %q: want debug, info, warn or error", lvl)
	}
	return build(l, opt, log.DefaultTimestampUTC), nil
}

// build puts the level filter in front of the timestamp and the caller. The usual order
// (log.With of the filter, as Prometheus' promlog has it) makes every line, dropped or
// not, read the clock and walk the stack before the filter sees its level: a commit of
// 500 pushed events logs each at debug, and at info that cost a few percent of the
// daemon's CPU per event for lines nobody writes. The caller is then found by skipping
// go-kit's frames rather than at a fixed depth, since a line reaches it through a
// context or two and the filter.
func build(next log.Logger, opt level.Option, ts log.Valuer) log.Logger {
	return level.NewFilter(log.With(next, "ts", ts, "caller", log.Valuer(caller)), opt)
}

// caller is the file:line of the first frame outside go-kit's log packages, as
// log.DefaultCaller writes it.
func caller() any {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:]) // from caller's caller, go-kit's bindValues
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !inGoKit(f.Function) {
			return f.File[strings.LastIndexByte(f.File, '/')+1:] + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "???"
		}
	}
}

// inGoKit reports whether fn is a function of github.com/go-kit/log or a package under
// it (level), including their closures and methods.
func inGoKit(fn string) bool {
	const pkg = "github.com/go-kit/log"
	if !strings.HasPrefix(fn, pkg) {
		return false
	}
	rest := fn[len(pkg):]
	return strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "/")
}
