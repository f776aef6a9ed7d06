// Reading InfluxDB's /query answers. A timeline of a long-lived environment is thousands
// of rows, each with a metadata field that is JSON in a JSON string; encoding/json
// decoding them into interfaces and maps took three times as long as InfluxDB took to
// answer (docs/benchmarks.md). This parser reads exactly the JSON of an answer (and of a
// metadata object) without reflection, and decodes what encoding/json decodes:
// FuzzDecodeAnswer holds it to the encoding/json reader it replaced.

package influxdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/blueberry-idp/envtrack/exporter/recycle"
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
	// rows is how many rows the series being read holds: a capacity hint.
	rows int
	// in interns the metadata's keys and short values for the whole answer.
	in *interner
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
	in    *interner // for object keys; may be nil
	tmp   []byte    // where strings with escapes are decoded
	// The cells of the answer object being read, row after row (rowEnds: where each
	// row ends in cells), read once while the object is checked and handed to emit
	// once all of it is. A string equal to the one in the same column of the row
	// before is that string again, not a new one (a timeline's environment, type,
	// repository and event name repeat on every row); prevRow is the last row of the
	// object before (its strings), for the first row of the next.
	cells   []cell
	rowEnds []int
	prevRow []cell
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
		key, err := p.strLike("", p.in)
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
func (p *parser) str() (string, error) { return p.strLike("", nil) }

// strLike is str that returns like (no new string) when the string reads the same, or
// in's copy of it.
func (p *parser) strLike(like string, in *interner) (string, error) {
	if p.next() != '"' {
		return "", p.fail("want a string")
	}
	p.i++
	start := p.i
	for p.i < len(p.b) { // the fast path: plain ASCII up to the closing quote
		c := p.b[p.i]
		if c == '"' {
			raw := p.b[start:p.i]
			p.i++
			if string(raw) == like { // compared without a copy
				return like, nil
			}
			return in.string(raw), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.i++
	}
	// Decoded into the parser's scratch buffer, then copied once at its length.
	buf := append(p.tmp[:0], p.b[start:p.i]...)
	defer func() { p.tmp = buf }()
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
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
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair, or U+FFFD (encoding/json's unquote).
					if r2, ok := p.lowSurrogate(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							break
						}
						p.i -= 6
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			run := p.i + 1 // a run of plain ASCII, copied at once
			for run < len(p.b) && p.b[run] >= 0x20 && p.b[run] < utf8.RuneSelf && p.b[run] != '"' && p.b[run] != '\\' {
				run++
			}
			buf = append(buf, p.b[p.i:run]...)
			p.i = run
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, p.b[p.i:p.i+size]...)
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
func (p *parser) cell() (cell, error) { return p.cellLike(cell{}) }

// cellLike is cell that reuses like's string when it reads the same.
func (p *parser) cellLike(like cell) (cell, error) {
	switch c := p.next(); {
	case c == '"':
		s, err := p.strLike(like.s, nil)
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
// would: null is nil, anything but an object (or trailing bytes) an error. in (may be
// nil) shares what repeats between the events of one answer: the keys, and a value
// equal to the one the key had last.
func decodeMetadata(s string, in *interner) (map[string]any, error) {
	var buf []byte
	if in != nil {
		in.scratch = append(in.scratch[:0], s...) // nothing decoded points into it
		buf = in.scratch
	} else {
		buf = []byte(s)
	}
	p := &parser{b: buf, in: in}
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
	m := map[string]any{}
	err := p.object(func(k string) error {
		if p.next() != '"' || in == nil {
			v, err := p.any()
			m[k] = v
			return err
		}
		last := in.last[k]
		like, _ := last.(string)
		v, err := p.strLike(like, nil)
		if err != nil {
			return err
		}
		if last != nil && v == like {
			m[k] = last // the same boxed string: no allocation
			return nil
		}
		boxed := any(v)
		if _, ok := in.last[k]; len(v) <= internMax && (ok || len(in.last) < internCap) {
			in.last[k] = boxed
		}
		m[k] = boxed
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !p.end() {
		return nil, p.fail("trailing data")
	}
	return m, nil
}

// interner shares the strings that repeat across the rows of one answer.
type interner struct {
	strs    map[string]string
	last    map[string]any // metadata key: its last short string value, boxed
	scratch []byte
}

const (
	internMax = 32   // longer strings rarely repeat (revisions, messages)
	internCap = 1024 // strings kept at most
)

func newInterner() *interner {
	return &interner{strs: map[string]string{}, last: map[string]any{}}
}

// string is b as a string: the one it gave before for the same bytes, if any.
func (in *interner) string(b []byte) string {
	if in == nil || len(b) > internMax {
		return string(b)
	}
	if s, ok := in.strs[string(b)]; ok { // looked up without a copy
		return s
	}
	s := string(b)
	if len(in.strs) < internCap {
		in.strs[s] = s
	}
	return s
}

// answerStates recycles the buffers answers are read into.
var answerStates = recycle.New[answerState]()

type answerState struct {
	buf     []byte
	cells   []cell
	rowEnds []int
}

const (
	minAnswerBuffer = 64 << 10
	// maxPooledAnswer: a buffer that grew larger (an answer of one huge chunk) is left
	// to the garbage collector.
	maxPooledAnswer = 8 << 20
	// maxPooledCells: cells of an answer object beyond these are left to the garbage
	// collector (a chunk of 500 rows of 10 columns is 5,000).
	maxPooledCells = 64 << 10
	// keptAnswer, keptCells: the buffers kept across garbage collections at most (a
	// long timeline's: its chunks are 100 KB, 5,000 cells).
	keptAnswer = 1 << 20
	keptCells  = 16 << 10
	// maxLine is how far an answer is read for the end of a line (InfluxDB ends each
	// chunk with one) before the objects are found by their brackets instead.
	maxLine = 1 << 20
)

// decodeAnswer reads a /query answer: one JSON object, or a stream of them when chunked
// (1.8's services/httpd/response_writer.go; 2.x and 3.x answer alike), times as epoch
// nanoseconds. It calls row for every row of every series, with the statement's index.
// An error the answer carries, a statement whose answer was cut short ("partial" to
// the end, as 1.x marks what max-row-limit truncated) and an answer that is not JSON
// are *ReadErrors; keys are matched as encoding/json matches struct fields (the last of
// duplicates wins, case does not matter).
//
// Each chunk is read as soon as it has arrived, while InfluxDB writes the next one, and
// only the chunk not yet read is kept. InfluxDB writes each chunk on a line of its own
// (1.8's jsonFormatter ends each with "\n", which no JSON string holds): what precedes a
// line's end is read as whole objects, without a look at each byte to find where they
// end. Only when that fails (an answer with its objects spread over lines, or none
// ended so far) are the objects found by counting their brackets (splitter).
func decodeAnswer(body io.Reader, emit func(statement int, r *row) error) error {
	st := answerStates.Get()
	buf := st.buf[:0]
	if cap(buf) < minAnswerBuffer {
		buf = make([]byte, 0, minAnswerBuffer)
	}
	in := newInterner()
	p := &parser{in: in, cells: st.cells[:0], rowEnds: st.rowEnds[:0]}
	defer func() {
		clear(p.cells[:cap(p.cells)]) // nothing of this answer stays reachable from the pool
		if cap(buf) <= maxPooledAnswer {
			st.buf = buf[:0]
		} else {
			st.buf = nil
		}
		st.cells, st.rowEnds = nil, nil
		if cap(p.cells) <= maxPooledCells {
			st.cells, st.rowEnds = p.cells[:0], p.rowEnds[:0]
		}
		answerStates.Put(st, cap(st.buf) <= keptAnswer && cap(st.cells) <= keptCells)
	}()
	partial := map[int]bool{}
	r := &row{in: in}
	var sp splitter
	lines := true // objects end where lines do, until that fails
	scanned := 0  // buf[:scanned] holds no line end past what was read
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		done := 0
		for lines {
			nl := bytes.IndexByte(buf[scanned:], '\n')
			if nl < 0 {
				scanned = len(buf)
				if len(buf)-done > maxLine {
					lines, sp.pos = false, done
				}
				break
			}
			end := scanned + nl + 1
			scanned = end
			ok, err := p.line(buf[:end], done, partial, emit, r)
			if err != nil {
				return err
			}
			if !ok { // not whole objects: the splitter reads on from here
				done = p.i
				lines, sp.pos = false, done
				break
			}
			done = end
		}
		for !lines {
			end := sp.end(buf)
			if end < 0 {
				break
			}
			p.b, p.i = buf[:end], done
			if err := p.answerObject(partial, emit, r); err != nil {
				return err
			}
			if !p.end() { // more than one value: the rest is read at the end
				done, sp.stuck = p.i, true
				break
			}
			done = end
		}
		if done > 0 { // keep what is not read yet only
			buf = buf[:copy(buf, buf[done:])]
			sp.pos -= done
			scanned -= done
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	p.b, p.i = buf, 0
	for !p.end() {
		if err := p.answerObject(partial, emit, r); err != nil {
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

// line reads the answer objects in b[from:], which ends with a line's end, and reports
// whether they were whole objects; when not, it has read (and emitted) those before p.i
// only, and the rest is to be read otherwise. Its error is the answer's.
func (p *parser) line(b []byte, from int, partial map[int]bool, emit func(int, *row) error, r *row) (bool, error) {
	p.b, p.i = b, from
	for !p.end() {
		at := p.i
		results, errMsg, err := p.checkAnswer()
		if err != nil {
			p.i = at
			return false, nil
		}
		if err := p.emitAnswer(results, errMsg, partial, emit, r); err != nil {
			return true, err
		}
	}
	return true, nil
}

// splitter finds where the objects of a stream of JSON objects end, as the bytes
// arrive. It only counts brackets outside strings; the parser checks the objects.
type splitter struct {
	pos   int // bytes looked at
	depth int
	str   bool
	// stuck: something else than an object at the top (null, or not JSON), or what
	// the splitter took for an object was not one: the rest is read at the end.
	stuck bool
}

// end is where the first object that begins at or after pos ends in buf, or -1 when
// none ended yet.
func (s *splitter) end(buf []byte) int {
	for !s.stuck && s.pos < len(buf) {
		if s.str {
			q := bytes.IndexByte(buf[s.pos:], '"')
			if q < 0 {
				s.pos = len(buf)
				return -1
			}
			s.pos += q + 1
			escaped := false // an odd run of backslashes before the quote
			for i := s.pos - 2; i >= 0 && buf[i] == '\\'; i-- {
				escaped = !escaped
			}
			s.str = escaped
			continue
		}
		c := buf[s.pos]
		s.pos++
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case s.depth == 0 && c != '{':
			s.stuck = true
		case c == '"':
			s.str = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			if s.depth--; s.depth == 0 {
				return s.pos
			}
		}
	}
	return -1
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
	series  []seriesAt // of its last "series" array
	partial bool       // the result or one of these series says so
	err     string
}

// seriesAt is where one series' parts are in the answer: its "columns" and "tags" in
// the order they came (a later "columns" replaces an earlier one, a later "tags" adds
// to it, as encoding/json decodes them), offsets into p.b; and the rows of its last
// "values", indexes into p.rowEnds ([rowsFrom, rowsFrom+rows); rowsFrom -1 for none).
type seriesAt struct {
	parts    []part
	rowsFrom int
	rows     int
}

type part struct {
	tags bool
	at   int
}

// answerObject reads one answer object, {"results": [...], "error": "..."}, and then
// the rows of its results: encoding/json decoded a whole object before the rows were
// looked at, so an error anywhere in the object fails it before any of its rows. The
// first pass checks the object and notes where each series' parts are; the second
// reads the rows from there.
func (p *parser) answerObject(partial map[int]bool, emit func(int, *row) error, r *row) error {
	results, errMsg, err := p.checkAnswer()
	if err != nil {
		return syntaxError(err)
	}
	return p.emitAnswer(results, errMsg, partial, emit, r)
}

// checkAnswer is answerObject's first pass: it checks the object at p.i, reads the
// cells of its rows and notes where the rest of each series is.
func (p *parser) checkAnswer() ([]result, string, error) {
	if n := len(p.rowEnds); n > 0 { // the last row of the object before, for the first of this one
		from := 0
		if n > 1 {
			from = p.rowEnds[n-2]
		}
		last := p.cells[from:p.rowEnds[n-1]]
		p.prevRow = p.prevRow[:0]
		for _, c := range last {
			p.prevRow = append(p.prevRow, cell{kind: c.kind, s: c.s})
		}
	}
	p.cells, p.rowEnds = p.cells[:0], p.rowEnds[:0]
	if p.null() {
		return nil, "", nil // encoding/json decodes null into a struct as nothing
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
	return results, errMsg, err
}

// emitAnswer is answerObject's second pass, over what checkAnswer found: the object's
// error, or its rows.
func (p *parser) emitAnswer(results []result, errMsg string, partial map[int]bool, emit func(int, *row) error, r *row) error {
	if errMsg != "" {
		return &ReadError{Message: errMsg}
	}
	end := p.i
	defer func() { p.i = end }()
	for _, res := range results {
		if res.err != "" {
			return &ReadError{Message: res.err}
		}
		for _, at := range res.series {
			if err := p.seriesRows(res.stmt, at, r, emit); err != nil {
				return syntaxError(err)
			}
		}
		partial[res.stmt] = res.partial
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

// result reads one result object (or null, a zero result), checking its series and
// noting where they are.
func (p *parser) result() (result, error) {
	var r result
	if p.null() {
		return r, nil
	}
	resultPartial, seriesPartial := false, false
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
			var err error
			r.series, seriesPartial, err = p.checkSeries(r.series[:0])
			return err
		case strings.EqualFold(k, "partial"):
			if p.null() {
				return nil
			}
			b, err := p.optBool()
			resultPartial = b
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
	r.partial = resultPartial || seriesPartial
	return r, err
}

// checkSeries checks the types of the series array at p.i, as encoding/json does when
// it decodes them (a duplicate key that a later one overrides included), skips it and
// appends where each series' parts are to out. It reports whether a series said it was
// partial.
func (p *parser) checkSeries(out []seriesAt) ([]seriesAt, bool, error) {
	cut := false
	err := p.array(func() error {
		if p.null() {
			return nil
		}
		at := seriesAt{rowsFrom: -1}
		err := p.object(func(k string) error {
			switch {
			case strings.EqualFold(k, "columns"):
				at.parts = append(at.parts, part{at: p.i})
				return p.array(func() error { _, err := p.optString(); return err })
			case strings.EqualFold(k, "tags"):
				at.parts = append(at.parts, part{tags: true, at: p.i})
				if p.null() {
					return nil
				}
				return p.object(func(string) error { _, err := p.optString(); return err })
			case strings.EqualFold(k, "values"):
				at.rowsFrom, at.rows = len(p.rowEnds), 0
				return p.array(p.rowCells(&at))
			case strings.EqualFold(k, "partial"):
				b, err := p.optBool()
				cut = cut || b
				return err
			}
			return p.skip()
		})
		out = append(out, at)
		return err
	})
	return out, cut, err
}

// seriesRows reads the rows of the series at and calls emit for each.
func (p *parser) seriesRows(stmt int, at seriesAt, r *row, emit func(int, *row) error) error {
	r.columns, r.tags, r.rows = r.columns[:0], nil, at.rows
	for _, part := range at.parts {
		p.i = part.at
		if !part.tags {
			r.columns = r.columns[:0]
			if err := p.array(func() error {
				s, err := p.optString()
				r.columns = append(r.columns, s)
				return err
			}); err != nil {
				return err
			}
			continue
		}
		if p.null() {
			r.tags = nil
			continue
		}
		if r.tags == nil {
			r.tags = map[string]string{}
		}
		if err := p.object(func(k string) error {
			v, err := p.optString()
			r.tags[k] = v
			return err
		}); err != nil {
			return err
		}
	}
	if at.rowsFrom < 0 {
		return nil
	}
	for i := at.rowsFrom; i < at.rowsFrom+at.rows; i++ {
		from := 0
		if i > 0 {
			from = p.rowEnds[i-1]
		}
		r.cells = p.cells[from:p.rowEnds[i]]
		if err := emit(stmt, r); err != nil {
			return err
		}
	}
	return nil
}

// rowCells reads one row of a series' values (an array of cells) into p.cells.
func (p *parser) rowCells(at *seriesAt) func() error {
	return func() error {
		var prev []cell // the row before, whose strings this row's may repeat
		if n := len(p.rowEnds); n > 0 {
			from := 0
			if n > 1 {
				from = p.rowEnds[n-2]
			}
			prev = p.cells[from:p.rowEnds[n-1]]
		} else {
			prev = p.prevRow
		}
		start := len(p.cells)
		err := p.array(func() error {
			var like cell
			if n := len(p.cells) - start; n < len(prev) {
				like = prev[n]
			}
			c, err := p.cellLike(like)
			p.cells = append(p.cells, c)
			return err
		})
		p.rowEnds = append(p.rowEnds, len(p.cells))
		at.rows++
		return err
	}
}
