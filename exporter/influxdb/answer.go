// Reading InfluxDB's /query answers. A timeline of a long-lived environment is thousands
// of rows, each with a metadata field that is JSON in a JSON string; encoding/json
// decoding them into interfaces and maps took three times as long as InfluxDB took to
// answer (docs/benchmarks.md). This parser reads exactly the JSON of an answer (and of a
// metadata object) without reflection, and decodes what encoding/json decodes:
// FuzzDecodeAnswer holds it to the encoding/json reader it replaced.

package influxdb

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// cell is one value of a row: a string, a number (its JSON text), true, false, null,
// or an object or array (which no column of envtrack's holds).
type cell struct {
	kind byte // 's', 'n', 't', 'f', 0 (null), 'o' (object or array)
	s    string
	num  []byte
}

// row is one row of a series, read by column name.
type row struct {
	columns []string
	cells   []cell
	tags    map[string]string
}

// value is the last non-null cell of column k (as encoding/json's map would keep it),
// else the series' tag k.
func (r *row) value(k string) (cell, bool) {
	for i := min(len(r.columns), len(r.cells)) - 1; i >= 0; i-- {
		if r.columns[i] == k && r.cells[i].kind != 0 {
			return r.cells[i], true
		}
	}
	if v, ok := r.tags[k]; ok {
		return cell{kind: 's', s: v}, true
	}
	return cell{}, false
}

// timeCell is the last non-null "time" column (a tag is no time).
func (r *row) timeCell() (cell, bool) {
	for i := min(len(r.columns), len(r.cells)) - 1; i >= 0; i-- {
		if r.columns[i] == "time" && r.cells[i].kind != 0 {
			return r.cells[i], true
		}
	}
	return cell{}, false
}

func (r *row) str(k string) string {
	if c, ok := r.value(k); ok && c.kind == 's' {
		return c.s
	}
	return ""
}

func (r *row) boolean(k string) bool {
	c, _ := r.value(k)
	return c.kind == 't'
}

// time is the "time" column (epoch=ns).
func (r *row) time() (time.Time, bool, error) {
	c, ok := r.timeCell()
	if !ok {
		return time.Time{}, false, nil
	}
	if c.kind != 'n' {
		return time.Time{}, false, fmt.Errorf("time %s is not epoch nanoseconds", c.describe())
	}
	ns, err := strconv.ParseInt(string(c.num), 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("time %s: %w", c.num, err)
	}
	return time.Unix(0, ns).UTC(), true, nil
}

func (c cell) describe() string {
	switch c.kind {
	case 's':
		return strconv.Quote(c.s)
	case 'n':
		return string(c.num)
	}
	return "a non-number"
}

// errSyntax is JSON that is not an answer's.
var errSyntax = errors.New("invalid JSON")

// parser reads JSON from b.
type parser struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errSyntax, what, p.i)
}

// end skips white space and reports whether nothing follows.
func (p *parser) end() bool {
	p.ws()
	return p.i >= len(p.b)
}

// next skips white space and reports the next byte (0 at the end).
func (p *parser) next() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) expect(c byte) error {
	if p.next() != c {
		return p.fail(fmt.Sprintf("want %q", c))
	}
	p.i++
	return nil
}

// object calls field for each key of the object at p.i, with p.i at its value; field
// must consume the value.
func (p *parser) object(field func(key string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.depth++; p.depth > maxDepth {
		return p.fail("nested too deeply")
	}
	defer func() { p.depth-- }()
	if p.next() == '}' {
		p.i++
		return nil
	}
	for {
		if p.next() != '"' {
			return p.fail("want a key")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		p.ws()
		if err := field(key); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("want , or }")
		}
	}
}

// array calls elem for each element of the array at p.i (or nothing for null).
func (p *parser) array(elem func() error) error {
	if p.null() {
		return nil
	}
	if err := p.expect('['); err != nil {
		return err
	}
	if p.depth++; p.depth > maxDepth {
		return p.fail("nested too deeply")
	}
	defer func() { p.depth-- }()
	if p.next() == ']' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if err := elem(); err != nil {
			return err
		}
		switch p.next() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.fail("want , or ]")
		}
	}
}

// null consumes a null.
func (p *parser) null() bool {
	if p.next() == 'n' && strings.HasPrefix(string(p.b[p.i:min(p.i+4, len(p.b))]), "null") {
		p.i += 4
		return true
	}
	return false
}

func (p *parser) literal(word string) error {
	if !strings.HasPrefix(string(p.b[p.i:min(p.i+len(word), len(p.b))]), word) {
		return p.fail("invalid literal")
	}
	p.i += len(word)
	return nil
}

// str reads the string at p.i as encoding/json does: escapes decoded, bytes that are
// not UTF-8 (and lone surrogates) replaced by U+FFFD, control characters refused.
func (p *parser) str() (string, error) {
	if p.next() != '"' {
		return "", p.fail("want a string")
	}
	p.i++
	start := p.i
	for p.i < len(p.b) { // the fast path: plain ASCII up to the closing quote
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.i++
	}
	var buf strings.Builder // its String does not copy
	buf.Grow(p.i - start + 32)
	buf.Write(p.b[start:p.i])
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return buf.String(), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return "", p.fail("unterminated string")
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				buf.WriteByte(e)
			case 'b':
				buf.WriteByte('\b')
			case 'f':
				buf.WriteByte('\f')
			case 'n':
				buf.WriteByte('\n')
			case 'r':
				buf.WriteByte('\r')
			case 't':
				buf.WriteByte('\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair, or U+FFFD (encoding/json's unquote).
					if r2, ok := p.lowSurrogate(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf.WriteRune(dec)
							break
						}
						p.i -= 6
					}
					r = utf8.RuneError
				}
				buf.WriteRune(r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			buf.WriteByte(c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				buf.WriteRune(utf8.RuneError)
			} else {
				buf.Write(p.b[p.i : p.i+size])
			}
			p.i += size
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil || strings.ContainsAny(string(p.b[p.i:p.i+4]), "+-") {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

// lowSurrogate reads a "\uXXXX" that follows, if there is one.
func (p *parser) lowSurrogate() (rune, bool) {
	if p.i+6 > len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
		return 0, false
	}
	p.i += 2
	r, ok := p.hex4()
	if !ok {
		p.i -= 2
		return 0, false
	}
	return r, true
}

// number reads the JSON number at p.i and returns its text.
func (p *parser) number() ([]byte, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, p.fail("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if !p.digits() {
			return nil, p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return nil, p.fail("invalid number")
		}
	}
	return p.b[start:p.i], nil
}

func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// cell reads any value as a cell.
func (p *parser) cell() (cell, error) {
	switch c := p.next(); {
	case c == '"':
		s, err := p.str()
		return cell{kind: 's', s: s}, err
	case c == '-' || c >= '0' && c <= '9':
		n, err := p.number()
		return cell{kind: 'n', num: n}, err
	case c == 't':
		return cell{kind: 't'}, p.literal("true")
	case c == 'f':
		return cell{kind: 'f'}, p.literal("false")
	case c == 'n':
		return cell{}, p.literal("null")
	case c == '{' || c == '[':
		return cell{kind: 'o'}, p.skip()
	}
	return cell{}, p.fail("want a value")
}

// skip skips any value, checking its syntax.
func (p *parser) skip() error {
	switch p.next() {
	case '{':
		return p.object(func(string) error { return p.skip() })
	case '[':
		return p.array(p.skip)
	case '"':
		return p.skipString()
	}
	_, err := p.cell()
	return err
}

// skipString skips the string at p.i, checking what str would check, without building
// it.
func (p *parser) skipString() error {
	p.i++ // the opening quote
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return nil
		case c < 0x20:
			return p.fail("control character in string")
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return p.fail("unterminated string")
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				p.i += 2
				if _, ok := p.hex4(); !ok {
					return p.fail("invalid \\u escape")
				}
			default:
				return p.fail("invalid escape")
			}
		default:
			p.i++
		}
	}
	return p.fail("unterminated string")
}

// any reads any value as encoding/json decodes it into an interface: objects as
// map[string]any (the last of duplicate keys wins), arrays as []any, numbers as
// float64.
func (p *parser) any() (any, error) {
	switch p.next() {
	case '{':
		m := map[string]any{}
		err := p.object(func(k string) error {
			v, err := p.any()
			m[k] = v
			return err
		})
		return m, err
	case '[':
		a := []any{}
		err := p.array(func() error {
			v, err := p.any()
			a = append(a, v)
			return err
		})
		return a, err
	}
	c, err := p.cell()
	if err != nil {
		return nil, err
	}
	switch c.kind {
	case 's':
		return c.s, nil
	case 'n':
		f, err := strconv.ParseFloat(string(c.num), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", c.num, err)
		}
		return f, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return nil, nil
}

// decodeMetadata decodes the metadata field as json.Unmarshal into a map[string]any
// would: null is nil, anything but an object (or trailing bytes) an error.
func decodeMetadata(s string) (map[string]any, error) {
	p := &parser{b: []byte(s)}
	if p.null() {
		if !p.end() {
			return nil, p.fail("trailing data")
		}
		return nil, nil
	}
	if p.next() != '{' {
		if _, err := p.any(); err != nil {
			return nil, err
		}
		return nil, errors.New("metadata is not a JSON object")
	}
	v, err := p.any()
	if err != nil {
		return nil, err
	}
	if !p.end() {
		return nil, p.fail("trailing data")
	}
	return v.(map[string]any), nil
}

// answerBuffers recycles the buffers answers are read into.
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// decodeAnswer reads a /query answer: one JSON object, or a stream of them when chunked
// (1.8's services/httpd/response_writer.go; 2.x and 3.x answer alike), times as epoch
// nanoseconds. It calls row for every row of every series, with the statement's index.
// An error the answer carries, a statement whose answer was cut short ("partial" to
// the end, as 1.x marks what max-row-limit truncated) and an answer that is not JSON
// are *ReadErrors; keys are matched as encoding/json matches struct fields (the last of
// duplicates wins, case does not matter).
func decodeAnswer(body io.Reader, emit func(statement int, r *row) error) error {
	bp := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(bp)
	buf, err := readAll(body, (*bp)[:0])
	*bp = buf
	if err != nil {
		return err
	}
	p := &parser{b: buf}
	partial := map[int]bool{}
	for !p.end() {
		if err := p.answerObject(partial, emit); err != nil {
			return err
		}
	}
	for stmt, cut := range partial {
		if cut {
			return &ReadError{Message: fmt.Sprintf("the answer to statement %d was cut short (partial): does InfluxDB's max-row-limit apply?", stmt)}
		}
	}
	return nil
}

// readAll is io.ReadAll into buf.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// syntaxError is an answer that is not InfluxDB's JSON.
func syntaxError(err error) error {
	var re *ReadError
	if errors.As(err, &re) || !errors.Is(err, errSyntax) && !isNumberError(err) {
		return err
	}
	return &ReadError{Message: "the answer is not InfluxDB's JSON: " + err.Error(), err: err}
}

func isNumberError(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne)
}

// result is one element of an answer's "results", its series still to read.
type result struct {
	stmt    int
	series  int // the offset of its "series" array; -1 without one
	partial bool
	err     string
}

// answerObject reads one answer object, {"results": [...], "error": "..."}, and then
// the rows of its results: encoding/json decoded a whole object before the rows were
// looked at, so an error anywhere in the object fails it before any of its rows.
func (p *parser) answerObject(partial map[int]bool, emit func(int, *row) error) error {
	if p.null() {
		return nil // encoding/json decodes null into a struct as nothing
	}
	var results []result
	errMsg := ""
	err := p.object(func(k string) error {
		switch {
		case strings.EqualFold(k, "results"):
			results = results[:0]
			return p.array(func() error {
				r, err := p.result()
				results = append(results, r)
				return err
			})
		case strings.EqualFold(k, "error"):
			s, err := p.optString()
			errMsg = s
			return err
		}
		return p.skip()
	})
	if err != nil {
		return syntaxError(err)
	}
	if errMsg != "" {
		return &ReadError{Message: errMsg}
	}
	end := p.i
	defer func() { p.i = end }()
	for _, r := range results {
		if r.err != "" {
			return &ReadError{Message: r.err}
		}
		cut := r.partial
		if r.series >= 0 {
			p.i = r.series
			seriesCut, err := p.series(r.stmt, emit)
			if err != nil {
				return syntaxError(err)
			}
			cut = cut || seriesCut
		}
		partial[r.stmt] = cut
	}
	return nil
}

// optString reads a string, or null as "".
func (p *parser) optString() (string, error) {
	if p.null() {
		return "", nil
	}
	return p.str()
}

// optBool reads a boolean, or null as false.
func (p *parser) optBool() (bool, error) {
	if p.null() {
		return false, nil
	}
	c, err := p.cell()
	if err == nil && c.kind != 't' && c.kind != 'f' {
		err = fmt.Errorf("%w: want a boolean", errSyntax)
	}
	return c.kind == 't', err
}

// result reads one result object (or null, a zero result); its series are skipped
// and read later.
func (p *parser) result() (result, error) {
	r := result{series: -1}
	if p.null() {
		return r, nil
	}
	err := p.object(func(k string) error {
		switch {
		case strings.EqualFold(k, "statement_id"):
			if p.null() {
				return nil // null leaves an int as it is
			}
			n, err := p.number()
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(string(n), 10, 0)
			if err != nil {
				return fmt.Errorf("%w: statement_id %s", errSyntax, n)
			}
			r.stmt = int(id)
			return nil
		case strings.EqualFold(k, "series"):
			r.series = p.i
			return p.checkSeries()
		case strings.EqualFold(k, "partial"):
			if p.null() {
				return nil
			}
			b, err := p.optBool()
			r.partial = b
			return err
		case strings.EqualFold(k, "error"):
			if p.null() {
				return nil
			}
			s, err := p.str()
			r.err = s
			return err
		}
		return p.skip()
	})
	return r, err
}

// checkSeries checks the types of the series array at p.i, as encoding/json does when
// it decodes them (a duplicate key that a later one overrides included), and skips it.
func (p *parser) checkSeries() error {
	return p.array(func() error {
		if p.null() {
			return nil
		}
		return p.object(func(k string) error {
			switch {
			case strings.EqualFold(k, "columns"):
				return p.array(func() error { _, err := p.optString(); return err })
			case strings.EqualFold(k, "tags"):
				if p.null() {
					return nil
				}
				return p.object(func(string) error { _, err := p.optString(); return err })
			case strings.EqualFold(k, "values"):
				return p.array(func() error { return p.array(p.skip) })
			case strings.EqualFold(k, "partial"):
				_, err := p.optBool()
				return err
			}
			return p.skip()
		})
	})
}

// series reads the series array at p.i and calls row for each of their rows. It
// reports whether a series said it was partial.
func (p *parser) series(stmt int, emit func(int, *row) error) (bool, error) {
	cut := false
	r := &row{}
	err := p.array(func() error {
		if p.null() {
			return nil
		}
		values := -1
		r.columns, r.tags = r.columns[:0], nil
		err := p.object(func(k string) error {
			switch {
			case strings.EqualFold(k, "columns"):
				r.columns = r.columns[:0]
				return p.array(func() error {
					s, err := p.optString()
					r.columns = append(r.columns, s)
					return err
				})
			case strings.EqualFold(k, "tags"):
				if p.null() {
					r.tags = nil
					return nil
				}
				if r.tags == nil {
					r.tags = map[string]string{}
				}
				return p.object(func(k string) error {
					v, err := p.optString()
					r.tags[k] = v
					return err
				})
			case strings.EqualFold(k, "values"):
				values = p.i
				return p.skip()
			case strings.EqualFold(k, "partial"):
				if p.null() {
					return nil
				}
				b, err := p.optBool()
				cut = cut || b
				return err
			}
			return p.skip()
		})
		if err != nil || values < 0 {
			return err
		}
		end := p.i
		p.i = values
		err = p.array(func() error {
			r.cells = r.cells[:0]
			if err := p.array(func() error {
				c, err := p.cell()
				r.cells = append(r.cells, c)
				return err
			}); err != nil {
				return err
			}
			return emit(stmt, r)
		})
		p.i = end
		return err
	})
	return cut, err
}
