package app

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeCommand is one curl command of the README with the status its comment
// documents.
type readmeCommand struct {
	line   string // joined continuation lines, verbatim
	status int
}

var (
	statusRe  = regexp.MustCompile(`\b([1-5][0-9][0-9])\b`)
	shBlockRe = regexp.MustCompile("(?s)```sh\n(.*?)```")
)

// readmeCurls extracts the curl commands against localhost:9465 from the README's sh
// blocks. A command's status is the first 3-digit number of its own trailing comment,
// else of the comment lines just above it.
func readmeCurls(t *testing.T, readme string) []readmeCommand {
	var out []readmeCommand
	for _, m := range shBlockRe.FindAllStringSubmatch(readme, -1) {
		var comment string
		// Continuations: a trailing backslash, or a pipe (printf ... | curl, which only
		// runs as a whole and is no curl command of its own).
		block := strings.ReplaceAll(strings.ReplaceAll(m[1], "\\\n", " "), "|\n", "| ")
		lines := strings.Split(block, "\n")
		for _, l := range lines {
			trimmed := strings.TrimSpace(l)
			if strings.HasPrefix(trimmed, "#") {
				comment += trimmed
				continue
			}
			if strings.HasPrefix(trimmed, "curl ") && strings.Contains(trimmed, "localhost:9465") {
				code := statusRe.FindStringSubmatch(trailingComment(trimmed))
				if code == nil {
					code = statusRe.FindStringSubmatch(comment)
				}
				require.NotNil(t, code, "README: no documented status for %s", trimmed)
				n, _ := strconv.Atoi(code[1])
				out = append(out, readmeCommand{line: trimmed, status: n})
			}
			comment = ""
		}
	}
	return out
}

// trailingComment is what follows " # " outside quotes ('...' holds JSON, never #).
func trailingComment(l string) string {
	inSingle, inDouble := false, false
	for i, r := range l {
		switch {
		case r == '\'' && !inDouble:
			inSingle = !inSingle
		case r == '"' && !inSingle:
			inDouble = !inDouble
		case r == '#' && !inSingle && !inDouble && i > 0 && l[i-1] == ' ':
			return l[i:]
		}
	}
	return ""
}

// TestREADMECurlExamples runs every curl example of the README verbatim (with the
// test server's address for localhost:9465 and its token in $TOKEN) through
// /usr/bin/curl and checks the documented status and a JSON answer.
func TestREADMECurlExamples(t *testing.T) {
	curl, err := exec.LookPath("/usr/bin/curl")
	if err != nil {
		t.Skip("no /usr/bin/curl")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	cmds := readmeCurls(t, string(readme))
	require.GreaterOrEqual(t, len(cmds), 10, "the README's curl examples were not found")

	d := startDaemon(t, daemonOpts{config: "api: {write_tokens: [readme-token]}\n", enableLifecycle: true})
	// pr-102 of the examples: requested, provisioned and ready.
	for _, b := range []string{
		`{"environment_id":"pr-102","event":"created","type":"preview","timestamp":"2025-01-07T10:00:00Z"}`,
		`{"environment_id":"pr-102","event":"provisioning_started","timestamp":"2025-01-07T10:01:00Z"}`,
		`{"environment_id":"pr-102","event":"ready","timestamp":"2025-01-07T10:04:45Z"}`,
	} {
		code, _, body := d.do("POST", "/api/events", b, "Authorization", "Bearer readme-token")
		require.Equal(t, 202, code, body)
	}

	// curl prints the status after the body: a .curlrc in $HOME, so that the
	// commands stay verbatim.
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, ".curlrc"), []byte("write-out = \"\\n%{http_code}\"\nmax-time = 30\n"), 0o600))
	addr := strings.TrimPrefix(d.url, "http://")
	for _, c := range cmds {
		cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(c.line, "localhost:9465", addr))
		cmd.Env = []string{"HOME=" + home, "TOKEN=readme-token", "PATH=" + filepath.Dir(curl) + ":/bin"}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", c.line, out)
		text := strings.TrimSpace(string(out))
		i := strings.LastIndex(text, "\n")
		require.Positive(t, i, "%s: no body: %s", c.line, out)
		body := text[:i]
		status, err := strconv.Atoi(text[i+1:])
		require.NoError(t, err, "%s: %s", c.line, out)
		require.Equal(t, c.status, status, "%s: %s", c.line, body)
		var v any
		require.NoError(t, json.Unmarshal([]byte(body), &v), "%s: not JSON: %s", c.line, body)
		if status >= 400 {
			require.Contains(t, body, `"error"`, c.line)
		}
		require.NotContains(t, body, "readme-token")
	}
}
