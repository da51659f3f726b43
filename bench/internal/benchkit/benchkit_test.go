package benchkit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Small trees used to fail: the first ELF file bigger than a tree's whole
// budget ended every tree at size 0. A payload of another size is rebuilt,
// not reused.
func TestBuildTreesSizes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "payload")
	for _, mb := range []int64{1, 2} {
		names, err := BuildTrees(dir, mb)
		require.NoError(t, err, "%d MB", mb)
		require.Equal(t, TreeNames, names)
		for _, n := range names {
			files, bytes, err := DirStats(filepath.Join(dir, n))
			require.NoError(t, err)
			assert.Positive(t, files, "%s at %d MB", n, mb)
			assert.GreaterOrEqual(t, bytes, mb<<20*9/10, "%s at %d MB", n, mb)
			if n != TreeNames[5] { // the instance tree ends just past the budget
				assert.LessOrEqual(t, bytes, mb<<20, "%s at %d MB", n, mb)
			}
		}
	}
	_, err := BuildTrees(dir, 0)
	require.Error(t, err)
	_, err = os.Stat(filepath.Join(dir, ".complete"))
	require.NoError(t, err, "a refused size leaves the payload alone")
}
