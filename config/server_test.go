package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerLimitsInvalid: each server limit out of bounds is an error naming file, line
// and key.
func TestServerLimitsInvalid(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"api:\n  read_timeout: 0s\n", `2: api.read_timeout: must be greater than 0`},
		{"api:\n  write_timeout: 0s\n", `2: api.write_timeout: must be greater than 0`},
		{"api:\n  idle_timeout: 0s\n", `2: api.idle_timeout: must be greater than 0`},
		{"api:\n  read_header_timeout: 0s\n", `2: api.read_header_timeout: must be greater than 0`},
		{"api:\n  read_timeout: 5s\n  read_header_timeout: 10s\n", `3: api.read_header_timeout: must not be longer than read_timeout (5s)`},
		{"api:\n  max_header_bytes: 100\n", `2: api.max_header_bytes: must be between 4096 and 1048576, got 100`},
		{"api:\n  max_connections: 0\n", `2: api.max_connections: must be between 1 and 65536, got 0`},
		{"api:\n  max_connections: 100000\n", `2: api.max_connections: must be between 1 and 65536, got 100000`},
	} {
		t.Run(tc.err, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "envtrack.yml")
			require.NoError(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			_, err := Load(file)
			require.EqualError(t, err, file+":"+tc.err)
		})
	}
}
