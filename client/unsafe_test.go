package client_test

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
)

// onlyState fails when anything but the state directory was written under root.
func onlyState(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".", rel == "var", rel == "var/lib", rel == "var/lib/fecdeploy":
			return nil
		case strings.HasPrefix(rel, "var/lib/fecdeploy/"):
			if strings.HasPrefix(rel, "var/lib/fecdeploy/installed/") && !d.IsDir() {
				t.Errorf("an install was recorded: %s", rel)
			}
			return nil
		}
		t.Errorf("written under the root: %s", rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRefusesUnsafeArchives(t *testing.T) {
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
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.name))
			if r.Code != 4 {
				t.Fatalf("exit %d, want 4\n%s", r.Code, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "software Bad") || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("message does not name the archive or the reason %q:\n%s", c.want, r.Stderr)
			}
			onlyState(t, root)
			s := readStatus(t, root)
			if len(s.Entries) != 1 || s.Entries[0].Action != "failed" || s.ExitCode != 4 {
				t.Errorf("status: %+v", s)
			}
		})
	}
}

func TestRefusesBadDownloads(t *testing.T) {
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
			root := t.TempDir()
			r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.fec))
			if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.Code, c.code, c.want, r.Stderr)
			}
			onlyState(t, root)
			if s := readStatus(t, root); s.ExitCode != c.code {
				t.Errorf("status exit_code %d", s.ExitCode)
			}
		})
	}
	t.Run("zstd-with-zstd", func(t *testing.T) {
		sh := clienttest.NewShell(t, "zstd")
		root := t.TempDir()
		r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC=zstd"))
		if r.Code != 0 || readFile(t, filepath.Join(root, "opt/z/f")) != "zstd" {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		root := t.TempDir()
		r := sh.Run(t, env("http://127.0.0.1:1", root, "FECDEPLOY_RETRIES=1", "FECDEPLOY_RETRY_WAIT_MAX=1"))
		if r.Code != 3 || !strings.Contains(r.Stderr, "attempt 1 failed") {
			t.Fatalf("exit %d, want 3 after one retry:\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("no-url", func(t *testing.T) {
		r := sh.Run(t, []string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_ROOT=" + t.TempDir()})
		if r.Code != 2 || !strings.Contains(r.Stderr, "no base URL") {
			t.Fatalf("exit %d, want 2:\n%s", r.Code, r.Stderr)
		}
	})
}

func zstdOf(t *testing.T, data []byte) []byte {
	t.Helper()
	z := testenv.RequireTool(t, "zstd")
	cmd := exec.Command(z, "-q", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConfigSources(t *testing.T) {
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
	os.WriteFile(conf, []byte("# test\nurl = http://127.0.0.1:1\nfec=fromconf\nallowed_roots = srv\nretries=0\nstart_jitter=0\n"), 0o644)
	os.WriteFile(cmdline, []byte("console=ttyS0 fecdeploy.url="+ng.URL+" quiet\n"), 0o644)

	root := t.TempDir()
	// url from the command line beats the file; fec and allowed roots from the file.
	r := sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=" + cmdline}, "--root", root)
	if r.Code != 0 || readFile(t, filepath.Join(root, "srv/a/f")) != "conf" {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	// the environment beats the command line and the file; a flag beats the environment.
	root = t.TempDir()
	r = sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=" + cmdline, "FECDEPLOY_FEC=fromconf",
		"FECDEPLOY_ALLOWED_ROOTS=srv"}, "--root="+root, "--fec", "fromcmdline", "-allowed-roots", "opt")
	if r.Code != 0 || readFile(t, filepath.Join(root, "opt/a/f")) != "cmdline" {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	// an unknown key in the file is a configuration error
	os.WriteFile(conf, []byte("urll=x\n"), 0o644)
	r = sh.Run(t, []string{"FECDEPLOY_CONF=" + conf, "FECDEPLOY_CMDLINE=none"}, "--root", root)
	if r.Code != 2 || !strings.Contains(r.Stderr, "unknown key \"urll\"") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	// an unknown flag too
	r = sh.Run(t, nil, "--bogus")
	if r.Code != 2 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
}

func TestSignature(t *testing.T) {
	sh := clienttest.NewShell(t, "openssl")
	priv1, pub1, err := index.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, pub2, _ := index.GenerateKey()
	k1, _ := index.ParsePrivateKey(priv1)
	st := clienttest.NewStorage(t)
	for _, fec := range []string{"signed", "unsigned", "badsig"} {
		st.Software(t, fec, "S", fec, clienttest.Tree("opt/s", map[string]string{"f": fec}))
		if fec == "unsigned" {
			st.WriteIndex(t, fec, nil)
		} else {
			st.WriteIndex(t, fec, k1)
		}
	}
	st.WriteRaw(t, "fecs/badsig/INDEX.sig", bytes.Repeat([]byte{1}, 64))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	dir := t.TempDir()
	both := filepath.Join(dir, "both.pem") // rotation: the signing key second
	os.WriteFile(both, append(append([]byte{}, pub2...), pub1...), 0o644)
	only2 := filepath.Join(dir, "k2.pem")
	os.WriteFile(only2, pub2, 0o644)
	for _, c := range []struct {
		fec, keys string
		code      int
		want      string
	}{
		{"signed", both, 0, ""},
		{"signed", only2 + "," + both, 0, ""},
		{"signed", only2, 4, "does not verify with any trusted key"},
		{"badsig", both, 4, "does not verify"},
		{"unsigned", both, 4, "not signed"},
		{"signed", filepath.Join(dir, "missing.pem"), 2, "missing.pem"},
	} {
		root := t.TempDir()
		r := sh.Run(t, append(env(ng.URL, root), "FECDEPLOY_FEC="+c.fec, "FECDEPLOY_PUBLIC_KEYS="+c.keys))
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%s with %s: exit %d, want %d %q\n%s", c.fec, filepath.Base(c.keys), r.Code, c.code, c.want, r.Stderr)
		}
		if c.code != 0 {
			onlyState(t, root)
		}
	}
	// A key but no openssl: a clear configuration error.
	sh.Without(t, "openssl")
	r := sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC=signed", "FECDEPLOY_PUBLIC_KEYS="+both))
	if r.Code != 2 || !strings.Contains(r.Stderr, "no openssl binary") {
		t.Errorf("without openssl: exit %d\n%s", r.Code, r.Stderr)
	}
}

// A reindex replaces INDEX, then INDEX.sig: a FEC fetching between the two
// renames sees a pair that does not match. The script fetches both again
// instead of refusing to boot, as the Go client does.
func TestSignatureRaceWithReindex(t *testing.T) {
	sh := clienttest.NewShell(t, "openssl")
	priv, pub, err := index.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := index.ParsePrivateKey(priv)
	st := clienttest.NewStorage(t)
	st.Software(t, "fec01", "S", "1.0.0", clienttest.Tree("opt/s", map[string]string{"f": "x"}))
	st.WriteIndex(t, "fec01", k)
	srv := testenv.StartReindexRace(t, st.Dir)
	keyFile := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(keyFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	r := sh.Run(t, append(env(srv.URL, root), "FECDEPLOY_PUBLIC_KEYS="+keyFile))
	if r.Code != 0 || !strings.Contains(r.Stderr, "fetching INDEX and signature again") {
		t.Fatalf("boot during a reindex: exit %d\n%s", r.Code, r.Stderr)
	}
	if srv.IndexRequests.Load() != 2 || srv.SigRequests.Load() != 2 {
		t.Fatalf("INDEX fetched %d times, INDEX.sig %d times; want 2 and 2", srv.IndexRequests.Load(), srv.SigRequests.Load())
	}
	if b, err := os.ReadFile(filepath.Join(root, "opt/s/f")); err != nil || string(b) != "x" {
		t.Fatalf("not installed: %v", err)
	}
}

func TestRetries(t *testing.T) {
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.WriteRaw(t, "fecs/busy/INDEX", []byte("unused\n"))
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{Extra: "location = /fecs/busy/INDEX { return 503; }\n" +
		"location = /fecs/teapot/INDEX { return 501; }"})
	// 503 is retried (retries=2: three attempts, full-jitter backoff), then 3.
	r := sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC=busy", "FECDEPLOY_RETRIES=2"))
	if r.Code != 3 || strings.Count(r.Stderr, "failed (GET") != 2 || strings.Count(ng.AccessLog(), "/fecs/busy/INDEX") != 3 {
		t.Errorf("503: exit %d, want 3 after 3 attempts\n%s\n%s", r.Code, r.Stderr, ng.AccessLog())
	}
	// 404 and 501 are final: one request each.
	for _, fec := range []string{"nosuchfec", "teapot"} {
		r = sh.Run(t, append(env(ng.URL, t.TempDir()), "FECDEPLOY_FEC="+fec, "FECDEPLOY_RETRIES=5"))
		if r.Code != 3 || strings.Count(ng.AccessLog(), "/fecs/"+fec+"/INDEX") != 1 {
			t.Errorf("%s: exit %d, want 3 after one request\n%s", fec, r.Code, r.Stderr)
		}
	}
}
