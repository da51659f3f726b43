package fec

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/internal/verify"
	"github.com/fair-acc/fecdeploy/storage/index"
)

// testStorage lays out a web-storage tree the way the storage package does
// (archives under software/..., scripts under fecs/global, fecs/<FEC>/INDEX)
// so the client tests do not depend on the writer side.
type testStorage struct {
	t    testing.TB
	Dir  string
	FEC  string
	ix   index.Index
	priv ed25519.PrivateKey
}

func newTestStorage(t testing.TB, fecName string) *testStorage {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fecs", fecName), 0o755); err != nil {
		t.Fatal(err)
	}
	return &testStorage{t: t, Dir: dir, FEC: fecName, ix: index.Index{FEC: fecName, Arch: "x86_64"}}
}

// addArchive packs files (relative path → content) under prefix and adds the
// archive to the INDEX.
func (s *testStorage) addArchive(kind index.Kind, name, version string, dev bool, prefix string, files map[string]string, format archive.Format) index.Entry {
	s.t.Helper()
	src := s.t.TempDir()
	for p, c := range files {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			s.t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(c, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(c), mode); err != nil {
			s.t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	st, err := archive.Pack(context.Background(), &buf, src, archive.PackOptions{Format: format, Prefix: prefix, ModTime: time.Unix(1700000000, 0)})
	if err != nil {
		s.t.Fatal(err)
	}
	rel := path.Join(string(kind), name, version, name+"-"+version+format.Extension())
	s.writeFile(rel, buf.Bytes(), 0o644)
	e := index.Entry{Kind: kind, Name: name, SHA256: st.SHA256, Size: st.Size, Path: rel, Format: string(format), Version: version, Dev: dev}
	s.put(e)
	return e
}

// addScript stores a script under fecs/global and adds it to the INDEX.
func (s *testStorage) addScript(name, content string) index.Entry {
	s.t.Helper()
	rel := path.Join("fecs", "global", name)
	s.writeFile(rel, []byte(content), 0o755)
	sum, n, _ := verify.Digest(strings.NewReader(content))
	e := index.Entry{Kind: index.KindInit, Name: name, SHA256: sum, Size: n, Path: rel}
	s.put(e)
	return e
}

func (s *testStorage) put(e index.Entry) {
	for i, x := range s.ix.Entries {
		if x.Kind == e.Kind && x.Name == e.Name {
			s.ix.Entries[i] = e
			return
		}
	}
	s.ix.Entries = append(s.ix.Entries, e)
}

func (s *testStorage) writeFile(rel string, data []byte, mode fs.FileMode) {
	s.t.Helper()
	full := filepath.Join(s.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(full, data, mode); err != nil {
		s.t.Fatal(err)
	}
}

// sign makes publish write INDEX.sig with a new key; it returns the public key.
func (s *testStorage) sign() ed25519.PublicKey {
	s.t.Helper()
	privPEM, pubPEM, err := index.GenerateKey()
	if err != nil {
		s.t.Fatal(err)
	}
	s.priv, err = index.ParsePrivateKey(privPEM)
	if err != nil {
		s.t.Fatal(err)
	}
	keys, err := index.ParsePublicKeys(pubPEM)
	if err != nil {
		s.t.Fatal(err)
	}
	return keys[0]
}

// publish writes fecs/<FEC>/INDEX (and INDEX.sig when signing).
func (s *testStorage) publish() []byte {
	s.t.Helper()
	data, err := s.ix.Marshal()
	if err != nil {
		s.t.Fatal(err)
	}
	s.writeFile(path.Join("fecs", s.FEC, index.FileName), data, 0o644)
	if s.priv != nil {
		s.writeFile(path.Join("fecs", s.FEC, index.SigFileName), index.Sign(s.priv, data), 0o644)
	}
	return data
}

// testConfig is a Config for a FEC under a temp root with short timeouts.
func testConfig(t testing.TB, baseURL, fecName string) Config {
	root := t.TempDir()
	return Config{
		BaseURL:       baseURL,
		FEC:           fecName,
		Root:          root,
		Retries:       4,
		RetryWaitMin:  20 * time.Millisecond,
		RetryWaitMax:  200 * time.Millisecond,
		RetryAfterCap: 2 * time.Second,
		IdleTimeout:   2 * time.Second,
		Deadline:      20 * time.Second,
		ScriptTimeout: 5 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tree lists every path under dir (relative, slash-separated, directories
// with a trailing slash), for "nothing was written" checks.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
