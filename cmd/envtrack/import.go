package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/blueberry-idp/envtrack/client"
	"github.com/blueberry-idp/envtrack/config"
	"github.com/blueberry-idp/envtrack/model/apitypes"
	"github.com/blueberry-idp/envtrack/model/event"
)

// importRecord is one event of a history file, as the JSON object the batch push takes.
type importRecord struct {
	line int
	at   time.Time
	json []byte
}

// rejectedLine is a line that was not imported, and why.
type rejectedLine struct {
	line   int
	reason string
}

// csvColumns are the columns a CSV history may have; the first three are required.
var csvColumns = []string{"environment_id", "event", "timestamp", "environment_name", "type", "repository",
	"branch", "commit_sha", "reason", "metadata"}

// importHistory is `envtrack import FILE|-`: past lifecycle events and deployment markers
// (NDJSON, or CSV with a header for lifecycle events) loaded through the batch push as
// history (backfill=true: InfluxDB, timelines and insights get them, the live
// Prometheus counters do not). Each event is
// validated here by the server's own validation first; the batches then go in time
// order. Re-running the same import changes nothing (every event answers unchanged).
func importHistory(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", stderr)
	cf := addClientFlags(fs)
	dryRun := fs.Bool("dry-run", false, "validate the file and print what would be imported; send nothing")
	batch := fs.Int("batch-size", config.DefaultAPIConfig.MaxBatch, "events per request (at most the server's api.max_batch)")
	format := fs.String("format", "auto", "auto, ndjson or csv")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: envtrack import [flags] FILE|-\n\n"+
			"NDJSON (one lifecycle event or deployment marker object a line, as POST /api/events takes) or CSV with a header:\n"+
			"%s (the first three required).\n\nflags:\n", strings.Join(csvColumns, ","))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *batch < 1 {
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	var in io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fail(stderr, "import", err)
		}
		defer f.Close()
		in = f
	} else {
		name = "standard input"
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fail(stderr, "import", err)
	}
	recs, rejected, err := parseHistory(data, *format, time.Now())
	if err != nil {
		return fail(stderr, "import", fmt.Errorf("%s: %w", name, err))
	}
	sum := importSummary{rejected: rejected}
	if *dryRun {
		sum.print(stdout, name, len(recs), true)
		return sum.exitCode()
	}
	c, err := cf.client()
	if err != nil {
		return fail(stderr, "import", err)
	}
	bar := newProgress(stderr, len(recs))
	ctx := context.Background()
	for len(recs) > 0 {
		n := min(*batch, len(recs))
		done, err := sum.send(ctx, c, recs[:n], *cf.timeout)
		var tl *client.TooLarge
		if errors.As(err, &tl) && n > 1 {
			*batch = max(1, n/2) // the server's limits are lower: smaller batches
			continue
		}
		if err != nil {
			bar.finish()
			sum.print(stdout, name, sum.accepted+sum.unchanged, false)
			return fail(stderr, "import", err)
		}
		recs = recs[done:]
		bar.add(done)
	}
	bar.finish()
	sum.print(stdout, name, sum.accepted+sum.unchanged, false)
	return sum.exitCode()
}

type importSummary struct {
	accepted, unchanged int
	rejected            []rejectedLine
}

// send posts recs as one batch. An event the server refuses is set aside as rejected and
// the rest sent again (the server stored nothing). It returns how many records it dealt
// with.
func (s *importSummary) send(ctx context.Context, c *client.Client, recs []importRecord, timeout time.Duration) (int, error) {
	todo := append([]importRecord(nil), recs...)
	for len(todo) > 0 {
		var body bytes.Buffer
		for _, r := range todo {
			body.Write(r.json)
			body.WriteByte('\n')
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		acc, err := c.PushBatch(rctx, body.Bytes())
		cancel()
		var br *client.BatchRefused
		if errors.As(err, &br) && br.Index >= 0 && br.Index < len(todo) {
			bad := todo[br.Index]
			msg := br.Error()
			if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "event ") {
				msg = msg[i+2:]
			}
			s.rejected = append(s.rejected, rejectedLine{bad.line, msg})
			todo = append(todo[:br.Index], todo[br.Index+1:]...)
			continue
		}
		if err != nil {
			return 0, err
		}
		s.accepted += acc.Accepted
		s.unchanged += acc.Unchanged
		break
	}
	return len(recs), nil
}

func (s *importSummary) print(w io.Writer, name string, events int, dry bool) {
	sort.Slice(s.rejected, func(i, j int) bool { return s.rejected[i].line < s.rejected[j].line })
	if dry {
		fmt.Fprintf(w, "%s: %d events would be imported, %d lines rejected (dry run: nothing sent)\n", name, events, len(s.rejected))
	} else {
		fmt.Fprintf(w, "%s: %d events imported: %d accepted, %d unchanged; %d lines rejected\n",
			name, events, s.accepted, s.unchanged, len(s.rejected))
	}
	for _, r := range s.rejected {
		fmt.Fprintf(w, "  line %d: %s\n", r.line, apitypes.Printable(r.reason)) // may quote the file
	}
}

func (s *importSummary) exitCode() int {
	if len(s.rejected) > 0 {
		return 1
	}
	return 0
}

// parseHistory reads NDJSON or CSV into records sorted by time (stable: the file's order
// for equal times), each validated with the server's validation; the lines that fail are
// returned as rejected. An unreadable file (a bad CSV header) is an error.
func parseHistory(data []byte, format string, now time.Time) ([]importRecord, []rejectedLine, error) {
	if format == "auto" {
		format = "csv"
		if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			format = "ndjson"
		}
	}
	var (
		objs []map[string]any
		refs []int // line of each object
		rej  []rejectedLine
		err  error
	)
	switch format {
	case "ndjson":
		objs, refs, rej = parseNDJSON(data)
	case "csv":
		objs, refs, rej, err = parseCSV(data)
		if err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("--format %q: want auto, ndjson or csv", format)
	}
	var recs []importRecord
	for i, o := range objs {
		line := refs[i]
		ts, _ := o["timestamp"].(string)
		if ts == "" {
			rej = append(rej, rejectedLine{line, `missing field "timestamp": history needs the time of each event`})
			continue
		}
		if _, marker := o[event.MetaKind]; marker {
			o["backfill"] = true // a past deployment: history, as the lifecycle events
		} else {
			meta, _ := o["metadata"].(map[string]any)
			if meta == nil {
				if _, set := o["metadata"]; set && o["metadata"] != nil {
					rej = append(rej, rejectedLine{line, `field "metadata": want an object`})
					continue
				}
				meta = map[string]any{}
			}
			meta[event.MetaBackfill] = true
			o["metadata"] = meta
		}
		b, err := json.Marshal(o)
		if err != nil {
			rej = append(rej, rejectedLine{line, err.Error()})
			continue
		}
		if _, _, err := apitypes.DecodeEvent(b, now); err != nil {
			rej = append(rej, rejectedLine{line, err.Error()})
			continue
		}
		at, _ := time.Parse(time.RFC3339, ts) // DecodeEvent accepted it
		recs = append(recs, importRecord{line: line, at: at, json: b})
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
	return recs, rej, nil
}

func parseNDJSON(data []byte) ([]map[string]any, []int, []rejectedLine) {
	var (
		objs []map[string]any
		refs []int
		rej  []rejectedLine
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		l := bytes.TrimSpace(sc.Bytes())
		if n == 1 {
			l = bytes.TrimPrefix(l, []byte("\ufeff"))
		}
		if len(l) == 0 {
			continue
		}
		var o map[string]any
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil || o == nil || dec.More() {
			rej = append(rej, rejectedLine{n, "not one JSON object"})
			continue
		}
		objs = append(objs, o)
		refs = append(refs, n)
	}
	if err := sc.Err(); err != nil {
		rej = append(rej, rejectedLine{len(refs) + len(rej) + 1, err.Error()})
	}
	return objs, refs, rej
}

func parseCSV(data []byte) ([]map[string]any, []int, []rejectedLine, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("line 1: a CSV header is required (%s): %w", strings.Join(csvColumns, ","), err)
	}
	known := map[string]bool{}
	for _, c := range csvColumns {
		known[c] = true
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !known[h] {
			return nil, nil, nil, fmt.Errorf("line 1: unknown column %q (columns: %s)", h, strings.Join(csvColumns, ", "))
		}
		col[h] = i
	}
	for _, req := range csvColumns[:3] {
		if _, ok := col[req]; !ok {
			return nil, nil, nil, fmt.Errorf("line 1: missing column %q", req)
		}
	}
	var (
		objs []map[string]any
		refs []int
		rej  []rejectedLine
	)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			rej = append(rej, rejectedLine{line, err.Error()})
			if line == 0 {
				break // not a parse error: nothing more to read
			}
			continue
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(header) {
			rej = append(rej, rejectedLine{line, fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))})
			continue
		}
		o := map[string]any{}
		meta := map[string]any{}
		bad := ""
		for name, i := range col {
			v := strings.TrimSpace(rec[i])
			switch {
			case v == "":
			case name == "reason":
				meta[event.MetaReason] = v
			case name == "metadata":
				var m map[string]any
				if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
					bad = `column "metadata": want a JSON object`
				}
				for k, mv := range m {
					meta[k] = mv
				}
			default:
				o[name] = v
			}
		}
		if bad != "" {
			rej = append(rej, rejectedLine{line, bad})
			continue
		}
		if len(meta) > 0 {
			o["metadata"] = meta
		}
		objs = append(objs, o)
		refs = append(refs, line)
	}
	return objs, refs, rej, nil
}

// progress draws a bar on a terminal (nothing otherwise: CI logs stay clean).
type progress struct {
	w           io.Writer
	total, done int
	on          bool
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	on := false
	if ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	p := &progress{w: w, total: total, on: on && total > 0}
	p.draw()
	return p
}

func (p *progress) add(n int) { p.done += n; p.draw() }

func (p *progress) draw() {
	if !p.on {
		return
	}
	const width = 40
	filled := width * p.done / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d events", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.done, p.total)
}

func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
		p.on = false
	}
}
