package client_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testenv/faultproxy"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// variants runs a test with busybox wget and with curl on the PATH.
func variants(t *testing.T, run func(t *testing.T, sh *clienttest.Shell)) {
	for _, v := range []string{"wget", "curl"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			var extra []string
			if v == "curl" {
				extra = []string{"curl"}
			}
			run(t, clienttest.NewShell(t, extra...))
		})
	}
}

// bigSoftware adds software A (a 300 KiB gzip archive that does not
// compress) and returns the storage served by nginx.
func bigSoftware(t *testing.T) (*clienttest.Storage, *testenv.Nginx, int64) {
	st := clienttest.NewStorage(t)
	var b strings.Builder
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "%x", (i*2654435761)^(i<<7))
	}
	e := st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": b.String()}))
	st.WriteIndex(t, "fec01", nil)
	return st, testenv.StartNginx(t, st.Dir, testenv.NginxOptions{}), e.Size
}

// A transfer that breaks after the status line (curl 18/28/56 with status
// 200) is retried, and an archive resumes where it broke.
func TestBrokenTransfersAreRetried(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, size := bigSoftware(t)
		fs := faultproxy.Start(t, ng.URL,
			&faultproxy.Rule{Suffix: "/INDEX", Times: 1, Kind: faultproxy.Cut, After: 10},
			&faultproxy.Rule{Suffix: ".tar.gz", Times: 1, Kind: faultproxy.Cut, After: size / 2})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1"))
		require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "attempt 1 failed")
		assert.NotContains(t, r.Stderr, "HTTP 200")
		assert.FileExists(t, filepath.Join(root, "opt/a/f"))
		var resumed bool
		for _, r := range fs.Requests() {
			resumed = resumed || strings.HasSuffix(r.Path, ".tar.gz") && r.Range == fmt.Sprintf("bytes=%d-", size/2)
		}
		assert.True(t, resumed, "the archive download resumes at byte %d with a Range request: %v", size/2, fs.Requests())
	})
}

// A stall is cut by idle_timeout (curl; busybox wget has no idle timeout)
// and retried.
func TestStalledTransferIsRetried(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "curl")
	_, ng, _ := bigSoftware(t)
	fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: ".tar.gz", Times: 1, Kind: faultproxy.Stall})
	root := t.TempDir()
	r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_IDLE_TIMEOUT=2s"))
	require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "curl: (28)")
	assert.FileExists(t, filepath.Join(root, "opt/a/f"))
}

// With busybox wget only, and no timeout applet on the image, a transfer
// that stalls forever is still cut at the deadline: fec-boot.sh bounds each
// wget itself. Its watchdog holds none of the download's pipes (busybox
// timeout's did, which made every download wait up to a second longer).
func TestStalledWgetStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	sh.Without(t, "timeout")
	_, ng, _ := bigSoftware(t)
	fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: ".tar.gz", Kind: faultproxy.Stall, After: 1000})
	root := t.TempDir()
	done := make(chan clienttest.Result, 1)
	go func() {
		done <- sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=1", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=4s"))
	}()
	select {
	case r := <-done:
		assert.Equal(t, 5, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "software A: GET ")
		assert.Contains(t, r.Stderr, "stopped at the deadline")
		onlyState(t, root)
	case <-time.After(90 * time.Second):
		t.Fatal("fec-boot.sh still waits on a stalled download 90 s into a 4 s deadline")
	}
}

// Downloads stop at their cap: the INDEX at 4 MiB, an archive at its size
// + 1; nothing bigger is written, and it is not retried.
func TestDownloadsStopAtTheirCap(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, _ := bigSoftware(t)
		for _, c := range []struct{ suffix, want string }{
			{"/INDEX", "larger than 4 MiB"},
			{".tar.gz", "longer than the"},
		} {
			fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: c.suffix, Kind: faultproxy.Endless})
			root := t.TempDir()
			r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=3", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=60s"))
			assert.Equal(t, 4, r.Code, "%s: %s%s", c.suffix, r.Stdout, r.Stderr)
			assert.Contains(t, r.Stderr, c.want)
			assert.NotContains(t, r.Stderr, "attempt 1 failed", "an oversized body is not retried")
			assert.Less(t, fs.Sent(), int64(24<<20), "%s: the client stopped reading near the cap", c.suffix)
			onlyState(t, root)
		}
	})
}

// A resumed download is capped too: busybox wget -c writes the file
// itself, a watcher stops it past the archive's size.
func TestResumedDownloadStopsAtTheCap(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, size := bigSoftware(t)
		fs := faultproxy.Start(t, ng.URL,
			&faultproxy.Rule{Suffix: ".tar.gz", Times: 1, Kind: faultproxy.Cut, After: size / 2},
			&faultproxy.Rule{Suffix: ".tar.gz", Kind: faultproxy.Endless})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=3", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=60s"))
		assert.Equal(t, 4, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "longer than the")
		// wget's watcher polls every 100 ms (longer on a loaded machine):
		// stopped, not endless until the deadline.
		assert.Less(t, fs.Sent(), int64(512<<20), "the client stopped reading")
		onlyState(t, root)
	})
}

// A FEC that boots before the web server keeps asking for its INDEX until
// the deadline (each round a full set of retries), as the Go client does.
func TestUnreachableIndexRetriedUntilDeadline(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, _ := bigSoftware(t)
		fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: "/INDEX", Times: 3, Kind: faultproxy.Status, Status: 502})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=0", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=60s"))
		require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "trying again until the deadline")
		assert.FileExists(t, filepath.Join(root, "opt/a/f"))
	})
}

// Retry-After (seconds) of a 503 is honoured, capped by retry_after_cap.
// (curl only: busybox wget stops at the status line of an error and never
// shows its headers.)
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "curl")
	func() {
		_, ng, _ := bigSoftware(t)
		fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: ".tar.gz", Times: 1, Kind: faultproxy.Status, Status: 503,
			Header: map[string]string{"Retry-After": "3"}})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1"))
		require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
		// Retry-After plus a random extra of up to half of it.
		m := regexp.MustCompile(`retrying in (\d+)ms`).FindStringSubmatch(r.Stderr)
		require.NotNil(t, m, r.Stderr)
		w, _ := strconv.Atoi(m[1])
		assert.True(t, w >= 3000 && w <= 4500, "waited %d ms for Retry-After 3", w)
		var times []time.Time
		for _, r := range fs.Requests() {
			if strings.HasSuffix(r.Path, ".tar.gz") {
				times = append(times, r.Time)
			}
		}
		require.Len(t, times, 2)
		assert.GreaterOrEqual(t, times[1].Sub(times[0]), 2900*time.Millisecond, "waited for Retry-After")
	}()
}

// Credentials never appear in messages or the status file, whatever quotes
// the URL; busybox wget, which sends them on to a redirect's host, is not
// given them.
func TestCredentialsNeverPrinted(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "a"}))
	st.WriteIndex(t, "fec01", nil)
	st.WriteRaw(t, "fecs/fec02/INDEX", []byte("fecdeploy-index 1 fec=fec01 arch=x86_64\n"))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	cred := func(u string) string {
		return strings.Replace(u, "http://", "http://user:s3cret@", 1) + "/?token=t0ken"
	}
	clean := func(t *testing.T, r clienttest.Result, root string) {
		for _, out := range []string{r.Stdout, r.Stderr, testkit.ReadFile(t, filepath.Join(root, "var/lib/fecdeploy/status.json"))} {
			assert.NotContains(t, out, "s3cret")
			assert.NotContains(t, out, "t0ken")
		}
	}
	t.Run("other-fec", func(t *testing.T) {
		t.Parallel()
		sh := clienttest.NewShell(t, "curl")
		root := t.TempDir()
		r := sh.Run(t, append(env(cred(ng.URL), root), "FECDEPLOY_FEC=fec02"))
		require.Equal(t, 4, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "is for FEC fec01, not fec02")
		clean(t, r, root)
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		sh := clienttest.NewShell(t, "curl")
		root := t.TempDir()
		r := sh.Run(t, env(cred("http://127.0.0.1:1"), root, "FECDEPLOY_DEADLINE=2s"))
		require.Equal(t, 3, r.Code, r.Stderr)
		clean(t, r, root)
	})
	t.Run("wget-refuses-user-password", func(t *testing.T) {
		t.Parallel()
		other := faultproxy.Start(t, ng.URL)
		fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: "/INDEX", Kind: faultproxy.Redirect, To: other.URL + "/fecs/fec01/INDEX"})
		sh := clienttest.NewShell(t)
		root := t.TempDir()
		r := sh.Run(t, env(strings.Replace(fs.URL, "http://", "http://user:s3cret@", 1), root))
		require.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "add curl")
		for _, r := range append(fs.Requests(), other.Requests()...) {
			assert.NotContains(t, r.Authorization, "Basic", "no credentials sent")
		}
		assert.NotContains(t, r.Stderr, "s3cret")
	})
	t.Run("curl-cross-host-redirect", func(t *testing.T) {
		t.Parallel()
		other := faultproxy.Start(t, ng.URL)
		fs := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Suffix: "/INDEX", Kind: faultproxy.Redirect, To: other.URL + "/fecs/fec01/INDEX"})
		sh := clienttest.NewShell(t, "curl")
		root := t.TempDir()
		_ = sh.Run(t, env(strings.Replace(fs.URL, "http://", "http://user:s3cret@", 1), root))
		for _, r := range other.Requests() {
			assert.NotContains(t, r.Authorization, "Basic", "credentials sent to the redirect's host")
		}
		require.NotEmpty(t, other.Requests(), "the redirect was followed")
	})
}

// status.json stays valid JSON (and UTF-8) whatever bytes an error quotes;
// an INDEX with a byte that is not ASCII is refused.
func TestIndexBytesAndStatusJSON(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	sum := strings.Repeat("0", 64)
	st.WriteRaw(t, "fecs/ctl/INDEX", []byte("fecdeploy-index 1 fec=ctl arch=x86_64\nsoftware A\x01\"\\x\xff "+sum+" 1 a format=gzip\n"))
	st.WriteRaw(t, "fecs/latin/INDEX", []byte("fecdeploy-index 1 fec=latin arch=x86_64\n# caf\xc3\xa9\n"))
	st.WriteRaw(t, "fecs/high/INDEX", []byte("fecdeploy-index 1 fec=high arch=x86_64 note=\xff\xfe\n"))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	for fec, line := range map[string]string{"ctl": "line 2", "latin": "line 2", "high": "line 1"} {
		t.Run(fec, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+fec))
			require.Equal(t, 4, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, "not ASCII")
			b, err := os.ReadFile(filepath.Join(root, "var/lib/fecdeploy/status.json"))
			require.NoError(t, err)
			assert.True(t, utf8.Valid(b), "status.json is UTF-8: %q", b)
			var v map[string]any
			require.NoError(t, json.Unmarshal(b, &v), "status.json is JSON: %s", b)
			assert.Contains(t, v["error"], line)
		})
	}
}
