package client_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fault is what the faulty server does to a request whose path ends in
// suffix, for the first times such requests (0: all of them).
type fault struct {
	suffix string
	times  int32
	kind   string // reset, stall, endless, status, redirect
	after  int    // reset, stall: body bytes sent before the fault
	status int
	header map[string]string
	to     string // redirect: the Location
	n      atomic.Int32
}

// faulty is a small HTTP server in front of nginx that misbehaves on
// request: it cuts a response after its status line (reset), stops sending
// (stall), sends an endless body, answers a status of its own or redirects.
// Other requests go to nginx unchanged (Range and If-Range included).
type faulty struct {
	URL      string
	upstream string
	faults   []*fault
	mu       sync.Mutex
	log      []string // "<time> <path> <Range>"
	sent     atomic.Int64
}

func startFaulty(t *testing.T, upstream string, faults ...*fault) *faulty {
	f := &faulty{upstream: upstream, faults: faults}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *faulty) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *faulty) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf("%d %s %s|%s|%s", time.Now().UnixMilli(), r.URL.Path, r.Header.Get("Range"), r.Header.Get("If-Range"), r.Header.Get("Authorization")))
	f.mu.Unlock()
	for _, ft := range f.faults {
		if !strings.HasSuffix(r.URL.Path, ft.suffix) {
			continue
		}
		if ft.times > 0 && ft.n.Add(1) > ft.times {
			continue
		}
		switch ft.kind {
		case "status":
			for k, v := range ft.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(ft.status)
			return
		case "redirect":
			http.Redirect(w, r, ft.to, http.StatusFound)
			return
		case "endless":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(200)
			buf := make([]byte, 64<<10)
			for i := range buf {
				buf[i] = 'x'
			}
			for {
				n, err := w.Write(buf)
				f.sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		case "reset", "stall":
			resp, body := f.upstreamGet(r)
			if resp.StatusCode != 200 {
				break
			}
			conn, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: %s\r\nLast-Modified: %s\r\nConnection: close\r\n\r\n",
				len(body), resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
			bw.Write(body[:ft.after])
			bw.Flush()
			if ft.kind == "stall" {
				time.Sleep(90 * time.Second)
			}
			conn.Close()
			return
		}
	}
	f.proxy(w, r)
}

func (f *faulty) upstreamGet(r *http.Request) (*http.Response, []byte) {
	resp, err := http.Get(f.upstream + r.URL.Path)
	if err != nil {
		return &http.Response{StatusCode: 502}, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *faulty) proxy(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequest(r.Method, f.upstream+r.URL.RequestURI(), nil)
	for _, h := range []string{"Range", "If-Range"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		w.WriteHeader(502)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

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
		fs := startFaulty(t, ng.URL,
			&fault{suffix: "/INDEX", times: 1, kind: "reset", after: 10},
			&fault{suffix: ".tar.gz", times: 1, kind: "reset", after: int(size / 2)})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1"))
		require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "attempt 1 failed")
		assert.NotContains(t, r.Stderr, "HTTP 200")
		assert.FileExists(t, filepath.Join(root, "opt/a/f"))
		var resumed bool
		for _, l := range fs.requests() {
			resumed = resumed || strings.Contains(l, ".tar.gz bytes="+fmt.Sprint(size/2)+"-|")
		}
		assert.True(t, resumed, "the archive download resumes at byte %d with a Range request: %v", size/2, fs.requests())
	})
}

// A stall is cut by idle_timeout (curl; busybox wget has no idle timeout)
// and retried.
func TestStalledTransferIsRetried(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "curl")
	_, ng, _ := bigSoftware(t)
	fs := startFaulty(t, ng.URL, &fault{suffix: ".tar.gz", times: 1, kind: "stall", after: 0})
	root := t.TempDir()
	r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_IDLE_TIMEOUT=2s"))
	require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "curl: (28)")
	assert.FileExists(t, filepath.Join(root, "opt/a/f"))
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
			fs := startFaulty(t, ng.URL, &fault{suffix: c.suffix, kind: "endless"})
			root := t.TempDir()
			r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=3", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=60s"))
			assert.Equal(t, 4, r.Code, "%s: %s%s", c.suffix, r.Stdout, r.Stderr)
			assert.Contains(t, r.Stderr, c.want)
			assert.NotContains(t, r.Stderr, "attempt 1 failed", "an oversized body is not retried")
			assert.Less(t, fs.sent.Load(), int64(24<<20), "%s: the client stopped reading near the cap", c.suffix)
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
		fs := startFaulty(t, ng.URL,
			&fault{suffix: ".tar.gz", times: 1, kind: "reset", after: int(size / 2)},
			&fault{suffix: ".tar.gz", kind: "endless"})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=3", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=60s"))
		assert.Equal(t, 4, r.Code, "%s%s", r.Stdout, r.Stderr)
		assert.Contains(t, r.Stderr, "longer than the")
		// wget's watcher polls every 100 ms (longer on a loaded machine):
		// stopped, not endless until the deadline.
		assert.Less(t, fs.sent.Load(), int64(512<<20), "the client stopped reading")
		onlyState(t, root)
	})
}

// A FEC that boots before the web server keeps asking for its INDEX until
// the deadline (each round a full set of retries), as the Go client does.
func TestUnreachableIndexRetriedUntilDeadline(t *testing.T) {
	t.Parallel()
	variants(t, func(t *testing.T, sh *clienttest.Shell) {
		_, ng, _ := bigSoftware(t)
		fs := startFaulty(t, ng.URL, &fault{suffix: "/INDEX", times: 3, kind: "status", status: 502})
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
		fs := startFaulty(t, ng.URL, &fault{suffix: ".tar.gz", times: 1, kind: "status", status: 503,
			header: map[string]string{"Retry-After": "3"}})
		root := t.TempDir()
		r := sh.Run(t, env(fs.URL, root, "FECDEPLOY_RETRIES=2", "FECDEPLOY_RETRY_WAIT_MAX=1"))
		require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
		// Retry-After plus a random extra of up to half of it.
		m := regexp.MustCompile(`retrying in (\d+)ms`).FindStringSubmatch(r.Stderr)
		require.NotNil(t, m, r.Stderr)
		w, _ := strconv.Atoi(m[1])
		assert.True(t, w >= 3000 && w <= 4500, "waited %d ms for Retry-After 3", w)
		var times []int64
		for _, l := range fs.requests() {
			if strings.Contains(l, ".tar.gz") {
				var ms int64
				fmt.Sscan(l, &ms)
				times = append(times, ms)
			}
		}
		require.Len(t, times, 2)
		assert.GreaterOrEqual(t, times[1]-times[0], int64(2900), "waited for Retry-After")
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
		other := startFaulty(t, ng.URL)
		fs := startFaulty(t, ng.URL, &fault{suffix: "/INDEX", kind: "redirect", to: other.URL + "/fecs/fec01/INDEX"})
		sh := clienttest.NewShell(t)
		root := t.TempDir()
		r := sh.Run(t, env(strings.Replace(fs.URL, "http://", "http://user:s3cret@", 1), root))
		require.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "add curl")
		for _, l := range append(fs.requests(), other.requests()...) {
			assert.NotContains(t, l, "Basic", "no credentials sent")
		}
		assert.NotContains(t, r.Stderr, "s3cret")
	})
	t.Run("curl-cross-host-redirect", func(t *testing.T) {
		t.Parallel()
		other := startFaulty(t, ng.URL)
		fs := startFaulty(t, ng.URL, &fault{suffix: "/INDEX", kind: "redirect", to: other.URL + "/fecs/fec01/INDEX"})
		sh := clienttest.NewShell(t, "curl")
		root := t.TempDir()
		_ = sh.Run(t, env(strings.Replace(fs.URL, "http://", "http://user:s3cret@", 1), root))
		for _, l := range other.requests() {
			assert.NotContains(t, l, "Basic", "credentials sent to the redirect's host")
		}
		require.NotEmpty(t, other.requests(), "the redirect was followed")
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
