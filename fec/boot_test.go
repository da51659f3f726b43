package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

// randomText returns n bytes that do not compress much, so archives are big
// enough to be cut mid-stream.
func randomText(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// standardStorage: two software archives (one dev, one gzip), a configuration
// archive and two scripts, one of which records its environment.
func standardStorage(t *testing.T) *testStorage {
	s := newTestStorage(t, "fec01")
	s.addArchive(index.KindSoftware, "Foo_DU", "1.2.0", false, "opt/fesa/Foo_DU/1.2.0",
		map[string]string{"bin/foo": "#!/bin/sh\necho foo\n", "lib/libfoo.so": randomText(600 << 10)}, index.FormatZstd)
	s.addArchive(index.KindSoftware, "Bar-DU.x", "dev", true, "opt/fesa/Bar-DU.x/dev",
		map[string]string{"bin/bar": "#!/bin/sh\necho bar\n"}, index.FormatGzip)
	s.addArchive(index.KindConfiguration, "Foo_DU-instance", "1.2.0", false, "opt/fesa/instances/Foo_DU",
		map[string]string{"Foo_DU.instance": "<instance/>\n"}, index.FormatZstd)
	s.addScript("10-env", "#!/bin/sh\nenv | grep ^FECDEPLOY_ | sort > \"$FECDEPLOY_ROOT/opt/env.txt\"\npwd > opt/pwd.txt\necho configured network\n")
	s.addScript("20-hello", "#!/bin/sh\necho hello\necho to stderr >&2\nprintf 'no newline'\n")
	s.publish()
	return s
}

func TestBootFullThenSkip(t *testing.T) {
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	var out bytes.Buffer
	cfg.ScriptOutput = &out

	st, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if got := readFile(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU/1.2.0/bin/foo")); got != "#!/bin/sh\necho foo\n" {
		t.Fatalf("bin/foo = %q", got)
	}
	readFile(t, filepath.Join(cfg.Root, "opt/fesa/Bar-DU.x/dev/bin/bar"))
	readFile(t, filepath.Join(cfg.Root, "opt/fesa/instances/Foo_DU/Foo_DU.instance"))
	in, sk, fa := st.Counts()
	if in != 3 || sk != 0 || fa != 0 || st.ExitCode != 0 {
		t.Fatalf("counts %d/%d/%d exit %d, want 3 installed", in, sk, fa, st.ExitCode)
	}
	wantOut := "[10-env] configured network\n[20-hello] hello\n[20-hello] to stderr\n[20-hello] no newline\n"
	if out.String() != wantOut {
		t.Fatalf("script output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	env := readFile(t, filepath.Join(cfg.Root, "opt/env.txt"))
	for _, want := range []string{
		"FECDEPLOY_FEC=fec01\n", "FECDEPLOY_URL=" + ng.URL + "\n", "FECDEPLOY_ROOT=" + cfg.Root + "\n",
		"FECDEPLOY_SOFTWARE=Bar-DU.x Foo_DU\n", "FECDEPLOY_DEV_SOFTWARE=Bar-DU.x\n",
		"FECDEPLOY_SW_FOO_DU_VERSION=1.2.0\n", "FECDEPLOY_SW_FOO_DU_DEV=0\n",
		"FECDEPLOY_SW_BAR_DU_X_VERSION=dev\n", "FECDEPLOY_SW_BAR_DU_X_DEV=1\n", "FECDEPLOY_SCRIPT=10-env\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("script environment lacks %q:\n%s", want, env)
		}
	}
	if pwd := readFile(t, filepath.Join(cfg.Root, "opt/pwd.txt")); strings.TrimSpace(pwd) != cfg.Root {
		t.Errorf("script ran in %q, want the root %q", pwd, cfg.Root)
	}
	// The status file.
	var fromFile Status
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(cfg.Root, "var/lib/fecdeploy/status.json"))), &fromFile); err != nil {
		t.Fatal(err)
	}
	indexSum, _, _ := verify.Digest(strings.NewReader(readFile(t, filepath.Join(s.Dir, "fecs/fec01/INDEX"))))
	if fromFile.IndexSHA256 != indexSum || fromFile.FEC != "fec01" || len(fromFile.Entries) != 3 || len(fromFile.Scripts) != 2 || fromFile.ExitCode != 0 {
		t.Fatalf("status file: %+v", fromFile)
	}
	if fromFile.Scripts[1].Name != "20-hello" || fromFile.Scripts[1].Action != ActionRan || strings.Join(fromFile.Scripts[1].Output, "|") != "hello|to stderr|no newline" {
		t.Fatalf("status of 20-hello: %+v", fromFile.Scripts[1])
	}
	var sum bytes.Buffer
	st.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "3 installed, 0 skipped, 0 failed; 2 scripts, 0 failed") {
		t.Fatalf("summary:\n%s", sum.String())
	}

	// Second boot: nothing changed, nothing downloaded but INDEX and scripts are not
	// fetched again either (their local copies match).
	logBefore := ng.AccessLog()
	out.Reset()
	st2, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatalf("second Boot: %v", err)
	}
	if in, sk, fa := st2.Counts(); in != 0 || sk != 3 || fa != 0 {
		t.Fatalf("second boot counts %d/%d/%d, want 3 skipped", in, sk, fa)
	}
	newLines := strings.TrimPrefix(ng.AccessLog(), logBefore)
	if n := strings.Count(newLines, "GET "); n != 1 || !strings.Contains(newLines, "GET /fecs/fec01/INDEX ") {
		t.Fatalf("second boot requested more than the INDEX:\n%s", newLines)
	}
	if out.String() != wantOut {
		t.Fatalf("second boot did not run the scripts again:\n%s", out.String())
	}

	// A new version of one archive: only that one is fetched.
	s.addArchive(index.KindConfiguration, "Foo_DU-instance", "1.2.1", false, "opt/fesa/instances/Foo_DU",
		map[string]string{"Foo_DU.instance": "<instance v='2'/>\n"}, index.FormatZstd)
	s.publish()
	st3, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in, sk, _ := st3.Counts(); in != 1 || sk != 2 {
		t.Fatalf("third boot counts %d installed %d skipped, want 1 and 2", in, sk)
	}
	if got := readFile(t, filepath.Join(cfg.Root, "opt/fesa/instances/Foo_DU/Foo_DU.instance")); got != "<instance v='2'/>\n" {
		t.Fatalf("instance after update = %q", got)
	}
	assertNoStaging(t, cfg.Root)
}

func assertNoStaging(t *testing.T, root string) {
	t.Helper()
	for _, p := range tree(t, root) {
		if strings.Contains(p, archive.StagingPrefix) || strings.Contains(p, ".tmp-") {
			t.Errorf("left behind: %s", p)
		}
	}
}

func TestInstallKindsAndDryRun(t *testing.T) {
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")

	cfg.DryRun = true
	st, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in, _, _ := st.Counts(); in != 3 || st.Scripts[0].Action != ActionDryRun {
		t.Fatalf("dry run: %+v", st)
	}
	var sum bytes.Buffer
	st.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "dry run: 3 to install, 0 already installed; 2 scripts would run; nothing changed") ||
		!strings.Contains(sum.String(), "  dry-run   software      Foo_DU 1.2.0") {
		t.Fatalf("dry-run summary:\n%s", sum.String())
	}
	if got := tree(t, cfg.Root); len(got) != 0 {
		t.Fatalf("dry run wrote %v", got)
	}
	if strings.Contains(ng.AccessLog(), ".tar.") {
		t.Fatal("dry run downloaded an archive")
	}

	cfg.DryRun = false
	st, err = Install(context.Background(), cfg, index.KindConfiguration)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 1 || st.Entries[0].Name != "Foo_DU-instance" || st.Entries[0].Action != ActionInstalled || len(st.Scripts) != 0 {
		t.Fatalf("install configuration: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "opt/fesa/Foo_DU")); !os.IsNotExist(err) {
		t.Fatal("install configuration also installed software")
	}
	if _, err := os.Stat(cfg.StateDir + "/status.json"); !os.IsNotExist(err) {
		t.Fatal("install wrote the status file")
	}
	_, err = Install(context.Background(), cfg, index.KindInit)
	if !errors.Is(err, ErrConfig) || ExitCode(err) != ExitConfig {
		t.Fatalf("install init: %v", err)
	}
}

func TestBootUnknownFECFailsFast(t *testing.T) {
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec99")
	cfg.Retries, cfg.RetryWaitMin = 8, time.Second
	start := time.Now()
	st, err := Boot(context.Background(), cfg)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrNotFound) || ExitCode(err) != ExitUnreachable {
		t.Fatalf("err = %v, want ErrUnreachable+ErrNotFound", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v; a 404 must not be retried", d)
	}
	for _, want := range []string{`"fec99"`, ng.URL + "/fecs/fec99/INDEX", "404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if n := strings.Count(ng.AccessLog(), "GET /fecs/fec99/INDEX"); n != 1 {
		t.Fatalf("INDEX requested %d times, want 1", n)
	}
	if st.ExitCode != ExitUnreachable || tree(t, filepath.Join(cfg.Root, "opt")) != nil {
		t.Fatalf("status %+v", st)
	}
}

func TestBootServerDownThenUp(t *testing.T) {
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := testConfig(t, "http://"+addr, "fec01")
	cfg.Retries = 1 // each round gives up quickly; rounds go on until the deadline
	go func() {
		time.Sleep(800 * time.Millisecond)
		p := &proxy{target: ng.URL}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen: %v", err)
			return
		}
		srv := &http.Server{Handler: p}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(l)
	}()
	start := time.Now()
	st, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Fatalf("booted in %v, before the server was up?", d)
	}
	if in, _, _ := st.Counts(); in != 3 {
		t.Fatalf("installed %d", in)
	}

	// Never up: the deadline ends it with "unreachable".
	cfg2 := testConfig(t, "http://"+addr+"0", "fec01") // port*10: nothing listens
	cfg2.Deadline, cfg2.Retries = 700*time.Millisecond, 100
	start = time.Now()
	_, err = Boot(context.Background(), cfg2)
	if !errors.Is(err, ErrUnreachable) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want ErrUnreachable within the deadline", err, time.Since(start))
	}
}

func TestBoot503RetryAfter(t *testing.T) {
	s := standardStorage(t)
	flag := filepath.Join(t.TempDir(), "down")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{Extra: fmt.Sprintf(`
        location /fecs/ {
            if (-f %s) {
                add_header Retry-After 3600 always;
                return 503;
            }
        }`, flag)})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.RetryAfterCap = 300 * time.Millisecond // the server's 3600 s is capped
	cfg.Retries = 20
	go func() {
		time.Sleep(time.Second)
		os.Remove(flag)
	}()
	start := time.Now()
	_, err := Boot(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	d := time.Since(start)
	n503 := strings.Count(ng.AccessLog(), "\" 503 ")
	if n503 < 2 || n503 > 6 || d < time.Second || d > 4*time.Second {
		t.Fatalf("%d answers 503 in %v; want a retry every ~300ms until the flag goes", n503, d)
	}

	// A 503 that stays: retried until the deadline, then unreachable.
	os.WriteFile(flag, nil, 0o644)
	cfg.Retries, cfg.Deadline = 2, 1500*time.Millisecond
	start = time.Now()
	_, err = Boot(context.Background(), cfg)
	var he *HTTPError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &he) || he.StatusCode != 503 || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want unreachable with 503 at the deadline", err)
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("gave up after %v, want the deadline of 1.5s", d)
	}
}

// proxy forwards to nginx and can break the connection in the middle of a
// response, or rewrite If-Range so nginx answers a resume with 200.
type proxy struct {
	target   string
	cutPath  string // cut responses for this path...
	cutAfter int64  // ...after this many body bytes...
	cuts     int    // ...this many times
	badRange bool   // replace If-Range by a stale validator
	stall    bool   // stall instead of closing

	mu   sync.Mutex
	seen []string // "path range if-range"
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, fmt.Sprintf("%s range=%s", r.URL.Path, r.Header.Get("Range")))
	cut := r.URL.Path == p.cutPath && p.cuts > 0
	if cut {
		p.cuts--
	}
	p.mu.Unlock()
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), nil)
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if p.badRange && req.Header.Get("If-Range") != "" {
		req.Header.Set("If-Range", `"stale"`)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !cut {
		io.Copy(w, resp.Body)
		return
	}
	io.CopyN(w, resp.Body, p.cutAfter)
	w.(http.Flusher).Flush()
	if p.stall {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (p *proxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func startProxy(t *testing.T, p *proxy) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func TestBootResumesCutDownload(t *testing.T) {
	s := standardStorage(t)
	foo, _ := s.ix.Lookup(index.KindSoftware, "Foo_DU")
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	for _, tc := range []struct {
		name  string
		p     *proxy
		wants []string
	}{
		{"connection closed", &proxy{cutAfter: 100000, cuts: 2},
			[]string{"/" + foo.Path + " range=", "/" + foo.Path + " range=bytes=100000-", "/" + foo.Path + " range=bytes=200000-"}},
		{"stalled past the idle timeout", &proxy{cutAfter: 100000, cuts: 1, stall: true},
			[]string{"/" + foo.Path + " range=", "/" + foo.Path + " range=bytes=100000-"}},
		{"200 to a Range request restarts from zero", &proxy{cutAfter: 100000, cuts: 1, badRange: true},
			[]string{"/" + foo.Path + " range=", "/" + foo.Path + " range=bytes=100000-", "/" + foo.Path + " range="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.target, p.cutPath = ng.URL, "/"+foo.Path
			cfg := testConfig(t, startProxy(t, p), "fec01")
			cfg.IdleTimeout = 500 * time.Millisecond
			st, err := Boot(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Boot: %v", err)
			}
			var got []string
			for _, r := range p.requests() {
				if strings.HasPrefix(r, "/"+foo.Path) {
					got = append(got, r)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.wants, "\n") {
				t.Fatalf("requests for the archive:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wants, "\n"))
			}
			if in, _, _ := st.Counts(); in != 3 {
				t.Fatalf("installed %d, want 3", in)
			}
			if sum, _, _ := verify.Digest(strings.NewReader(readFile(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so")))); sum == "" {
				t.Fatal("no libfoo.so")
			}
			assertNoStaging(t, cfg.Root)
		})
	}
}

func TestBootRefusesChangedArchive(t *testing.T) {
	s := standardStorage(t)
	foo, _ := s.ix.Lookup(index.KindSoftware, "Foo_DU")
	// The published bytes change on disk: same size, one byte different.
	p := filepath.Join(s.Dir, foo.Path)
	data := []byte(readFile(t, p))
	data[len(data)/2] ^= 0x55
	s.overwrite(foo.Path, data)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	st, err := Boot(context.Background(), cfg)
	if !errors.Is(err, ErrVerify) || !errors.Is(err, verify.ErrDigestMismatch) || ExitCode(err) != ExitVerify {
		t.Fatalf("err = %v, want ErrVerify with a sha256 mismatch", err)
	}
	if !strings.Contains(err.Error(), "software Foo_DU") {
		t.Errorf("error does not name the archive: %v", err)
	}
	in, _, fa := st.Counts()
	if in != 2 || fa != 1 || len(st.Scripts) != 2 || st.Scripts[0].Action != ActionRan {
		t.Fatalf("the other archives and the scripts must go on: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "opt/fesa/Foo_DU")); !os.IsNotExist(err) {
		t.Fatalf("something of the refused archive was written: %v", tree(t, filepath.Join(cfg.Root, "opt/fesa")))
	}
	if _, err := os.Stat(mustSession(t, cfg).statePath(index.KindSoftware, "Foo_DU")); !os.IsNotExist(err) {
		t.Fatal("refused archive recorded as installed")
	}
	assertNoStaging(t, cfg.Root)

	// An archive missing on the storage (404): an install failure, the rest goes on.
	os.Remove(p)
	_, err = Boot(context.Background(), cfg)
	if !errors.Is(err, ErrInstall) || !errors.Is(err, ErrNotFound) || ExitCode(err) != ExitInstall {
		t.Fatalf("err = %v, want ErrInstall with 404", err)
	}
}

func mustSession(t *testing.T, cfg Config) *session {
	c, base, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &session{cfg: c, base: base}
}

func TestBootSignedIndex(t *testing.T) {
	s := standardStorage(t)
	pub := s.sign()
	indexData := s.publish()
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	_, other := genKey(t)
	idxPath := filepath.Join(s.Dir, "fecs/fec01/INDEX")
	sigPath := idxPath + ".sig"
	sig := readFile(t, sigPath)

	for _, tc := range []struct {
		name  string
		setup func()
		keys  []ed25519.PublicKey
		want  error
	}{
		{"tampered", func() {
			s.overwrite("fecs/fec01/INDEX", bytes.Replace(indexData, []byte("version=1.2.0"), []byte("version=6.6.6"), 1))
		}, []ed25519.PublicKey{pub}, index.ErrBadSignature},
		{"unsigned", func() { os.Remove(sigPath) }, []ed25519.PublicKey{pub}, index.ErrUnsigned},
		{"signed by an untrusted key", nil, []ed25519.PublicKey{other}, index.ErrBadSignature},
		{"rotation: second trusted key", nil, []ed25519.PublicKey{other, pub}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.overwrite("fecs/fec01/INDEX", indexData)
			s.overwrite("fecs/fec01/INDEX.sig", []byte(sig))
			if tc.setup != nil {
				tc.setup()
			}
			cfg := testConfig(t, ng.URL, "fec01")
			cfg.PublicKeys = tc.keys
			_, err := Boot(context.Background(), cfg)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrVerify) || !errors.Is(err, tc.want) || ExitCode(err) != ExitVerify {
				t.Fatalf("err = %v, want ErrVerify and %v", err, tc.want)
			}
			// Nothing but the status file was written.
			if got := strings.Join(tree(t, cfg.Root), " "); got != "var/ var/lib/ var/lib/fecdeploy/ var/lib/fecdeploy/status.json" {
				t.Fatalf("written: %s", got)
			}
		})
	}
}

// A reindex replaces INDEX, then INDEX.sig: a FEC fetching between the two
// renames sees a pair that does not match. It fetches both again instead of
// refusing to boot.
func TestBootSignatureRaceWithReindex(t *testing.T) {
	s := standardStorage(t)
	pub := s.sign()
	s.publish()
	srv := testenv.StartReindexRace(t, s.Dir)
	cfg := testConfig(t, srv.URL, "fec01")
	cfg.PublicKeys = []ed25519.PublicKey{pub}
	if _, err := Boot(context.Background(), cfg); err != nil {
		t.Fatalf("boot during a reindex: %v", err)
	}
	if srv.IndexRequests.Load() != 2 || srv.SigRequests.Load() != 2 {
		t.Fatalf("INDEX fetched %d times, INDEX.sig %d times; want 2 and 2", srv.IndexRequests.Load(), srv.SigRequests.Load())
	}
}

func TestBootScriptFailures(t *testing.T) {
	s := newTestStorage(t, "fec02")
	s.addArchive(index.KindSoftware, "Foo_DU", "1.0.0", false, "opt/foo", map[string]string{"f": "x"}, index.FormatZstd)
	s.addScript("10-fails", "#!/bin/sh\necho failing\nexit 3\n")
	s.addScript("20-hangs", "#!/bin/sh\nsleep 60 &\necho $! > \"$FECDEPLOY_ROOT/child.pid\"\necho hanging\nwait\n")
	s.addScript("30-no-shebang", "echo I have no interpreter line\n")
	s.addScript("40-ok", "#!/bin/sh\necho still running\n")
	s.publish()
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec02")
	cfg.ScriptTimeout = 700 * time.Millisecond
	var out bytes.Buffer
	cfg.ScriptOutput = &out
	start := time.Now()
	st, err := Boot(context.Background(), cfg)
	if !errors.Is(err, ErrScript) || ExitCode(err) != ExitScript {
		t.Fatalf("err = %v, want ErrScript", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("boot took %v; the hanging script was not stopped at its timeout", d)
	}
	want := []struct {
		name   string
		action string
		code   int
	}{{"10-fails", ActionFailed, 3}, {"20-hangs", ActionFailed, ScriptTimedOut}, {"30-no-shebang", ActionFailed, ScriptNotExecutable}, {"40-ok", ActionRan, 0}}
	if len(st.Scripts) != len(want) {
		t.Fatalf("scripts: %+v", st.Scripts)
	}
	for i, w := range want {
		got := st.Scripts[i]
		if got.Name != w.name || got.Action != w.action || got.ExitCode != w.code {
			t.Errorf("script %d = %+v, want %+v", i, got, w)
		}
	}
	if !strings.Contains(st.Scripts[2].Error, "exec format error") {
		t.Errorf("no-shebang error: %q", st.Scripts[2].Error)
	}
	if out.String() != "[10-fails] failing\n[20-hangs] hanging\n[40-ok] still running\n" {
		t.Errorf("output:\n%s", out.String())
	}
	// The hanging script's child was killed with its process group.
	pid := 0
	fmt.Sscan(readFile(t, filepath.Join(cfg.Root, "child.pid")), &pid)
	if pid == 0 {
		t.Fatal("no child pid")
	}
	time.Sleep(100 * time.Millisecond)
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the hanging script's child %d survived the timeout", pid)
	}
	if in, _, _ := st.Counts(); in != 1 {
		t.Fatalf("installed %d, want 1", in)
	}
}

// alive reports whether a process exists and is not a zombie (a killed
// child reparented to a PID 1 that does not reap stays a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// The allowed roots are the FEC's own: an archive unpacking elsewhere is
// refused as unsafe, whatever the server says, and leaves nothing behind.
func TestBootRefusesArchiveOutsideAllowedRoots(t *testing.T) {
	s := newTestStorage(t, "fec03")
	s.addArchive(index.KindSoftware, "Good_DU", "1.0.0", false, "opt/fesa/Good_DU/1.0.0", map[string]string{"f": "good"}, index.FormatZstd)
	s.addArchive(index.KindConfiguration, "evil", "1.0.0", false, "etc/cron.d", map[string]string{"evil": "* * * * * root sh -c 'id'\n"}, index.FormatZstd)
	s.addArchive(index.KindSoftware, "Other_DU", "1.0.0", false, "opt/other/Other_DU", map[string]string{"f": "other"}, index.FormatGzip)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec03")
	cfg.AllowedRoots = []string{"opt/fesa"}
	st, err := Boot(context.Background(), cfg)
	var ee *archive.EntryError
	if !errors.Is(err, ErrVerify) || !errors.Is(err, archive.ErrUnsafeEntry) || !errors.As(err, &ee) || ExitCode(err) != ExitVerify {
		t.Fatalf("err = %v, want ErrVerify wrapping an archive.EntryError", err)
	}
	in, _, fa := st.Counts()
	if in != 1 || fa != 2 {
		t.Fatalf("installed %d, failed %d; want 1 and 2: %+v", in, fa, st.Entries)
	}
	if got := strings.Join(tree(t, filepath.Join(cfg.Root, "opt")), " "); got != "fesa/ fesa/Good_DU/ fesa/Good_DU/1.0.0/ fesa/Good_DU/1.0.0/f" {
		t.Fatalf("under opt: %s", got)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "etc")); !os.IsNotExist(err) {
		t.Fatal("etc was created")
	}
	assertNoStaging(t, cfg.Root)
}
