package fec

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
)

// testStorage is a web storage made by the writer's library calls, the same
// ones fec-pack and fecctl make: storage.Init/AddFEC, publish.Release (pack,
// publish, link), AddGlobalScript/LinkInit; every call regenerates the INDEX.
type testStorage struct {
	t   testing.TB
	Dir string
	FEC string
	st  *storage.Storage
	ix  *index.Index // the INDEX as last published
}

func newTestStorage(t testing.TB, fecName string) *testStorage {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddFEC(context.Background(), fecName, storage.FECConfig{Arch: "x86_64"}); err != nil {
		t.Fatal(err)
	}
	s := &testStorage{t: t, Dir: dir, FEC: fecName, st: st}
	s.publish()
	return s
}

// addArchive packs files (relative path → content) as they unpack under
// prefix, publishes the archive and links it to the FEC.
func (s *testStorage) addArchive(kind index.Kind, name, version string, dev bool, prefix string, files map[string]string, format index.Format) index.Entry {
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
	if dev != (version == index.DevVersion) {
		s.t.Fatalf("dev releases have version %q", index.DevVersion)
	}
	arch := "x86_64"
	if kind == index.KindConfiguration {
		arch = ""
	}
	_, err := publish.Release(context.Background(), s.st, publish.Request{
		Kind: kind, Name: name, Version: version, Arch: arch, SourceDir: src, Prefix: prefix,
		Format: format, ModTime: time.Unix(1700000000, 0), Link: []string{s.FEC},
	})
	if err != nil {
		s.t.Fatalf("publishing %s %s %s: %v", kind, name, version, err)
	}
	s.publish()
	e, ok := s.ix.Lookup(kind, name)
	if !ok || e.Version != version || e.Dev != dev {
		s.t.Fatalf("INDEX after publishing %s %s %s: %+v", kind, name, version, e)
	}
	return e
}

// addScript stores a shared script under fecs/global and links it.
func (s *testStorage) addScript(name, content string) index.Entry {
	s.t.Helper()
	ctx := context.Background()
	if err := s.st.AddGlobalScript(ctx, name, strings.NewReader(content)); err != nil {
		s.t.Fatal(err)
	}
	if err := s.st.LinkInit(ctx, s.FEC, name); err != nil {
		s.t.Fatal(err)
	}
	s.publish()
	e, _ := s.ix.Lookup(index.KindInit, name)
	return e
}

// sign makes the storage sign INDEX files with a new key and returns the
// public key.
func (s *testStorage) sign() ed25519.PublicKey {
	s.t.Helper()
	priv, pub := genKey(s.t)
	s.st.SetSigningKey(priv)
	return pub
}

func genKey(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	privPEM, pubPEM, err := index.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := index.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := index.ParsePublicKeys(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, keys[0]
}

// publish regenerates fecs/<FEC>/INDEX (and INDEX.sig when signing) and
// returns its bytes.
func (s *testStorage) publish() []byte {
	s.t.Helper()
	if err := s.st.Reindex(context.Background(), s.FEC); err != nil {
		s.t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, "fecs", s.FEC, index.FileName))
	if err != nil {
		s.t.Fatal(err)
	}
	if s.ix, err = index.ParseBytes(data); err != nil {
		s.t.Fatal(err)
	}
	return data
}

// overwrite replaces a file of the storage behind the tools' back.
func (s *testStorage) overwrite(rel string, data []byte) {
	s.t.Helper()
	p := filepath.Join(s.Dir, filepath.FromSlash(rel))
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
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
