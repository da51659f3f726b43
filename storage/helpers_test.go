package storage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
	"github.com/stretchr/testify/require"
)

// blob returns a real, safe archive in format holding one file of n random
// bytes (opt/blob-<seed>), since Link checks archives with the clients'
// rules; with no format, n random bytes starting with "PLAIN!".
func blob(format index.Format, n int, seed int64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewSource(seed))
	r.Read(b)
	if format.Magic() == nil {
		copy(b, "PLAIN!")
		return b
	}
	return clienttest.Compress(clienttest.Must, format, clienttest.Tar(clienttest.Must, []clienttest.Entry{
		{Name: "opt/", Type: tar.TypeDir},
		{Name: fmt.Sprintf("opt/blob-%d", seed), Body: string(b)},
	}))
}

// fakeArchive is n bytes that only start with the magic of format: what a
// buggy builder might place in the storage by hand.
func fakeArchive(format index.Format, n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	copy(b, format.Magic())
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
	require.NoError(t, err)
	return s
}

func mustPublish(t testing.TB, s *Storage, kind index.Kind, name, ver, arch string, body []byte) Published {
	t.Helper()
	p, err := s.Publish(context.Background(), PublishRequest{Kind: kind, Name: name, Version: version.MustParse(ver), Arch: arch, Body: bytes.NewReader(body)})
	require.NoError(t, err)
	return p
}

func mustAddFEC(t testing.TB, s *Storage, name, arch string, decoders ...string) {
	t.Helper()
	require.NoError(t, s.AddFEC(context.Background(), name, FECConfig{Arch: arch, Decoders: decoders}))
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
	require.NoError(t, err)
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
	require.NoError(t, err)
	ix, err := index.ParseBytes(b)
	require.NoError(t, err)
	return ix
}
