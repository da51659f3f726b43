package storage

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileArchives are archives with a correct sha256 but content a FEC
// refuses, as a compromised or buggy builder makes them.
func hostileArchives(t *testing.T) map[string][]byte {
	gz := func(es ...clienttest.Entry) []byte { return clienttest.TarGz(t, es) }
	dir := clienttest.Entry{Name: "opt/", Type: tar.TypeDir}
	return map[string][]byte{
		"dotdot":       gz(dir, clienttest.Entry{Name: "opt/../etc/passwd", Body: "x"}),
		"absolute":     gz(clienttest.Entry{Name: "/etc/passwd", Body: "x"}),
		"outside-root": gz(clienttest.Entry{Name: "etc/shadow", Body: "x"}),
		"escape-link":  gz(dir, clienttest.Entry{Name: "opt/l", Type: tar.TypeSymlink, Linkname: "../../etc"}),
		"abs-link":     gz(dir, clienttest.Entry{Name: "opt/l", Type: tar.TypeSymlink, Linkname: "/etc"}),
		"chardev":      gz(dir, clienttest.Entry{Name: "opt/null", Type: tar.TypeChar}),
		"fifo":         gz(dir, clienttest.Entry{Name: "opt/fifo", Type: tar.TypeFifo}),
		"magic-only":   fakeArchive(index.FormatGzip, 200, 7),
	}
}

// placeByHand puts an archive and a matching sidecar into the published
// tree without Publish, the way a hand copy (or a compromised builder with
// write access) does.
func placeByHand(t *testing.T, s *Storage, name, ver string, body []byte) string {
	t.Helper()
	rel := "software/" + name + "/" + ver + "/" + name + "-" + ver + "-x86_64.tar.gz"
	p := filepath.Join(s.Base(), rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, body, 0o644))
	require.NoError(t, os.WriteFile(p+ChecksumSuffix, []byte(sum(body)+"  "+filepath.Base(p)+"\n"), 0o644))
	return rel
}

func TestLinkRefusesHostileArchives(t *testing.T) {
	t.Parallel()
	for name, body := range hostileArchives(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestStorage(t)
			mustAddFEC(t, s, "fec01", "x86_64")
			mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatGzip, 50, 1))
			require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
			rel := placeByHand(t, s, "Foo", "2.0.0", body)
			placeByHand(t, s, "Bar", "1.0.0", body)
			before := snapshot(t, s.Base())

			err := s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0")
			require.ErrorIs(t, err, ErrUnsafeArchive)
			assert.Contains(t, err.Error(), "not linking software Bar 1.0.0 to FEC fec01")
			assert.Contains(t, err.Error(), "republish a fixed build")
			_, err = s.Switch(ctx, "fec01", "Foo", "2.0.0")
			require.ErrorIs(t, err, ErrUnsafeArchive)
			_, err = s.SwitchAll(ctx, "Foo", "2.0.0")
			require.ErrorIs(t, err, ErrUnsafeArchive)
			assert.Equal(t, before, snapshot(t, s.Base()), "nothing changed")

			r, err := s.Verify(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2, r.Count(ProblemUnsafeArchive), "Foo 2.0.0 and Bar 1.0.0 (same bytes, read once, reported at each path): %+v", r.Problems)
			var paths []string
			for _, p := range r.Problems {
				if p.Kind == ProblemUnsafeArchive {
					paths = append(paths, p.Path)
				}
			}
			assert.Contains(t, paths, rel)
		})
	}
}

// An archive placed in a FEC folder by hand (configuration, persistent
// data) is checked through the INDEX that names it.
func TestVerifyChecksFilesInFECFolders(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	bad := hostileArchives(t)["escape-link"]
	require.NoError(t, os.MkdirAll(filepath.Join(s.Base(), "fecs/fec01/persistent-data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.Base(), "fecs/fec01/persistent-data/d.tar.gz"), bad, 0o644))
	require.NoError(t, s.Reindex(ctx))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Count(ProblemUnsafeArchive), "%+v", r.Problems)
	assert.Equal(t, "fecs/fec01/persistent-data/d.tar.gz", r.Problems[0].Path)
	assert.Equal(t, "fec01", r.Problems[0].FEC)
	assert.Contains(t, r.Problems[0].Message, "opt/l")
}

// Each archive is read once: within a run by sha256 (the same bytes under
// two names), and across runs through the state directory's cache.
func TestArchiveCheckCache(t *testing.T) {
	t.Parallel()
	base, state := t.TempDir(), t.TempDir()
	s, err := Init(base, WithStateDir(state))
	require.NoError(t, err)
	mustAddFEC(t, s, "fec01", "x86_64")
	good := blob(index.FormatGzip, 50, 1)
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", good)
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", good)
	placeByHand(t, s, "Evil", "1.0.0", hostileArchives(t)["dotdot"])
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	assert.Equal(t, 1, s.checker.reads, "Foo and Bar are the same bytes")
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemUnsafeArchive))
	assert.Equal(t, 2, s.checker.reads, "only the hostile archive was read again")

	s2, err := Open(base, WithStateDir(state))
	require.NoError(t, err)
	r, err = s2.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemUnsafeArchive), "a failure is never cached across runs")
	assert.Equal(t, 1, s2.checker.reads, "the good archive came from the cache file")
	cache := readFileString(t, filepath.Join(state, CheckCacheFileName))
	assert.Contains(t, cache, sum(good))
	assert.NotContains(t, cache, sum(hostileArchives(t)["dotdot"]))
}

func readFileString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}
