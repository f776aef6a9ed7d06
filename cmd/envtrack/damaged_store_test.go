package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
)

// TestServeDamagedStore: `envtrack serve` on a damaged store exits 1 with one log line
// that says what is wrong and what to do, without a panic, and leaves the file alone.
func TestServeDamagedStore(t *testing.T) {
	// A good store, written by a real start (check-config does not open it, so build it
	// with serve's own code path: app.New, then Run until stopped).
	goodDir := t.TempDir()
	goodCfg := writeStoreConfig(t, goodDir)
	a, err := app.New(app.Options{ConfigFile: goodCfg, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	runAndStop(t, a)
	good, err := os.ReadFile(filepath.Join(goodDir, "data", app.StoreFile))
	require.NoError(t, err)

	rnd := rand.New(rand.NewPCG(3, 4))
	random := bytes.Clone(good)
	for i := 2 * 4096; i < len(random); i++ {
		random[i] = byte(rnd.UintN(256))
	}
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", []byte{}, "exists but is empty"},
		{"truncated", good[:5000], "truncated"},
		{"random pages", random, "cannot be used"},
		{"wrong file", []byte("#!/bin/sh\necho hello\n"), "not a valid store file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeStoreConfig(t, dir)
			db := filepath.Join(dir, "data", app.StoreFile)
			require.NoError(t, os.MkdirAll(filepath.Dir(db), 0o700))
			require.NoError(t, os.WriteFile(db, tc.content, 0o600))

			var stdout, stderr bytes.Buffer
			code := run([]string{"serve", "--config", cfg, "--web.listen-address", "127.0.0.1:0"}, &stdout, &stderr)
			require.Equal(t, 1, code, "stderr: %s", stderr.String())
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			require.Len(t, lines, 1, "one line: %s", stderr.String())
			require.Contains(t, lines[0], tc.want)
			require.Contains(t, lines[0], "move it aside")
			require.NotContains(t, lines[0], "goroutine ", "a stack trace")
			after, err := os.ReadFile(db)
			require.NoError(t, err)
			require.True(t, bytes.Equal(tc.content, after), "the store file was changed")
		})
	}
}

func writeStoreConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: ./data\n"), 0o600))
	return cfg
}
