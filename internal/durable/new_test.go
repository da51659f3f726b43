package durable_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/durable"
)

func TestWriteNewNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "k.key")
	require.NoError(t, durable.WriteNew(p, []byte("secret"), 0o600))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	err = durable.WriteNew(p, []byte("other"), 0o644)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.EqualError(t, err, "open "+p+": file exists")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "secret", string(b), "the existing file is kept")
	assert.Equal(t, []string{"k.key"}, names(t, dir), "no temporary file stays behind")

	// A dangling symlink counts as existing: nothing is written through it.
	require.NoError(t, os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "l")))
	require.ErrorIs(t, durable.WriteNew(filepath.Join(dir, "l"), []byte("x"), 0o644), fs.ErrExist)
	assert.NoFileExists(t, filepath.Join(dir, "elsewhere"))
}

func TestWriteNewMissingDir(t *testing.T) {
	t.Parallel()
	err := durable.WriteNew(filepath.Join(t.TempDir(), "missing", "f"), []byte("x"), 0o644)
	require.ErrorIs(t, err, fs.ErrNotExist)
}
