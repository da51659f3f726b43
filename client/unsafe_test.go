package client_test

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testenv/faultproxy"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onlyState fails when anything but the state directory was written under
// root, or an install was recorded in it.
func onlyState(t *testing.T, root string) {
	t.Helper()
	for _, p := range testkit.Paths(t, root) {
		switch {
		case p == "var/", p == "var/lib/", p == "var/lib/fecdeploy/":
		case strings.HasPrefix(p, "var/lib/fecdeploy/installed/"):
			assert.True(t, strings.HasSuffix(p, "/"), "an install was recorded: %s", p)
		case strings.HasPrefix(p, "var/lib/fecdeploy/"):
		default:
			t.Errorf("written under the root: %s", p)
		}
	}
}

func TestRefusesUnsafeArchives(t *testing.T) {
	t.Parallel()
	good := clienttest.Tree("opt/x", map[string]string{"f": "ok"})
	cases := []struct {
		name    string
		entries []clienttest.Entry
		want    string // in the error message
	}{
		{"dotdot", []clienttest.Entry{{Name: "opt/../../etc/passwd", Body: "x"}}, "\"..\""},
		{"dotdot-inside", append(good[:len(good):len(good)], clienttest.Entry{Name: "opt/x/../../../escape", Body: "x"}), "\"..\""},
		{"absolute", []clienttest.Entry{{Name: "/opt/abs", Body: "x"}}, "absolute name"},
		{"outside-root", []clienttest.Entry{{Name: "etc/passwd", Body: "x"}}, "outside the allowed roots"},
		{"symlink-absolute", []clienttest.Entry{{Name: "opt/l", Type: tar.TypeSymlink, Linkname: "/etc"}}, "absolute path"},
		{"symlink-escapes", []clienttest.Entry{{Name: "opt/a/l", Type: tar.TypeSymlink, Linkname: "../../etc"}}, "resolves outside opt"},
		{"write-through-symlink", []clienttest.Entry{{Name: "opt/l", Type: tar.TypeSymlink, Linkname: "x"}, {Name: "opt/l/f", Body: "x"}}, "written through"},
		{"hardlink", []clienttest.Entry{{Name: "opt/f", Body: "x"}, {Name: "opt/h", Type: tar.TypeLink, Linkname: "opt/f"}}, "hardlink"},
		{"hardlink-out", []clienttest.Entry{{Name: "opt/h", Type: tar.TypeLink, Linkname: "etc/shadow"}}, "hardlink"},
		{"chardev", []clienttest.Entry{{Name: "opt/null", Type: tar.TypeChar}}, "device"},
		{"blockdev", []clienttest.Entry{{Name: "opt/sda", Type: tar.TypeBlock}}, "device"},
		{"fifo", []clienttest.Entry{{Name: "opt/fifo", Type: tar.TypeFifo}}, "FIFO"},
		{"duplicate", []clienttest.Entry{{Name: "opt/f", Body: "1"}, {Name: "opt/f", Body: "2"}}, "twice"},
		{"file-at-root", []clienttest.Entry{{Name: "opt", Body: "x"}}, "allowed root"},
		{"newline-name", []clienttest.Entry{{Name: "opt/a\n-rw-r--r-- 0/0 1 2024-01-01 00:00:00 opt/b", Body: "x"}}, ""},
	}
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	for _, c := range cases {
		st.Software(t, c.name, "Bad", c.name, c.entries)
		st.WriteIndex(t, c.name, nil)
	}
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.name))
			require.Equal(t, 4, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, "software Bad", "the message names the archive")
			assert.Contains(t, r.Stderr, c.want, "the message names the reason")
			onlyState(t, root)
			s := readStatus(t, root)
			assert.Equal(t, 4, s.ExitCode)
			if assert.Len(t, s.Entries, 1) {
				assert.Equal(t, "failed", s.Entries[0].Action)
			}
		})
	}
}

func TestRefusesBadDownloads(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	body := clienttest.TarGz(t, clienttest.Tree("opt/x", map[string]string{"f": "ok"}))
	// Wrong sha256, wrong size, not an archive, a 404 archive.
	e := st.Put(t, "badsum", index.Entry{Kind: index.KindSoftware, Name: "X", Path: "software/X/1/x.tar.gz", Format: "gzip"}, body)
	st.Index("badsum").Entries[0].SHA256 = strings.Repeat("0", 64)
	st.WriteIndex(t, "badsum", nil)
	st.Put(t, "badsize", index.Entry{Kind: index.KindSoftware, Name: "X", Path: e.Path, Format: "gzip", Size: e.Size + 1, SHA256: e.SHA256}, nil)
	st.WriteIndex(t, "badsize", nil)
	st.Put(t, "notgz", index.Entry{Kind: index.KindSoftware, Name: "X", Path: "software/X/2/x.tar.gz", Format: "gzip"}, []byte("plain text, not an archive\n"))
	st.WriteIndex(t, "notgz", nil)
	st.Put(t, "missing", index.Entry{Kind: index.KindSoftware, Name: "X", Path: "software/X/3/x.tar.gz", Format: "gzip", Size: 10, SHA256: e.SHA256}, nil)
	st.WriteIndex(t, "missing", nil)
	st.Put(t, "zstd", index.Entry{Kind: index.KindSoftware, Name: "X", Path: "software/X/4/x.tar.zst", Format: "zstd"}, zstdOf(t, clienttest.Tar(t, clienttest.Tree("opt/z", map[string]string{"f": "zstd"}))))
	st.WriteIndex(t, "zstd", nil)
	st.WriteRaw(t, "fecs/malformed/INDEX", []byte("fecdeploy-index 1 fec=malformed arch=x86_64\nsoftware X  0 0 a format=gzip\n"))
	st.WriteRaw(t, "fecs/otherfec/INDEX", []byte("fecdeploy-index 1 fec=fec99 arch=x86_64\n"))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})

	for _, c := range []struct {
		fec, want string
		code      int
	}{
		{"badsum", "sha256 mismatch", 4},
		{"badsize", "size mismatch", 4},
		{"notgz", "unknown compression format", 4},
		{"missing", "HTTP 404", 5},
		{"zstd", "no zstd binary", 5},
		{"malformed", "empty field", 4},
		{"otherfec", "is for FEC fec99", 4},
		{"unknown", "is not known to the storage", 3},
	} {
		t.Run(c.fec, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.fec))
			require.Equal(t, c.code, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, c.want)
			onlyState(t, root)
			assert.Equal(t, c.code, readStatus(t, root).ExitCode, "status exit_code")
		})
	}
	t.Run("zstd-with-zstd", func(t *testing.T) {
		t.Parallel()
		sh := clienttest.NewShell(t, "zstd")
		root := t.TempDir()
		r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC=zstd"))
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.Equal(t, "zstd", testkit.ReadFile(t, filepath.Join(root, "opt/z/f")))
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		start := time.Now()
		r := sh.Run(t, env("http://127.0.0.1:1", root, "FECDEPLOY_RETRIES=1", "FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=20s"))
		assert.Equal(t, 3, r.Code, "at the deadline\n%s", r.Stderr)
		assert.Contains(t, r.Stderr, "attempt 1 failed")
		assert.Contains(t, r.Stderr, "no INDEX for FEC \"fec01\" within the deadline of 20s")
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Second)
	})
	t.Run("no-url", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		r := sh.Run(t, []string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_ROOT=" + root})
		assert.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "no base URL")
		assert.Empty(t, testkit.Paths(t, root), "a configuration error writes nothing")
	})
}

func zstdOf(t *testing.T, data []byte) []byte {
	t.Helper()
	z := testenv.RequireTool(t, "zstd")
	cmd := exec.Command(z, "-q", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

func TestConfigSources(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fromcmdline", "A", "1.0.0", clienttest.Tree("opt/a", map[string]string{"f": "cmdline"}))
	st.WriteIndex(t, "fromcmdline", nil)
	st.Software(t, "fromconf", "A", "2.0.0", clienttest.Tree("srv/a", map[string]string{"f": "conf"}))
	st.WriteIndex(t, "fromconf", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "fecdeploy.conf")
	cmdline := filepath.Join(dir, "cmdline")
	require.NoError(t, os.WriteFile(conf, []byte("# test\nurl = http://127.0.0.1:1\nfec=fromconf\nallowed_roots = srv\nretries=0\nstart_jitter=0\n"), 0o644))
	require.NoError(t, os.WriteFile(cmdline, []byte("console=ttyS0 fecdeploy.url="+ng.URL+" quiet\n"), 0o644))

	root := t.TempDir()
	// url from the command line beats the file; fec and allowed roots from the file.
	r := sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=" + cmdline}, "--root", root)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, "conf", testkit.ReadFile(t, filepath.Join(root, "srv/a/f")))
	// the environment beats the command line and the file; a flag beats the environment.
	root = t.TempDir()
	r = sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=" + cmdline, "FECDEPLOY_FEC=fromconf",
		"FECDEPLOY_ALLOWED_ROOTS=srv"}, "--root="+root, "--fec", "fromcmdline", "-allowed-roots", "opt")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, "cmdline", testkit.ReadFile(t, filepath.Join(root, "opt/a/f")))
	// an unknown key in the file is a configuration error, and changes nothing
	require.NoError(t, os.WriteFile(conf, []byte("urll=x\n"), 0o644))
	before := testkit.Snapshot(t, root)
	r = sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=none"}, "--root", root)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "unknown key \"urll\"")
	assert.Equal(t, before, testkit.Snapshot(t, root))
	// an unknown flag too
	r = sh.Run(t, nil, "--bogus")
	assert.Equal(t, 2, r.Code, r.Stderr)
	// a value that is not a duration or a boolean ends the run with 2, as in
	// the Go client, before anything is asked or written (it used to be
	// reported from a subshell and the boot went on without the setting)
	before, requests := testkit.Snapshot(t, root), ng.AccessLog()
	for _, c := range []struct{ env, want string }{
		{"FECDEPLOY_DEADLINE=soon", `deadline="soon" is not a duration`},
		{"FECDEPLOY_RETRY_WAIT_MAX=5x", `retry_wait_max="5x" is not a duration`},
		{"FECDEPLOY_DRY_RUN=maybe", `dry_run="maybe" is not a boolean`},
		{"FECDEPLOY_KEEP_PREVIOUS=2", `keep_previous="2" is not a boolean`},
	} {
		r = sh.Run(t, []string{"FECDEPLOY_CONF=/dev/null", "FECDEPLOY_CMDLINE=none", "FECDEPLOY_URL=" + ng.URL,
			"FECDEPLOY_FEC=fromconf", "FECDEPLOY_START_JITTER=0", c.env}, "--root", root)
		assert.Equal(t, 2, r.Code, "%s: %s", c.env, r.Stderr)
		assert.Contains(t, r.Stderr, c.want, c.env)
		assert.NotContains(t, r.Stderr, "INDEX", "%s: nothing is fetched", c.env)
		assert.Equal(t, before, testkit.Snapshot(t, root), "%s: nothing is written", c.env)
	}
	assert.Equal(t, requests, ng.AccessLog(), "no request after a bad setting")
}

func TestSignature(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	k1, k2 := clienttest.NewKey(t), clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	for _, fec := range []string{"signed", "unsigned", "badsig"} {
		st.Software(t, fec, "S", fec, clienttest.Tree("opt/s", map[string]string{"f": fec}))
		if fec == "unsigned" {
			st.WriteIndex(t, fec, nil)
		} else {
			st.WriteIndex(t, fec, k1.Private)
		}
	}
	st.WriteRaw(t, "fecs/badsig/INDEX.sig", bytes.Repeat([]byte{1}, 64))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	both := clienttest.KeyFile(t, k2, k1) // rotation: the signing key second
	only2 := clienttest.KeyFile(t, k2)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, c := range []struct {
		name, fec, keys string
		code            int
		want            string
	}{
		{"signed", "signed", both, 0, ""},
		{"two files", "signed", only2 + "," + both, 0, ""},
		{"untrusted", "signed", only2, 4, "does not verify with any trusted key"},
		{"bad signature", "badsig", both, 4, "does not verify"},
		{"unsigned", "unsigned", both, 4, "not signed"},
		{"missing key file", "signed", missing, 2, "missing.pem"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.fec, "FECDEPLOY_PUBLIC_KEYS="+c.keys))
			assert.Equal(t, c.code, r.Code, r.Stderr)
			assert.Contains(t, r.Stderr, c.want)
			if c.code != 0 {
				onlyState(t, root)
			}
		})
	}
	t.Run("no openssl", func(t *testing.T) {
		t.Parallel()
		// A key but no openssl: a clear configuration error.
		sh := clienttest.NewShell(t)
		r := sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC=signed", "FECDEPLOY_PUBLIC_KEYS="+both))
		assert.Equal(t, 2, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "no openssl binary")
	})
}

// A reindex replaces INDEX, then INDEX.sig: a FEC fetching between the two
// renames sees a pair that does not match. The script fetches both again
// instead of refusing to boot, as the Go client does.
func TestSignatureRaceWithReindex(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t, "openssl")
	key := clienttest.NewKey(t)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "S", "1.0.0", clienttest.Tree("opt/s", map[string]string{"f": "x"}))
	st.WriteIndex(t, "fec01", key.Private)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	// The first INDEX.sig is a signature over other bytes: fetched between
	// the two renames of a reindex.
	p := faultproxy.Start(t, ng.URL, &faultproxy.Rule{Path: "/fecs/fec01/INDEX.sig", Times: 1, Kind: faultproxy.Replay,
		Recorded: faultproxy.Recorded{"/fecs/fec01/INDEX.sig": {Status: 200, Body: bytes.Repeat([]byte{7}, 64)}}})
	root := t.TempDir()
	r := sh.Run(t, append(env(p.URL, root), "FECDEPLOY_PUBLIC_KEYS="+clienttest.KeyFile(t, key)))
	require.Equal(t, 0, r.Code, "boot during a reindex\n%s", r.Stderr)
	assert.Contains(t, r.Stderr, "fetching INDEX and signature again")
	assert.Equal(t, 2, p.Count("/fecs/fec01/INDEX"), "INDEX requests")
	assert.Equal(t, 2, p.Count("/fecs/fec01/INDEX.sig"), "INDEX.sig requests")
	assert.Equal(t, "x", testkit.ReadFile(t, filepath.Join(root, "opt/s/f")))
}

func TestRetries(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.WriteRaw(t, "fecs/busy/INDEX", []byte("unused\n"))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{Extra: "location = /fecs/busy/INDEX { return 503; }\n" +
		"location = /fecs/teapot/INDEX { return 501; }"})
	t.Run("503 is retried", func(t *testing.T) {
		t.Parallel()
		// retries=2: three attempts a round, full-jitter backoff, further
		// rounds until the deadline (as the Go client), then 3.
		r := sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC=busy", "FECDEPLOY_RETRIES=2",
			"FECDEPLOY_RETRY_WAIT_MAX=1", "FECDEPLOY_DEADLINE=45s"))
		assert.Equal(t, 3, r.Code, r.Stderr)
		assert.GreaterOrEqual(t, strings.Count(r.Stderr, "failed (GET"), 2, r.Stderr)
		assert.Contains(t, r.Stderr, "within the deadline of 45s")
		assert.GreaterOrEqual(t, strings.Count(ng.AccessLog(), "/fecs/busy/INDEX"), 3, ng.AccessLog())
	})
	// 404 and 501 are final: one request each.
	for _, fec := range []string{"nosuchfec", "teapot"} {
		t.Run(fec, func(t *testing.T) {
			t.Parallel()
			r := sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC="+fec, "FECDEPLOY_RETRIES=5"))
			assert.Equal(t, 3, r.Code, r.Stderr)
			assert.Equal(t, 1, strings.Count(ng.AccessLog(), "/fecs/"+fec+"/INDEX"), "requests")
		})
	}
}
