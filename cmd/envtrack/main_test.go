package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blueberry-idp/envtrack/internal/testinfra"
	"github.com/stretchr/testify/require"
)

// buildEnvtrack builds the real binary once per test binary run.
func buildEnvtrack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "envtrack")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// TestServeExampleConfig: `envtrack serve` with config/example.yml starts, answers
// /healthz, /readyz and /metrics, and exits 0 on SIGTERM.
func TestServeExampleConfig(t *testing.T) {
	bin := buildEnvtrack(t)
	dir := t.TempDir()
	example, err := os.ReadFile("../../config/example.yml")
	require.NoError(t, err)
	cfg := filepath.Join(dir, "envtrack.yml") // state_dir ./data resolves next to it
	require.NoError(t, os.WriteFile(cfg, example, 0o600))
	// Port 0 and the address from the log: a port picked free beforehand may be another
	// test's by the time envtrack binds it.
	cmd := exec.Command(bin, "serve", "--config", cfg, "--web.listen-address", "127.0.0.1:0", "--log.format", "json")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// Wait for the "listening" log line rather than polling the port.
	logs := &bytes.Buffer{}
	sc := bufio.NewScanner(stderr)
	addr := ""
	for addr == "" && sc.Scan() {
		line := sc.Text()
		logs.WriteString(line + "\n")
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line is not JSON: %s", line)
		if m["msg"] == "listening" {
			addr, _ = m["address"].(string)
		}
	}
	require.NotEmpty(t, addr, "envtrack never listened:\n%s", logs)
	go func() { _, _ = io.Copy(logs, stderr) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, body)
	code, _ = get("/readyz")
	require.Equal(t, http.StatusOK, code)
	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "envtrack_build_info")
	code, body = get("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "envtrack")
	code, body = get("/no-such-page")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, `"error"`)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	require.NoError(t, err, "envtrack must exit 0 on SIGTERM; logs:\n%s", logs)
	require.Equal(t, 0, cmd.ProcessState.ExitCode())
}

// TestSIGHUPReload: a bad file on SIGHUP keeps the old configuration and says so in the
// metrics; a good one is taken.
func TestSIGHUPReload(t *testing.T) {
	bin := buildEnvtrack(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	good := "listen_address: 127.0.0.1:0\nstate_dir: ./data\n"
	require.NoError(t, os.WriteFile(cfg, []byte(good), 0o600))
	cmd := exec.Command(bin, "serve", "--config", cfg, "--web.listen-address", "127.0.0.1:0")
	var logs testinfra.SyncBuffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	addr := listenedOn(t, &logs)
	metric := func(name string) string {
		for {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, l := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(l, name+" ") {
						return strings.TrimPrefix(l, name+" ")
					}
				}
			}
			time.Sleep(20 * time.Millisecond) // waiting for start-up or the reload, not timing it
		}
	}
	waitFor := func(name, want string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for ctx.Err() == nil {
			if metric(name) == want {
				return
			}
		}
		t.Fatalf("%s never became %s; logs:\n%s", name, want, logs.String())
	}
	waitFor("envtrack_config_last_reload_successful", "1")

	require.NoError(t, os.WriteFile(cfg, []byte(good+"bogus_key: 1\n"), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	waitFor("envtrack_config_last_reload_successful", "0")
	require.Contains(t, logs.String(), "bogus_key")

	require.NoError(t, os.WriteFile(cfg, []byte(good), 0o600))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	waitFor("envtrack_config_last_reload_successful", "1")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

func TestCheckConfigRedacts(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`argocd:
  server: https://argocd.example.com
  token: very-secret-argo-token
api:
  write_tokens: [ci-secret-token]
`), 0o600))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"check-config", "--config", cfg}, &out, &errb), errb.String())
	require.NotContains(t, out.String(), "very-secret-argo-token")
	require.NotContains(t, out.String(), "ci-secret-token")
	require.Contains(t, out.String(), "<secret>")

	require.NoError(t, os.WriteFile(cfg, []byte("argocd:\n  sever: x\n"), 0o600))
	out.Reset()
	errb.Reset()
	require.Equal(t, 1, run([]string{"check-config", "--config", cfg}, &out, &errb))
	require.Contains(t, errb.String(), `sever`)
	require.Contains(t, errb.String(), `:2:`)
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 2, run(nil, &out, &errb))
	require.Contains(t, errb.String(), "usage: envtrack")
	require.Equal(t, 2, run([]string{"nope"}, &out, &errb))
	require.Contains(t, errb.String(), `unknown command "nope"`)
	out.Reset()
	require.Equal(t, 0, run([]string{"version"}, &out, &errb))
	require.Contains(t, out.String(), "envtrack")
}

// listenedOn waits for envtrack's "listening" log line (logfmt) and returns its address.
func listenedOn(t *testing.T, logs *testinfra.SyncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`msg=listening address=(\S+)`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	for ctx.Err() == nil {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond) // waiting for start-up, not timing it
	}
	t.Fatalf("envtrack never said it listens; logs:\n%s", logs.String())
	return ""
}
