package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// blob returns n bytes that start with the magic of format (the storage
// only looks at the magic; the archive package tests real archives).
func blob(format index.Format, n int, seed int64) []byte {
	magic := format.Magic()
	if magic == nil {
		magic = []byte("PLAIN!")
	}
	b := make([]byte, n)
	r := rand.New(rand.NewSource(seed))
	r.Read(b)
	copy(b, magic)
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// noTempGrace makes Clean and Verify treat every unlocked temp file as left
// behind, however young, for tests that kill a writer and look right away.
func noTempGrace(t testing.TB) {
	old := tempGrace
	tempGrace = 0
	t.Cleanup(func() { tempGrace = old })
}

func newTestStorage(t testing.TB) *Storage {
	t.Helper()
	s, err := Init(t.TempDir())
	must(t, err)
	return s
}

func mustPublish(t testing.TB, s *Storage, kind index.Kind, name, ver, arch string, body []byte) Published {
	t.Helper()
	p, err := s.Publish(context.Background(), PublishRequest{Kind: kind, Name: name, Version: version.MustParse(ver), Arch: arch, Body: bytes.NewReader(body)})
	must(t, err)
	return p
}

func mustAddFEC(t testing.TB, s *Storage, name, arch string, decoders ...string) {
	t.Helper()
	must(t, s.AddFEC(context.Background(), name, FECConfig{Arch: arch, Decoders: decoders}))
}

// snapshot records every file, directory and symlink under dir (except the
// lock file, whose content names its last holder): path -> what it is.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == LockName {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			m[rel] = "link " + t
		case d.IsDir():
			m[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = "file " + sum(b)
		}
		return nil
	})
	must(t, err)
	return m
}

// tempFiles lists leftover temporary files under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func readIndex(t testing.TB, s *Storage, fec string) *index.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Base(), FECsDir, fec, index.FileName))
	must(t, err)
	ix, err := index.ParseBytes(b)
	must(t, err)
	return ix
}

// Small assertion helpers (testify's assert needs a go.sum entry for
// go.yaml.in/yaml/v3 that the module does not have; the standard library
// is enough here).

func must(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprint(msg...), err)
	}
}

func wantErr(t testing.TB, err, target error, msg ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", fmt.Sprint(msg...), err, target)
	}
}

func eq(t testing.TB, got, want any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got: %#v\nwant: %#v", fmt.Sprint(msg...), got, want)
	}
}

func contains(t testing.TB, s, sub string, msg ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s: %q does not contain %q", fmt.Sprint(msg...), s, sub)
	}
}

func truth(t testing.TB, ok bool, msg ...any) {
	t.Helper()
	if !ok {
		t.Errorf("%s", fmt.Sprint(msg...))
	}
}
