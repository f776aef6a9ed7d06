package influxdb

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// The sink writes line protocol itself: a batch push's 500 markers built 500
// write.Points (a dozen allocations each: the point, its tags and fields, each value
// boxed) for the client's encoder to escape into a buffer and copy into a string, a
// seventh of what a batched marker cost envtrack (docs/benchmarks.md). line writes the
// very bytes that encoder (influxdata/line-protocol, as WriteAPIBlocking.WritePoint
// drives it: nanosecond timestamps, fields in the order added, no default tags) writes
// for the same point, so InfluxDB gets the same request (TestLineMatchesTheClient and
// FuzzLine hold it to that).

// line appends one point at a time to b.
type line struct {
	b      []byte
	fields int // fields of the current point
}

// start begins a point of measurement m.
func (l *line) start(m string) {
	l.b = appendEscaped(l.b, m, nameEscapes)
	l.fields = 0
}

// tag adds a tag unless its value is empty (line protocol has no empty tag values).
func (l *line) tag(k, v string) {
	if k == "" || v == "" {
		return
	}
	l.b = append(l.b, ',')
	l.b = appendEscaped(l.b, k, tagEscapes)
	l.b = append(l.b, '=')
	l.b = appendEscaped(l.b, v, tagEscapes)
}

func (l *line) key(k string) {
	if l.fields == 0 {
		l.b = append(l.b, ' ')
	} else {
		l.b = append(l.b, ',')
	}
	l.fields++
	l.b = appendEscaped(l.b, k, tagEscapes)
	l.b = append(l.b, '=')
}

// str adds a string field.
func (l *line) str(k, v string) {
	l.key(k)
	l.b = append(l.b, '"')
	l.b = appendEscaped(l.b, v, stringFieldEscapes)
	l.b = append(l.b, '"')
}

// boolean adds a boolean field.
func (l *line) boolean(k string, v bool) {
	l.key(k)
	l.b = strconv.AppendBool(l.b, v)
}

// errNotFinite: what the client's encoder refuses (event.Number never gives one).
var errNotFinite = errors.New("a field is NaN or infinite")

// float adds a float field.
func (l *line) float(k string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return errNotFinite
	}
	l.key(k)
	l.b = strconv.AppendFloat(l.b, v, 'f', -1, 64)
	return nil
}

// end ends the point with its time in nanoseconds.
func (l *line) end(t time.Time) {
	if !t.IsZero() {
		l.b = append(l.b, ' ')
		l.b = strconv.AppendInt(l.b, t.UnixNano(), 10)
	}
	l.b = append(l.b, '\n')
}

// The bytes the client's encoder escapes with a backslash, each as the escape it
// writes: in measurements; in tag keys, tag values and field keys; in string fields.
var (
	nameEscapes        = escapes("\t\n\f\r ,", "tnfr ,")
	tagEscapes         = escapes("\t\n\f\r ,=", "tnfr ,=")
	stringFieldEscapes = escapes("\t\n\f\r\"\\", "tnfr\"\\")
)

// escapes maps each byte of from to the byte after the backslash that replaces it.
func escapes(from, to string) *[256]byte {
	var t [256]byte
	for i := range len(from) {
		t[from[i]] = to[i]
	}
	return &t
}

func appendEscaped(dst []byte, s string, esc *[256]byte) []byte {
	start := 0
	for i := range len(s) {
		if e := esc[s[i]]; e != 0 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', e)
			start = i + 1
		}
	}
	return append(dst, s[start:]...)
}
