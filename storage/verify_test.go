package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerify(t *testing.T) {
	noTempGrace(t)
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustAddFEC(t, s, "ppc01", "ppc")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Bar", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindSoftware, "Baz", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Bar", "1.0.0"))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems, "a fresh storage has problems")
	assert.Equal(t, 2, r.FECs)
	assert.Equal(t, 3, r.Archives)

	base := s.Base()
	// Break things by hand.
	w := func(rel string, data []byte) { require.NoError(t, os.WriteFile(filepath.Join(base, rel), data, 0o644)) }
	w("software/Baz/1.0.0/Baz-1.0.0-x86_64.tar.zst", blob(index.FormatZstd, 100, 99))                        // changed after publishing
	require.NoError(t, os.Remove(filepath.Join(base, "software/Bar/1.0.0/Bar-1.0.0-x86_64.tar.zst.sha256"))) // sidecar lost
	w("software/Bar/1.0.0/notes.txt", []byte("hi"))                                                          // unknown
	require.NoError(t, os.Symlink("../../../software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/ppc01/software/Foo")))
	require.NoError(t, os.Symlink("../../../software/Gone/1.0.0/Gone-1.0.0-x86_64.tar.zst", filepath.Join(base, "fecs/fec01/software/Gone")))
	w("fecs/fec01/stray", nil)
	require.NoError(t, os.Mkdir(filepath.Join(base, "fecs/fec 02"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(base, "fecs/fec03"), 0o755))
	w("fecs/fec03/INDEX", []byte("garbage"))
	// A changed INDEX entry: size.
	ib, _ := os.ReadFile(filepath.Join(base, "fecs/fec01/INDEX"))
	fooSize := len(blob(index.FormatZstd, 100, 1))
	w("fecs/fec01/INDEX", bytes.Replace(ib, []byte(fmt.Sprintf(" %d software/Foo", fooSize)), []byte(fmt.Sprintf(" %d software/Foo", fooSize+1)), 1))
	w("software/"+tmpPrefix+"leftover", []byte("x"))

	r, err = s.Verify(ctx)
	require.NoError(t, err)
	for k, want := range map[ProblemKind]int{
		ProblemHashMismatch:    1, // Baz vs sidecar
		ProblemMissingChecksum: 1,
		ProblemUnknownFile:     3, // notes.txt, stray, fec03 without fec.conf
		ProblemBadName:         1, // "fec 02"
		ProblemArchMismatch:    1,
		ProblemDanglingLink:    1,
		ProblemSizeMismatch:    1,
		ProblemTempFile:        1,
	} {
		if got := r.Count(k); got != want {
			t.Errorf("%s: %d problems, want %d", k, got, want)
		}
	}
	for _, p := range r.Problems {
		assert.True(t, p.Path != "" && p.Message != "" && p.Fix != "", fmt.Sprint("incomplete problem: ", p))
	}
	js, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"kind":"arch-mismatch"`)
	assert.Contains(t, string(js), `"fix":`)

	// Stale: relink by hand to another version, same arch.
	s2 := newTestStorage(t)
	mustAddFEC(t, s2, "fec01", "x86_64")
	mustPublish(t, s2, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s2, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	require.NoError(t, s2.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	l := filepath.Join(s2.Base(), "fecs/fec01/software/Foo")
	require.NoError(t, os.Remove(l))
	require.NoError(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", l))
	r, err = s2.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Count(ProblemStaleIndex))
	require.Len(t, r.Problems, 1, r.Problems)
	require.NoError(t, s2.Reindex(ctx))
	r, _ = s2.Verify(ctx)
	assert.Equal(t, []Problem{}, r.Problems)
}
