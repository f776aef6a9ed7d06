package fakeargocd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// NewServer returns a started Server (HTTP on 127.0.0.1) that t closes at cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// ReferenceListPath is where the reference answer lives: shared/reference/argocd/
// applications-list.json next to the module root (the directory holding go.mod, found by
// walking up from the working directory).
func ReferenceListPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "argocd", "applications-list.json"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("fakeargocd: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ReferenceList returns the reference answer. When it is absent the test is skipped with
// a clear message, except with CI=true, where a missing reference fails the test.
func ReferenceList(t testing.TB) []byte {
	t.Helper()
	path, err := ReferenceListPath()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("reference Argo CD answer is required in CI: %v", err)
		}
		t.Skipf("reference Argo CD answer not available (%v); it lives in ../shared next to the repository", err)
	}
	return b
}
