// Package clienttest is the test kit of the boot clients: the one fake web
// storage (Storage: archives and scripts at the paths an INDEX names,
// fecs/<FEC>/INDEX and INDEX.sig, served by a real nginx or Handler), signing
// keys, hand-made tar members for hostile archives, and Shell, which runs
// fec-boot.sh under busybox with nothing from the host on PATH. The tests
// of fec, cmd/fec-boot, client and conformance share it. Tree listings and
// "nothing was written" checks are internal/testkit's.
package clienttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// T is what the kit needs of a test; *testing.T and *testing.B are one,
// Example functions pass Must.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Must is a T for Example functions: a failure panics.
var Must T = mustT{}

type mustT struct{}

func (mustT) Helper()                           {}
func (mustT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

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
func Tar(t T, entries []Entry) []byte {
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
				t.Fatalf("%v", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("%v", err)
	}
	return b.Bytes()
}

// TarGz is Tar, gzip-compressed.
func TarGz(t T, entries []Entry) []byte {
	t.Helper()
	return Compress(t, index.FormatGzip, Tar(t, entries))
}

// Compress compresses a tar stream in one of the archive formats.
func Compress(t T, format index.Format, tarData []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch format {
	case index.FormatGzip:
		w = gzip.NewWriter(&b)
	case index.FormatZstd:
		w, err = zstd.NewWriter(&b)
	case index.FormatXz:
		w, err = xz.NewWriter(&b)
	default:
		t.Fatalf("compress: unknown format %q", format)
	}
	if err == nil {
		_, err = w.Write(tarData)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatalf("compress %s: %v", format, err)
	}
	return b.Bytes()
}

// Tree returns the entries of a staged install tree below prefix: its parent
// directories, then the files (name relative to prefix -> content) in sorted
// order, the way a packer lays them out. Files in a bin/ directory or
// starting with "#!" are executable.
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
		if strings.Contains(n, "bin/") || strings.HasPrefix(files[n], "#!") {
			mode = 0o755
		}
		out = append(out, Entry{Name: full, Mode: mode, Body: files[n]})
	}
	return out
}

// Storage is a web storage for the boot clients' tests, laid out as the
// writer tools lay it out for the clients: fecs/<FEC>/INDEX (and INDEX.sig),
// the archives and init scripts at the paths the INDEX names. Serve Dir with
// testenv.StartNginx, or Handler in an httptest server.
type Storage struct {
	Dir     string
	mu      sync.Mutex
	indexes map[string]*index.Index
}

// NewStorage returns an empty storage in a temp dir of the test.
func NewStorage(t testing.TB) *Storage {
	return StorageIn(t.TempDir())
}

// StorageIn returns an empty storage in dir, for Example functions, which
// have no test to take a temp dir from.
func StorageIn(dir string) *Storage {
	return &Storage{Dir: dir, indexes: map[string]*index.Index{}}
}

// Index returns the (mutable) index of a FEC, created on first use.
func (s *Storage) Index(fec string) *index.Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indexes[fec]
	if ix == nil {
		ix = &index.Index{FEC: fec, Arch: "x86_64"}
		s.indexes[fec] = ix
	}
	return ix
}

// Put writes body at e.Path in the storage (if body is not nil), fills in
// SHA256 and Size when empty, and adds e to the FEC's index, in place of an
// entry of the same kind and name.
func (s *Storage) Put(t T, fec string, e index.Entry, body []byte) index.Entry {
	t.Helper()
	if body != nil {
		s.WriteRaw(t, e.Path, body)
		if e.SHA256 == "" {
			sum := sha256.Sum256(body)
			e.SHA256 = hex.EncodeToString(sum[:])
		}
		if e.Size == 0 {
			e.Size = int64(len(body))
		}
	}
	ix := s.Index(fec)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range ix.Entries {
		if old.Kind == e.Kind && old.Name == e.Name {
			ix.Entries[i] = e
			return e
		}
	}
	ix.Entries = append(ix.Entries, e)
	return e
}

// Archive adds the entries as an archive (compressed in format) of kind
// NAME VERSION to a FEC, at <kind>/<name>/<version>/<name>-<version>-x86_64.tar.<ext>.
// Version "dev" makes it a dev release.
func (s *Storage) Archive(t T, fec string, kind index.Kind, name, version string, format index.Format, entries []Entry) index.Entry {
	t.Helper()
	p := fmt.Sprintf("%s/%s/%s/%s-%s-x86_64%s", kind, name, version, name, version, format.Extension())
	return s.Put(t, fec, index.Entry{Kind: kind, Name: name, Path: p, Format: format,
		Version: version, Dev: version == index.DevVersion}, Compress(t, format, Tar(t, entries)))
}

// Software adds a gzip archive as software NAME VERSION of a FEC.
func (s *Storage) Software(t T, fec, name, version string, entries []Entry) index.Entry {
	t.Helper()
	return s.Archive(t, fec, index.KindSoftware, name, version, index.FormatGzip, entries)
}

// Init adds an init script (shared, in fecs/global/) to a FEC.
func (s *Storage) Init(t T, fec, name, body string) index.Entry {
	t.Helper()
	return s.Put(t, fec, index.Entry{Kind: index.KindInit, Name: name, Path: "fecs/global/" + name}, []byte(body))
}

// WriteIndex writes fecs/<FEC>/INDEX, and INDEX.sig signed with priv when
// it is not nil, and returns the INDEX.
func (s *Storage) WriteIndex(t T, fec string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	ix := s.Index(fec)
	s.mu.Lock()
	data, err := ix.Marshal()
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("INDEX of %s: %v", fec, err)
	}
	s.WriteRaw(t, index.IndexURLPath(fec), data)
	if priv != nil {
		s.WriteRaw(t, index.SigURLPath(fec), index.Sign(priv, data))
	}
	return data
}

// WriteRaw writes a file into the storage (relative, slash-separated path),
// replacing what is there behind the writer's back.
func (s *Storage) WriteRaw(t T, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	_ = os.Remove(p) // a new inode: nginx's open file cache and ETag see a new file
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("%v", err)
	}
}

// Handler serves the storage as the example nginx configuration does:
// static GET with Range, Last-Modified and 404 for what is missing.
func (s *Storage) Handler() http.Handler {
	return http.FileServer(http.Dir(s.Dir))
}

// Key is an INDEX signing key pair.
type Key struct {
	Private   ed25519.PrivateKey
	Public    ed25519.PublicKey
	PublicPEM []byte
}

// NewKey generates a signing key.
func NewKey(t T) Key {
	t.Helper()
	privPEM, pubPEM, err := index.GenerateKey()
	if err != nil {
		t.Fatalf("%v", err)
	}
	priv, err := index.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatalf("%v", err)
	}
	pubs, err := index.ParsePublicKeys(pubPEM)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return Key{Private: priv, Public: pubs[0], PublicPEM: pubPEM}
}

// KeyFile writes the public keys, in order, into one PEM file in a temp
// dir of the test and returns its path.
func KeyFile(t testing.TB, keys ...Key) string {
	t.Helper()
	var b bytes.Buffer
	for _, k := range keys {
		b.Write(k.PublicPEM)
	}
	p := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
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

// SetClock makes the shell's date answer as if it were epoch (unix seconds),
// as on a FEC without a battery (0, 1970) or with its clock far ahead; the
// script reads the time only through date. A FEC's real clock comes back
// with RealClock.
func (sh *Shell) SetClock(t testing.TB, epoch int64) {
	t.Helper()
	p := filepath.Join(sh.PathDir, "date")
	_ = os.Remove(p)
	script := fmt.Sprintf("#!%s sh\nexec %s date -d @%d \"$@\"\n", sh.Busybox, sh.Busybox, epoch)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// RealClock undoes SetClock.
func (sh *Shell) RealClock(t testing.TB) {
	t.Helper()
	p := filepath.Join(sh.PathDir, "date")
	_ = os.Remove(p)
	if err := os.Symlink(sh.Busybox, p); err != nil {
		t.Fatal(err)
	}
}

// Result is one run of a client.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs `busybox sh fec-boot.sh args...` with env (KEY=VALUE) and
// PATH=<busybox applets> only, in an empty working directory: a path the
// script writes relative to it (a mis-quoted argument) fails the test.
func (sh *Shell) Run(t testing.TB, env []string, args ...string) Result {
	t.Helper()
	cwd := t.TempDir()
	cmd := exec.Command(sh.Busybox, append([]string{"sh", sh.Script}, args...)...)
	cmd.Env = append([]string{"PATH=" + sh.PathDir, "HOME=/nonexistent"}, env...)
	cmd.Dir = cwd
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
	if stray := testkit.Paths(t, cwd); len(stray) > 0 {
		t.Errorf("fec-boot.sh %v wrote into its working directory: %v", args, stray)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}
