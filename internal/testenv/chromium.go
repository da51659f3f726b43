package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// chromiumFlags make headless Chromium quiet and self-contained: no sandbox
// (tests run as root in containers), no GPU, no background traffic to the
// internet, a fresh profile each run.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"}

func chromium(t testing.TB, args ...string) []byte {
	t.Helper()
	bin := RequireTool(t, "chromium", "chromium", "chromium-browser", "google-chrome")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // generous: a loaded 2-core machine
	defer cancel()
	all := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir())
	cmd := exec.CommandContext(ctx, bin, append(all, args...)...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stderr = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// ChromiumDOM loads url in headless Chromium and returns the DOM after the
// page rendered (--dump-dom). Missing Chromium skips (fails under CI=true).
func ChromiumDOM(t testing.TB, url string) string {
	t.Helper()
	return string(chromium(t, "--dump-dom", url))
}

// ChromiumScreenshot renders url at width x height into a PNG and returns
// its path: under $FECDEPLOY_ARTIFACTS/<name> when that is set (kept for a
// reviewer), else in the test's temp dir.
func ChromiumScreenshot(t testing.TB, url, name string, width, height int) string {
	t.Helper()
	dir := os.Getenv("FECDEPLOY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	chromium(t, "--screenshot="+p, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--hide-scrollbars", url)
	if st, err := os.Stat(p); err != nil || st.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot %s: %v", p, err)
	}
	return p
}
