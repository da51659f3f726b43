// Package clienttest lays out a web storage for boot-client tests (archives
// built with archive/tar + gzip, INDEX via storage/index, optional signature)
// and runs fec-boot.sh under busybox with nothing from the host on PATH. The
// client tests and the conformance suite share it.
package clienttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
)

// Entry is one tar member. Type is a tar type flag (0 = regular file).
type Entry struct {
	Name     string
	Mode     int64
	Body     string
	Type     byte
	Linkname string
}

// ModTime is the fixed mtime of every member.
var ModTime = time.Unix(1700000000, 0)

// Tar returns the uncompressed tar of the entries, in the given order.
func Tar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, Typeflag: e.Type, Linkname: e.Linkname,
			ModTime: ModTime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TarGz is Tar, gzip-compressed.
func TarGz(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(Tar(t, entries)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Tree returns the entries of a staged install tree below prefix: its parent
// directories, then the files (name relative to prefix -> content) in sorted
// order, the way a packer lays them out.
func Tree(prefix string, files map[string]string) []Entry {
	var out []Entry
	seen := map[string]bool{}
	addDir := func(d string) {
		var parts []string
		for _, p := range strings.Split(d, "/") {
			parts = append(parts, p)
			dir := strings.Join(parts, "/")
			if !seen[dir] {
				seen[dir] = true
				out = append(out, Entry{Name: dir + "/", Type: tar.TypeDir})
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		full := path.Join(prefix, n)
		addDir(path.Dir(full))
		mode := int64(0o644)
		if strings.Contains(n, "bin/") {
			mode = 0o755
		}
		out = append(out, Entry{Name: full, Mode: mode, Body: files[n]})
	}
	return out
}

// Storage is a web-storage tree under construction.
type Storage struct {
	Dir     string
	indexes map[string]*index.Index
}

// NewStorage returns an empty storage in a temp dir.
func NewStorage(t testing.TB) *Storage {
	return &Storage{Dir: t.TempDir(), indexes: map[string]*index.Index{}}
}

// Index returns the (mutable) index of a FEC, created on first use.
func (s *Storage) Index(fec string) *index.Index {
	ix := s.indexes[fec]
	if ix == nil {
		ix = &index.Index{FEC: fec, Arch: "x86_64"}
		s.indexes[fec] = ix
	}
	return ix
}

// Put writes body at e.Path in the storage (if body is not nil), fills in
// SHA256 and Size when empty, and adds e to the FEC's index.
func (s *Storage) Put(t testing.TB, fec string, e index.Entry, body []byte) index.Entry {
	t.Helper()
	if body != nil {
		p := filepath.Join(s.Dir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if e.SHA256 == "" {
			sum := sha256.Sum256(body)
			e.SHA256 = hex.EncodeToString(sum[:])
		}
		if e.Size == 0 {
			e.Size = int64(len(body))
		}
	}
	ix := s.Index(fec)
	ix.Entries = append(ix.Entries, e)
	return e
}

// Software adds a gzip archive as software NAME VERSION of a FEC.
func (s *Storage) Software(t testing.TB, fec, name, version string, entries []Entry) index.Entry {
	t.Helper()
	p := "software/" + name + "/" + version + "/" + name + "-" + version + "-x86_64.tar.gz"
	return s.Put(t, fec, index.Entry{Kind: index.KindSoftware, Name: name, Path: p, Format: index.FormatGzip,
		Version: version, Dev: version == "dev"}, TarGz(t, entries))
}

// Init adds an init script (shared, in fecs/global/) to a FEC.
func (s *Storage) Init(t testing.TB, fec, name, body string) index.Entry {
	t.Helper()
	return s.Put(t, fec, index.Entry{Kind: index.KindInit, Name: name, Path: "fecs/global/" + name}, []byte(body))
}

// WriteIndex writes fecs/<FEC>/INDEX, signed with priv when it is not nil.
func (s *Storage) WriteIndex(t testing.TB, fec string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	data, err := s.Index(fec).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s.WriteRaw(t, "fecs/"+fec+"/INDEX", data)
	if priv != nil {
		s.WriteRaw(t, "fecs/"+fec+"/INDEX.sig", index.Sign(priv, data))
	}
	return data
}

// WriteRaw writes a file into the storage.
func (s *Storage) WriteRaw(t testing.TB, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Shell runs fec-boot.sh with busybox.
type Shell struct {
	Busybox string
	PathDir string // busybox applets (+ extra tools linked in)
	Script  string // the script, written out from client.Script
}

// NewShell prepares a busybox-only PATH; extra names host tools (curl,
// openssl, zstd) to link into it.
func NewShell(t testing.TB, extra ...string) *Shell {
	t.Helper()
	bb, dir := testenv.BusyboxPath(t)
	for _, tool := range extra {
		p := testenv.RequireTool(t, tool)
		dst := filepath.Join(dir, tool)
		_ = os.Remove(dst)
		if err := os.Symlink(p, dst); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(t.TempDir(), client.ScriptName)
	if err := os.WriteFile(script, client.Script, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Shell{Busybox: bb, PathDir: dir, Script: script}
}

// Without removes applets from the PATH (e.g. "curl", "zstd").
func (sh *Shell) Without(t testing.TB, names ...string) {
	for _, n := range names {
		_ = os.Remove(filepath.Join(sh.PathDir, n))
	}
}

// Result is one run of a client.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs `busybox sh fec-boot.sh args...` with env (KEY=VALUE) and
// PATH=<busybox applets> only.
func (sh *Shell) Run(t testing.TB, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(sh.Busybox, append([]string{"sh", sh.Script}, args...)...)
	cmd.Env = append([]string{"PATH=" + sh.PathDir, "HOME=/nonexistent"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running fec-boot.sh: %v", err)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}
