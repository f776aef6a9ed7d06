package envtrack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchRunsWhatItNames holds `make bench` to the benchmarks it names: a renamed
// benchmark would otherwise leave its line running nothing (go test matches no
// benchmark without a word) and the generic line, which skips it by name, running it
// again under Go's default benchtime.
func TestBenchRunsWhatItNames(t *testing.T) {
	recipe := makeRecipe(t, "bench")
	flag := regexp.MustCompile(`-(bench|skip) '([^']*)'`)
	named := 0
	for _, line := range recipe {
		fields := strings.Fields(line)
		pkg := fields[len(fields)-1]
		matches := flag.FindAllStringSubmatch(line, -1)
		if len(matches) == 0 {
			continue
		}
		names, literals := benchmarks(t, pkg) // once per line, not per flag
		for _, m := range matches {
			pattern := strings.ReplaceAll(m[2], "$$", "$")
			if pattern == "." {
				continue
			}
			_, err := regexp.Compile(strings.ReplaceAll(pattern, "/", ""))
			if err != nil {
				t.Fatalf("make bench: %s %q: %v", m[1], pattern, err)
			}
			top, sub, _ := strings.Cut(pattern, "/")
			for _, alt := range strings.Split(strings.Trim(top, "^$()"), "|") {
				alt = strings.Trim(alt, "^$()")
				if !names[alt] {
					t.Errorf("make bench: -%s names %s, which %s does not declare", m[1], alt, pkg)
				}
				named++
			}
			if sub != "" {
				if s := strings.Trim(sub, "^$"); !literals[strconv.Quote(s)] {
					t.Errorf("make bench: -%s names the sub-benchmark %s, which %s does not run", m[1], s, pkg)
				}
			}
		}
	}
	if named == 0 {
		t.Fatal("make bench names no benchmark: the recipe was not found as expected")
	}
}

// makeRecipe is the recipe lines of target in the Makefile, variables unexpanded.
func makeRecipe(t *testing.T, target string) []string {
	t.Helper()
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, target+":"):
			in = true
		case in && strings.HasPrefix(l, "\t"):
			out = append(out, strings.TrimSpace(l))
		case in:
			return out
		}
	}
	return out
}

// benchmarks is the Benchmark functions that pkg's test files declare ("./..." means
// every package) and the string literals they hold (sub-benchmark names).
func benchmarks(t *testing.T, pkg string) (names, literals map[string]bool) {
	t.Helper()
	names, literals = map[string]bool{}, map[string]bool{}
	root := strings.TrimSuffix(strings.TrimSuffix(pkg, "..."), "/")
	recursive := strings.HasSuffix(pkg, "...")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (!recursive || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil && strings.HasPrefix(n.Name.Name, "Benchmark") {
					names[n.Name.Name] = true
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					literals[n.Value] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	return names, literals
}
