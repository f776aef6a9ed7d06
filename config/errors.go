package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem at a place in a configuration file. Its message is
//
//	<file>:<line>: <dotted.key>: <problem>
//
// where the line is omitted when unknown (0) and the key when not
// applicable. Keys are dotted paths with list indexes, e.g.
// "environments[2].id".
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	Err  error // the underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// nodeError is what the UnmarshalYAML methods return for a field check: they
// know the node (hence the line) but not their own dotted path, which Load
// finds in the document tree.
type nodeError struct {
	node *yaml.Node // the node concerned; a mapping when key is set
	key  string     // a key of node, "" for node itself
	line int        // if > 0, the line to report instead
	err  error
}

func (e *nodeError) Error() string {
	if e.key != "" {
		return e.key + ": " + e.err.Error()
	}
	return e.err.Error()
}

func (e *nodeError) Unwrap() error { return e.err }

// nodeErrorf reports a problem with node (key == "") or with node's key.
// format may use %w.
func nodeErrorf(node *yaml.Node, key, format string, args ...any) error {
	return &nodeError{node: node, key: key, err: fmt.Errorf(format, args...)}
}

// index maps the nodes of a parsed document to their dotted paths and lines.
type index struct {
	info   map[*yaml.Node]nodeInfo
	byPath map[string]int // dotted path -> line
	order  []*yaml.Node   // value nodes in document order
	keys   []keyRef       // mapping keys in document order
}

type nodeInfo struct {
	path      string
	line, col int // of the node's key when it has one, else of the node
}

type keyRef struct {
	key    *yaml.Node
	parent string // dotted path of the mapping holding key
}

func newIndex(root *yaml.Node) *index {
	idx := &index{info: map[*yaml.Node]nodeInfo{}, byPath: map[string]int{}}
	if root != nil {
		idx.walk(root, "", root.Line, root.Column, 0)
	}
	return idx
}

func (idx *index) walk(n *yaml.Node, path string, line, col, depth int) {
	if n == nil || depth > 10000 {
		return
	}
	if _, seen := idx.info[n]; seen {
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			idx.walk(c, path, c.Line, c.Column, depth+1)
		}
		return
	}
	idx.info[n] = nodeInfo{path: path, line: line, col: col}
	if _, ok := idx.byPath[path]; !ok {
		idx.byPath[path] = line
	}
	idx.order = append(idx.order, n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			idx.keys = append(idx.keys, keyRef{key: k, parent: path})
			idx.walk(v, joinPath(path, k.Value), k.Line, k.Column, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			idx.walk(c, path+"["+strconv.Itoa(i)+"]", c.Line, c.Column, depth+1)
		}
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	if key == "" {
		return parent
	}
	return parent + "." + key
}

// lineOf returns the line of the dotted path, or of its nearest ancestor that
// is present in the file; 0 if none is.
func (idx *index) lineOf(path string) int {
	for {
		if l, ok := idx.byPath[path]; ok && path != "" {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// pathAt returns the dotted path of the innermost node whose key (or itself,
// for list items) starts on line at or before col.
func (idx *index) pathAt(line, col int) string {
	best, bestCol := "", -1
	for _, n := range idx.order {
		in := idx.info[n]
		if in.line != line || in.col > col || in.path == "" {
			continue
		}
		if in.col > bestCol || (in.col == bestCol && len(in.path) > len(best)) {
			best, bestCol = in.path, in.col
		}
	}
	return best
}

// resolve turns an error from the decoder into *Error (or a join of them).
func (idx *index) resolve(file string, err error) error {
	var ne *nodeError
	if errors.As(err, &ne) {
		e := &Error{File: file, Msg: ne.err.Error(), Err: errors.Unwrap(ne.err)}
		in, ok := idx.info[ne.node]
		if ok {
			e.Key, e.Line = in.path, in.line
		} else if ne.node != nil {
			e.Line = ne.node.Line
		}
		if ne.key != "" {
			e.Key = joinPath(e.Key, ne.key)
			if k := mappingKey(ne.node, ne.key); k != nil {
				e.Line = k.Line
			} else if l, ok := idx.byPath[e.Key]; ok {
				e.Line = l // a list item: "tags[1]"
			}
		}
		if ne.line > 0 {
			e.Line = ne.line
		}
		return e
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		used := map[*yaml.Node]bool{}
		msgs := te.Errors
		if len(msgs) > maxReportedErrors {
			msgs = msgs[:maxReportedErrors]
		}
		errs := make([]error, 0, len(msgs)+1)
		for _, msg := range msgs {
			errs = append(errs, idx.rewriteTypeError(file, msg, te, used))
		}
		if n := len(te.Errors) - len(msgs); n > 0 {
			errs = append(errs, &Error{File: file, Msg: fmt.Sprintf("and %d more errors", n), Err: te})
		}
		if len(errs) == 1 {
			return errs[0]
		}
		return errors.Join(errs...)
	}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2], Err: err}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
}

// maxReportedErrors bounds the errors reported at once (aliases can
// multiply them).
const maxReportedErrors = 20

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownFieldRE  = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
	cannotDecodeRE  = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!?\\S+)(?: `(.*)`)? into (.+)$")
	duplicateKeyRE  = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
	lineMsgRE       = regexp.MustCompile(`^line (\d+): (.*)$`)
	secretishPathRE = regexp.MustCompile(`(?i)token|secret|password`)
)

func (idx *index) rewriteTypeError(file, msg string, te *yaml.TypeError, used map[*yaml.Node]bool) error {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		e := &Error{File: file, Line: line, Msg: fmt.Sprintf("unknown key %q", m[2]), Err: te}
		if k := idx.findKey(line, m[2], used); k != nil && k.parent != "" {
			e.Msg += " in " + k.parent
		}
		return e
	}
	if m := duplicateKeyRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		e := &Error{File: file, Line: line, Msg: fmt.Sprintf("duplicate key %q (first at line %s)", m[2], m[3]), Err: te}
		if k := idx.findKey(line, m[2], used); k != nil {
			e.Key = joinPath(k.parent, m[2])
			e.Msg = "duplicate key (first at line " + m[3] + ")"
		}
		return e
	}
	if m := cannotDecodeRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		tag, goType := m[2], m[4]
		e := &Error{File: file, Line: line, Msg: "cannot decode " + tag + " into " + goType, Err: te}
		for _, n := range idx.order {
			if used[n] || n.Line != line || n.ShortTag() != tag && n.Tag != tag {
				continue
			}
			used[n] = true
			path := idx.info[n].path
			e.Key = path
			got := describeNode(n)
			if n.Kind == yaml.ScalarNode && (secretishPathRE.MatchString(path) || strings.Contains(goType, "Secret")) {
				got = "a scalar"
			}
			e.Msg = "must be " + describeGoType(goType) + ", got " + got
			break
		}
		return e
	}
	if m := lineMsgRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2], Err: te}
	}
	return &Error{File: file, Msg: msg, Err: te}
}

func (idx *index) findKey(line int, name string, used map[*yaml.Node]bool) *keyRef {
	for i := range idx.keys {
		k := &idx.keys[i]
		if k.key.Line == line && k.key.Value == name && !used[k.key] {
			used[k.key] = true
			return k
		}
	}
	return nil
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

func describeGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	}
	switch t {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean (true or false)"
	case "string", "config.Secret":
		return "a string"
	}
	if strings.HasPrefix(t, "config.") {
		return "a mapping"
	}
	return "of type " + t
}

// mappingKey returns the key node named key in mapping n, or nil.
func mappingKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// mappingValue returns the value node of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}
