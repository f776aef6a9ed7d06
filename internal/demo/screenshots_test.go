package demo

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blueberry-idp/envtrack/exporter/app"
	"github.com/blueberry-idp/envtrack/internal/fakeargocd"
	"github.com/blueberry-idp/envtrack/internal/testclock"
)

var update = flag.Bool("update", false, "rewrite the README's screenshots in docs/img/ (needs Chromium)")

// The README's screenshots, produced by TestScreenshots -update.
var screenshots = []string{"landing.png", "environment.png"}

var imgDir = filepath.Join("..", "..", "docs", "img")

// TestScreenshots: the README's screenshots of the landing page and an environment page
// exist and are not blank. With -update it makes them: the demo's simulated platform
// (fixed seed, eight simulated hours, one poll a minute on a test clock) runs through an
// in-process envtrack, and headless Chromium photographs the pages.
func TestScreenshots(t *testing.T) {
	if *update {
		makeScreenshots(t)
	}
	for _, name := range screenshots {
		p := filepath.Join(imgDir, name)
		b, err := os.ReadFile(p)
		require.NoError(t, err, "%s is missing: run `go test ./internal/demo -run TestScreenshots -update` (needs Chromium) and commit it", p)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err, "%s is not a PNG", p)
		requireNotBlank(t, p, img)
	}
}

// requireNotBlank: a page photographed is mostly white, but text, tables and charts
// give it many colours and a good share of non-white pixels.
func requireNotBlank(t *testing.T, name string, img image.Image) {
	t.Helper()
	b := img.Bounds()
	require.Greater(t, b.Dx(), 400, name)
	require.Greater(t, b.Dy(), 400, name)
	colours := map[[3]uint32]bool{}
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				inked++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	require.Greater(t, len(colours), 20, "%s has too few colours: blank?", name)
	require.Greater(t, inked*100, total*2, "%s: under 2%% of its pixels carry ink: blank?", name)
}

func makeScreenshots(t *testing.T) {
	bin := ""
	for _, c := range []string{os.Getenv("CHROMIUM"), "chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(c); c != "" && err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("-update needs headless Chromium (apt-get install chromium, or set CHROMIUM)")
	}
	start := time.Date(2025, 6, 2, 6, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	argo := fakeargocd.NewServer(t, fakeargocd.WithToken("screenshot-token"))
	var sim *Sim
	urls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sim.URLHandler().ServeHTTP(w, r) }))
	t.Cleanup(urls.Close)
	sim = NewSim(SimConfig{Seed: 42, PerHour: 12, Timeout: 30 * time.Minute, URLBase: urls.URL}, clock.Now, argo)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envtrack.yml")
	// envtrack runs its own loops, polling and probing every few milliseconds of real
	// time while the test clock moves a minute at a time.
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`listen_address: "127.0.0.1:0"
state_dir: %s
argocd: {server: %s, token: screenshot-token, selector: "blueberry.io/managed=true", request_timeout: 5s, mode: poll, poll_interval: 20ms}
readiness: {provisioning_timeout: 30m, url: {interval: 50ms, timeout: 50ms}}
`, filepath.Join(dir, "data"), argo.URL())), 0o600))
	a, err := app.New(app.Options{ConfigFile: cfg, Now: clock.Now, ListenAddress: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, a.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	polls := func() float64 { // envtrack_argocd_polls_total, all results
		resp, err := http.Get("http://" + a.Addr() + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var n float64
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "envtrack_argocd_polls_total{"); ok {
				f, err := strconv.ParseFloat(v[strings.LastIndexByte(v, ' ')+1:], 64)
				require.NoError(t, err)
				n += f
			}
		}
		return n
	}
	for at := start; !at.After(start.Add(8 * time.Hour)); at = at.Add(time.Minute) {
		clock.Set(at)
		sim.Tick()
		// Two polls: the second began after the change.
		for n := polls(); polls() < n+2; {
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The environment photographed: the one with the most events that still runs.
	states := a.Tracker().States()
	sort.Slice(states, func(i, j int) bool { return states[i].ID < states[j].ID })
	best, bestN := "", 0
	for _, s := range states {
		evs, err := a.Journal().EnvironmentEvents(s.ID)
		require.NoError(t, err)
		if s.Phase == "ready" && len(evs) > bestN {
			best, bestN = s.ID, len(evs)
		}
	}
	require.NotEmpty(t, best, "a ready environment")
	base := "http://" + a.Addr() + "/"
	require.NoError(t, os.MkdirAll(imgDir, 0o755))
	shoot(t, bin, base+"?window=24h", filepath.Join(imgDir, "landing.png"), "1280,2200")
	shoot(t, bin, base+"environments/"+best, filepath.Join(imgDir, "environment.png"), "1280,1100")
}

// shoot photographs url with headless Chromium into out.
func shoot(t *testing.T, bin, url, out, size string) {
	t.Helper()
	abs, err := filepath.Abs(out)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--no-zygote", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--window-size="+size, "--screenshot="+abs, url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a hang kills its helpers too
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium --screenshot %s: %s", url, b)
}
