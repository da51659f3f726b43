package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testenv/faultproxy"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/internal/verify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomText returns n bytes that do not compress much, so archives are big
// enough to be cut mid-stream.
func randomText(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// standardStorage: for fec01, two software archives (one dev, one gzip), a
// configuration archive and two scripts, one of which records its
// environment.
func standardStorage(t *testing.T) *clienttest.Storage {
	st := clienttest.NewStorage(t)
	archiveOf(t, st, "fec01", index.KindSoftware, "Foo_DU", "1.2.0", "opt/fesa/Foo_DU/1.2.0",
		map[string]string{"bin/foo": "#!/bin/sh\necho foo\n", "lib/libfoo.so": randomText(600 << 10)}, index.FormatZstd)
	archiveOf(t, st, "fec01", index.KindSoftware, "Bar-DU.x", "dev", "opt/fesa/Bar-DU.x/dev",
		map[string]string{"bin/bar": "#!/bin/sh\necho bar\n"}, index.FormatGzip)
	archiveOf(t, st, "fec01", index.KindConfiguration, "Foo_DU-instance", "1.2.0", "opt/fesa/instances/Foo_DU",
		map[string]string{"Foo_DU.instance": "<instance/>\n"}, index.FormatZstd)
	st.Init(t, "fec01", "10-env", "#!/bin/sh\nenv | grep ^FECDEPLOY_ | sort > \"$FECDEPLOY_ROOT/opt/env.txt\"\npwd > opt/pwd.txt\necho configured network\n")
	st.Init(t, "fec01", "20-hello", "#!/bin/sh\necho hello\necho to stderr >&2\nprintf 'no newline'\n")
	st.WriteIndex(t, "fec01", nil)
	return st
}

func TestBootFullThenSkip(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	var out bytes.Buffer
	cfg.ScriptOutput = &out

	st, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\necho foo\n", testkit.ReadFile(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU/1.2.0/bin/foo")))
	assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/Bar-DU.x/dev/bin/bar"))
	assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/instances/Foo_DU/Foo_DU.instance"))
	assertCounts(t, st, 3, 0, 0)
	assert.Equal(t, 0, st.ExitCode)
	wantOut := "[10-env] configured network\n[20-hello] hello\n[20-hello] to stderr\n[20-hello] no newline\n"
	assert.Equal(t, wantOut, out.String(), "script output")
	env := testkit.ReadFile(t, filepath.Join(cfg.Root, "opt/env.txt"))
	for _, want := range []string{
		"FECDEPLOY_FEC=fec01\n", "FECDEPLOY_URL=" + ng.URL + "\n", "FECDEPLOY_ROOT=" + cfg.Root + "\n",
		"FECDEPLOY_SOFTWARE=Bar-DU.x Foo_DU\n", "FECDEPLOY_DEV_SOFTWARE=Bar-DU.x\n",
		"FECDEPLOY_SW_FOO_DU_VERSION=1.2.0\n", "FECDEPLOY_SW_FOO_DU_DEV=0\n",
		"FECDEPLOY_SW_BAR_DU_X_VERSION=dev\n", "FECDEPLOY_SW_BAR_DU_X_DEV=1\n", "FECDEPLOY_SCRIPT=10-env\n",
	} {
		assert.Contains(t, env, want, "script environment")
	}
	assert.Equal(t, cfg.Root, strings.TrimSpace(testkit.ReadFile(t, filepath.Join(cfg.Root, "opt/pwd.txt"))), "scripts run in the root")
	// The status file.
	var fromFile Status
	require.NoError(t, json.Unmarshal([]byte(testkit.ReadFile(t, filepath.Join(cfg.Root, "var/lib/fecdeploy/status.json"))), &fromFile))
	indexSum := testkit.SHA256([]byte(testkit.ReadFile(t, filepath.Join(s.Dir, "fecs/fec01/INDEX"))))
	assert.Equal(t, indexSum, fromFile.IndexSHA256)
	assert.Equal(t, "fec01", fromFile.FEC)
	assert.Len(t, fromFile.Entries, 3)
	require.Len(t, fromFile.Scripts, 2)
	assert.Equal(t, 0, fromFile.ExitCode)
	assert.Equal(t, "20-hello", fromFile.Scripts[1].Name)
	assert.Equal(t, ActionRan, fromFile.Scripts[1].Action)
	assert.Equal(t, []string{"hello", "to stderr", "no newline"}, fromFile.Scripts[1].Output)
	var sum bytes.Buffer
	require.NoError(t, st.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "3 installed, 0 skipped, 0 failed; 2 scripts, 0 failed")
	assert.Empty(t, st.Warnings, "instance at its software's version")
	assert.NotContains(t, sum.String(), "warning:")

	// Second boot: nothing changed, nothing downloaded but INDEX and scripts are not
	// fetched again either (their local copies match).
	logBefore := ng.AccessLog()
	out.Reset()
	st2, err := Boot(context.Background(), cfg)
	require.NoError(t, err, "second boot")
	assertCounts(t, st2, 0, 3, 0)
	newLines := strings.TrimPrefix(ng.AccessLog(), logBefore)
	assert.Equal(t, 1, strings.Count(newLines, "GET "), "second boot requested more than the INDEX:\n%s", newLines)
	assert.Contains(t, newLines, "GET /fecs/fec01/INDEX ")
	assert.Equal(t, wantOut, out.String(), "the second boot runs the scripts again")

	// A new version of one archive: only that one is fetched.
	archiveOf(t, s, "fec01", index.KindConfiguration, "Foo_DU-instance", "1.2.1", "opt/fesa/instances/Foo_DU",
		map[string]string{"Foo_DU.instance": "<instance v='2'/>\n"}, index.FormatZstd)
	s.WriteIndex(t, "fec01", nil)
	st3, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assertCounts(t, st3, 1, 2, 0)
	// Foo_DU-instance 1.2.1 next to Foo_DU 1.2.0: the summary and the status file warn, naming both.
	sum.Reset()
	require.NoError(t, st3.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "warning: configuration Foo_DU-instance is at 1.2.1 but software Foo_DU at 1.2.0")
	require.NoError(t, json.Unmarshal([]byte(testkit.ReadFile(t, filepath.Join(cfg.Root, "var/lib/fecdeploy/status.json"))), &fromFile))
	require.Len(t, fromFile.Warnings, 1)
	assert.Contains(t, fromFile.Warnings[0], "Foo_DU-instance")
	assert.Equal(t, "<instance v='2'/>\n", testkit.ReadFile(t, filepath.Join(cfg.Root, "opt/fesa/instances/Foo_DU/Foo_DU.instance")))
	assertNoStaging(t, cfg.Root)
}

// assertCounts checks how many entries were installed, skipped and failed.
func assertCounts(t *testing.T, st *Status, installed, skipped, failed int) {
	t.Helper()
	in, sk, fa := st.Counts()
	assert.Equal(t, [3]int{installed, skipped, failed}, [3]int{in, sk, fa}, "installed, skipped, failed: %+v", st.Entries)
}

func TestInstallKindsAndDryRun(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")

	cfg.DryRun = true
	st, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assertCounts(t, st, 3, 0, 0)
	require.NotEmpty(t, st.Scripts)
	assert.Equal(t, ActionDryRun, st.Scripts[0].Action)
	var sum bytes.Buffer
	require.NoError(t, st.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "dry run: 3 to install, 0 already installed; 2 scripts would run; nothing changed")
	assert.Contains(t, sum.String(), "  dry-run   software      Foo_DU 1.2.0")
	assert.Empty(t, testkit.Paths(t, cfg.Root), "a dry run writes nothing")
	assert.NotContains(t, ng.AccessLog(), ".tar.", "a dry run downloads no archive")

	cfg.DryRun = false
	st, err = Install(context.Background(), cfg, index.KindConfiguration)
	require.NoError(t, err)
	require.Len(t, st.Entries, 1)
	assert.Equal(t, "Foo_DU-instance", st.Entries[0].Name)
	assert.Equal(t, ActionInstalled, st.Entries[0].Action)
	assert.Empty(t, st.Scripts)
	assert.NoDirExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU"), "install configuration also installed software")
	assert.NoFileExists(t, filepath.Join(cfg.Root, "var/lib/fecdeploy/status.json"), "install writes no status file")
	before := testkit.Snapshot(t, cfg.Root)
	_, err = Install(context.Background(), cfg, index.KindInit)
	require.ErrorIs(t, err, ErrConfig)
	assert.Equal(t, ExitConfig, ExitCode(err))
	assert.Equal(t, before, testkit.Snapshot(t, cfg.Root))
}

func TestBootUnknownFECFailsFast(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec99")
	cfg.Retries, cfg.RetryWaitMin = 8, time.Second
	start := time.Now()
	st, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, ExitUnreachable, ExitCode(err))
	assert.Less(t, time.Since(start), 3*time.Second, "a 404 must not be retried")
	for _, want := range []string{`"fec99"`, ng.URL + "/fecs/fec99/INDEX", "404"} {
		assert.ErrorContains(t, err, want)
	}
	assert.Equal(t, 1, strings.Count(ng.AccessLog(), "GET /fecs/fec99/INDEX"), "INDEX requests")
	assert.Equal(t, ExitUnreachable, st.ExitCode)
	assert.Empty(t, testkit.Paths(t, filepath.Join(cfg.Root, "opt")))
}

func TestBootServerDownThenUp(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := testConfig(t, "http://"+addr, "fec01")
	cfg.Retries = 1 // each round gives up quickly; rounds go on until the deadline
	go func() {
		time.Sleep(800 * time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		p := faultproxy.New(ctx, ng.URL)
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
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond, "booted before the server was up?")
	assertCounts(t, st, 3, 0, 0)

	// Never up: the deadline ends it with "unreachable".
	cfg2 := testConfig(t, "http://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), "fec01")
	cfg2.Deadline, cfg2.Retries = 700*time.Millisecond, 100
	start = time.Now()
	_, err = Boot(context.Background(), cfg2)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Less(t, time.Since(start), 4*time.Second, "ends at the deadline")
}

func TestBoot503RetryAfter(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	flag := filepath.Join(t.TempDir(), "down")
	require.NoError(t, os.WriteFile(flag, nil, 0o644))
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
	require.NoError(t, err)
	d := time.Since(start)
	n503 := strings.Count(ng.AccessLog(), "\" 503 ")
	// The upper bounds tell a capped wait (~300 ms per retry) from the
	// server's 3600 s; they are loose because a loaded CI machine slows the
	// boot after the flag goes, not the retries before it.
	assert.True(t, n503 >= 2 && n503 <= 6 && d >= time.Second && d <= 20*time.Second,
		"%d answers 503 in %v; want a retry every ~300ms until the flag goes", n503, d)

	// A 503 that stays: retried until the deadline, then unreachable.
	require.NoError(t, os.WriteFile(flag, nil, 0o644))
	cfg.Retries, cfg.Deadline = 2, 1500*time.Millisecond
	start = time.Now()
	_, err = Boot(context.Background(), cfg)
	var he *HTTPError
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 503, he.StatusCode)
	assert.ErrorContains(t, err, "deadline")
	d = time.Since(start)
	assert.True(t, d >= 1400*time.Millisecond && d <= 15*time.Second, "gave up after %v, want the deadline of 1.5s", d)
}

// When the deadline cuts the retries of a request short (here a 503
// without Retry-After, retried with backoff until the deadline), the error
// still says what the server last answered, not only "deadline exceeded".
func TestBootDeadlineKeepsTheLastAnswer(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{Extra: `
        location /fecs/ {
            return 503;
        }`})
	cfg := testConfig(t, ng.URL, "fec01")
	cfg.Retries, cfg.RetryWaitMin, cfg.RetryWaitMax, cfg.Deadline = 1000, 200*time.Millisecond, 200*time.Millisecond, 2*time.Second
	_, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	var he *HTTPError
	require.ErrorAs(t, err, &he, "the last answer is kept: %v", err)
	assert.Equal(t, 503, he.StatusCode)
	assert.ErrorContains(t, err, "within the deadline of 2s")
	assert.ErrorContains(t, err, "503")
}

func TestBootResumesCutDownload(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	foo := lookup(t, s, "fec01", index.KindSoftware, "Foo_DU")
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	for _, tc := range []struct {
		name  string
		rules []*faultproxy.Rule // for the archive's path
		wants []string
	}{
		{"connection closed", []*faultproxy.Rule{{Times: 2, Kind: faultproxy.Cut, After: 100000}},
			[]string{"range=", "range=bytes=100000-", "range=bytes=200000-"}},
		{"stalled past the idle timeout", []*faultproxy.Rule{{Times: 1, Kind: faultproxy.Stall, After: 100000}},
			[]string{"range=", "range=bytes=100000-"}},
		{"200 to a Range request restarts from zero", []*faultproxy.Rule{{Times: 1, Kind: faultproxy.Cut, After: 100000}, {StaleIfRange: true}},
			[]string{"range=", "range=bytes=100000-", "range="}},
		{"no ETag or Last-Modified: starts over instead of failing", []*faultproxy.Rule{{Times: 1, Kind: faultproxy.Cut, After: 100000, DropValidators: true}, {DropValidators: true}},
			[]string{"range=", "range="}},
		{"416 to a Range request restarts from zero", []*faultproxy.Rule{{Times: 1, Kind: faultproxy.Cut, After: 100000}, {RangeOnly: true, Kind: faultproxy.Status, Status: 416}},
			[]string{"range=", "range=bytes=100000-", "range="}},
		{"stall at byte 0 is a plain retry, not a restart", []*faultproxy.Rule{{Times: 1, Kind: faultproxy.Stall, After: 0}},
			[]string{"range=", "range="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range tc.rules {
				r.Path = "/" + foo.Path
			}
			p := faultproxy.Start(t, ng.URL, tc.rules...)
			cfg := testConfig(t, p.URL, "fec01")
			// The stalled case waits this out once; shorter is flaky on a busy machine.
			cfg.IdleTimeout = 2 * time.Second
			st, err := Boot(context.Background(), cfg)
			require.NoError(t, err)
			var got []string
			for _, r := range p.Requests() {
				if r.Path == "/"+foo.Path {
					got = append(got, "range="+r.Range)
				}
			}
			assert.Equal(t, tc.wants, got, "requests for the archive")
			assertCounts(t, st, 3, 0, 0)
			assert.FileExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so"))
			assertNoStaging(t, cfg.Root)
		})
	}
}

func TestBootRefusesChangedArchive(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	foo := lookup(t, s, "fec01", index.KindSoftware, "Foo_DU")
	// The published bytes change on disk: same size, one byte different.
	p := filepath.Join(s.Dir, foo.Path)
	data := []byte(testkit.ReadFile(t, p))
	data[len(data)/2] ^= 0x55
	s.WriteRaw(t, foo.Path, data)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec01")
	st, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrVerify)
	require.ErrorIs(t, err, verify.ErrDigestMismatch)
	assert.Equal(t, ExitVerify, ExitCode(err))
	assert.ErrorContains(t, err, "software Foo_DU", "the error names the archive")
	// The other archives and the scripts go on.
	assertCounts(t, st, 2, 0, 1)
	require.Len(t, st.Scripts, 2)
	assert.Equal(t, ActionRan, st.Scripts[0].Action)
	assert.NoDirExists(t, filepath.Join(cfg.Root, "opt/fesa/Foo_DU"), "something of the refused archive was written")
	assert.NoFileExists(t, mustSession(t, cfg).statePath(index.KindSoftware, "Foo_DU"), "refused archive recorded as installed")
	assertNoStaging(t, cfg.Root)

	// An archive missing on the storage (404): an install failure, the rest goes on.
	require.NoError(t, os.Remove(p))
	_, err = Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrInstall)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, ExitInstall, ExitCode(err))
}

func mustSession(t *testing.T, cfg Config) *session {
	c, base, err := cfg.withDefaults()
	require.NoError(t, err)
	return &session{cfg: c, base: base}
}

func TestBootSignedIndex(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	key, other := clienttest.NewKey(t), clienttest.NewKey(t)
	indexData := s.WriteIndex(t, "fec01", key.Private)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	sig := []byte(testkit.ReadFile(t, filepath.Join(s.Dir, "fecs/fec01/INDEX.sig")))

	for _, tc := range []struct {
		name   string
		change func(t *testing.T, st *clienttest.Storage) // the storage, behind the writer's back
		keys   []ed25519.PublicKey
		want   error
	}{
		{"tampered", func(t *testing.T, st *clienttest.Storage) {
			st.WriteRaw(t, "fecs/fec01/INDEX", bytes.Replace(indexData, []byte("version=1.2.0"), []byte("version=6.6.6"), 1))
		}, []ed25519.PublicKey{key.Public}, index.ErrBadSignature},
		{"unsigned", func(t *testing.T, st *clienttest.Storage) {
			require.NoError(t, os.Remove(filepath.Join(st.Dir, "fecs/fec01/INDEX.sig")))
		}, []ed25519.PublicKey{key.Public}, index.ErrUnsigned},
		{"signed by an untrusted key", nil, []ed25519.PublicKey{other.Public}, index.ErrBadSignature},
		{"INDEX.sig over 1 KiB", func(t *testing.T, st *clienttest.Storage) {
			st.WriteRaw(t, "fecs/fec01/INDEX.sig", bytes.Repeat([]byte("x"), 1025))
		}, []ed25519.PublicKey{key.Public}, index.ErrBadSignature},
		{"rotation: second trusted key", nil, []ed25519.PublicKey{other.Public, key.Public}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// not parallel: the cases change the one storage in turn
			s.WriteRaw(t, "fecs/fec01/INDEX", indexData)
			s.WriteRaw(t, "fecs/fec01/INDEX.sig", sig)
			if tc.change != nil {
				tc.change(t, s)
			}
			cfg := testConfig(t, ng.URL, "fec01")
			cfg.PublicKeys = tc.keys
			_, err := Boot(context.Background(), cfg)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrVerify)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, ExitVerify, ExitCode(err))
			// Nothing but the status file was written.
			assert.Equal(t, []string{"var/", "var/lib/", "var/lib/fecdeploy/", "var/lib/fecdeploy/status.json"}, testkit.Paths(t, cfg.Root))
		})
	}
}

// A reindex replaces INDEX, then INDEX.sig: a FEC fetching between the two
// renames sees a pair that does not match. It fetches both again instead of
// refusing to boot.
func TestBootSignatureRaceWithReindex(t *testing.T) {
	t.Parallel()
	s := standardStorage(t)
	key := clienttest.NewKey(t)
	s.WriteIndex(t, "fec01", key.Private)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	// The first INDEX.sig is a signature over other bytes: fetched between
	// the two renames of a reindex.
	p := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Path: "/fecs/fec01/INDEX.sig", Times: 1, Kind: faultproxy.Replay,
		Recorded: faultproxy.Recorded{"/fecs/fec01/INDEX.sig": {Status: 200, Body: bytes.Repeat([]byte{7}, 64)}}})
	cfg := testConfig(t, p.URL, "fec01")
	cfg.PublicKeys = []ed25519.PublicKey{key.Public}
	_, err := Boot(context.Background(), cfg)
	require.NoError(t, err, "boot during a reindex")
	assert.Equal(t, 2, p.Count("/fecs/fec01/INDEX"), "INDEX requests")
	assert.Equal(t, 2, p.Count("/fecs/fec01/INDEX.sig"), "INDEX.sig requests")
}

func TestBootScriptFailures(t *testing.T) {
	t.Parallel()
	s := clienttest.NewStorage(t)
	archiveOf(t, s, "fec02", index.KindSoftware, "Foo_DU", "1.0.0", "opt/foo", map[string]string{"f": "x"}, index.FormatZstd)
	s.Init(t, "fec02", "10-fails", "#!/bin/sh\necho failing\nexit 3\n")
	s.Init(t, "fec02", "20-hangs", "#!/bin/sh\nsleep 60 &\necho $! > \"$FECDEPLOY_ROOT/child.pid\"\necho hanging\nwait\n")
	s.Init(t, "fec02", "30-no-shebang", "echo I have no interpreter line\n")
	s.Init(t, "fec02", "35-no-interpreter", "#!/nonexistent/bin/sh\necho never\n")
	s.Init(t, "fec02", "40-ok", "#!/bin/sh\necho still running\n")
	s.WriteIndex(t, "fec02", nil)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec02")
	cfg.ScriptTimeout = 700 * time.Millisecond
	var out bytes.Buffer
	cfg.ScriptOutput = &out
	start := time.Now()
	st, err := Boot(context.Background(), cfg)
	require.ErrorIs(t, err, ErrScript)
	assert.Equal(t, ExitScript, ExitCode(err))
	assert.Less(t, time.Since(start), 10*time.Second, "the hanging script was not stopped at its timeout")
	type script struct {
		Name, Action string
		Code         int
	}
	var got []script
	for _, sc := range st.Scripts {
		got = append(got, script{sc.Name, sc.Action, sc.ExitCode})
	}
	assert.Equal(t, []script{{"10-fails", ActionFailed, 3}, {"20-hangs", ActionFailed, ScriptTimedOut},
		{"30-no-shebang", ActionFailed, ScriptNotExecutable}, {"35-no-interpreter", ActionFailed, ScriptNotFound}, {"40-ok", ActionRan, 0}}, got)
	require.Len(t, st.Scripts, 5)
	assert.Contains(t, st.Scripts[3].Error, "interpreter not found")
	assert.Contains(t, st.Scripts[2].Error, "exec format error")
	assert.Equal(t, "[10-fails] failing\n[20-hangs] hanging\n[40-ok] still running\n", out.String())
	// The hanging script's child was killed with its process group.
	pid := 0
	fmt.Sscan(testkit.ReadFile(t, filepath.Join(cfg.Root, "child.pid")), &pid)
	require.NotZero(t, pid, "no child pid")
	assert.Eventually(t, func() bool { return !alive(pid) }, 2*time.Second, 20*time.Millisecond,
		"the hanging script's child %d survived the timeout", pid)
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	assertCounts(t, st, 1, 0, 0)
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
	t.Parallel()
	s := clienttest.NewStorage(t)
	archiveOf(t, s, "fec03", index.KindSoftware, "Good_DU", "1.0.0", "opt/fesa/Good_DU/1.0.0", map[string]string{"f": "good"}, index.FormatZstd)
	archiveOf(t, s, "fec03", index.KindConfiguration, "evil", "1.0.0", "etc/cron.d", map[string]string{"evil": "* * * * * root sh -c 'id'\n"}, index.FormatZstd)
	archiveOf(t, s, "fec03", index.KindSoftware, "Other_DU", "1.0.0", "opt/other/Other_DU", map[string]string{"f": "other"}, index.FormatGzip)
	s.WriteIndex(t, "fec03", nil)
	ng := testenv.StartNginx(t, s.Dir, testenv.NginxOptions{})
	cfg := testConfig(t, ng.URL, "fec03")
	cfg.AllowedRoots = []string{"opt/fesa"}
	st, err := Boot(context.Background(), cfg)
	var ee *archive.EntryError
	require.ErrorIs(t, err, ErrVerify)
	require.ErrorIs(t, err, archive.ErrUnsafeEntry)
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, ExitVerify, ExitCode(err))
	assertCounts(t, st, 1, 0, 2)
	assert.Equal(t, []string{"fesa/", "fesa/Good_DU/", "fesa/Good_DU/1.0.0/", "fesa/Good_DU/1.0.0/f"}, testkit.Paths(t, filepath.Join(cfg.Root, "opt")))
	assert.NoDirExists(t, filepath.Join(cfg.Root, "etc"))
	assertNoStaging(t, cfg.Root)
}
