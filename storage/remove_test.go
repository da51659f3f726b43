package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRemoveVersion(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))

	before := snapshot(t, s.Base())
	err := s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), "fecs/fec01/software/Foo")
	assert.Equal(t, before, snapshot(t, s.Base()))
	require.ErrorIs(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "9.0.0"), ErrNotFound)

	// An INDEX that still names it (link changed by hand, no reindex) also keeps it.
	link := filepath.Join(s.Base(), "fecs/fec01/software/Foo")
	require.NoError(t, os.Remove(link))
	require.NoError(t, os.Symlink("../../../software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", link))
	err = s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0")
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), "INDEX of fec01")

	require.NoError(t, s.Reindex(ctx, "fec01"))
	require.NoError(t, s.RemoveVersion(ctx, index.KindSoftware, "Foo", "1.0.0"))
	vs, err := s.Versions(ctx, index.KindSoftware, "Foo")
	require.NoError(t, err)
	assert.Equal(t, []string{"2.0.0"}, vs)
	assert.Equal(t, 0, len(tempFiles(t, s.Base())))
	r, err := s.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Problem{}, r.Problems)
}
