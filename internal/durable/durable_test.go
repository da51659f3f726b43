package durable_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/durable"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, durable.WriteFile(p, []byte("old"), 0o600))
	require.NoError(t, durable.WriteFile(p, []byte("new content"), 0o644))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "new content", string(b))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	assert.Equal(t, []string{"f"}, names(t, dir), "no temporary file stays behind")
}

func TestWriteFromFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, durable.WriteFile(p, []byte("good"), 0o644))
	boom := errors.New("boom")
	err := durable.WriteFrom(p, 0o644, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "good", string(b), "a failed write leaves the old file")
	assert.Equal(t, []string{"f"}, names(t, dir))
}

func TestCreateCommitAbort(t *testing.T) {
	dir := t.TempDir()
	f, err := durable.Create(dir, "x", durable.Options{Prefix: ".p-", Lock: true})
	require.NoError(t, err)
	assert.Regexp(t, `^\.p-x-`, filepath.Base(f.Name()))
	_, err = f.WriteString("data")
	require.NoError(t, err)
	require.NoError(t, f.Commit("final", 0o640))
	f.Abort() // no-op after Commit
	assert.Equal(t, []string{"final"}, names(t, dir))
	require.Error(t, f.Commit("again", 0o640), "a second Commit is refused")

	g, err := durable.Create(dir, "y", durable.Options{})
	require.NoError(t, err)
	g.Abort()
	assert.Equal(t, []string{"final"}, names(t, dir), "Abort removes the temporary file")
}

func TestCommitIntoMissingDirFails(t *testing.T) {
	_, err := durable.Create(filepath.Join(t.TempDir(), "missing"), "x", durable.Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSymlinkSwitchAndRemove(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, durable.Symlink("a", dir, "l", durable.Options{}))
	require.NoError(t, durable.Symlink("b", dir, "l", durable.Options{}))
	target, err := os.Readlink(filepath.Join(dir, "l"))
	require.NoError(t, err)
	assert.Equal(t, "b", target)
	assert.Equal(t, []string{"l"}, names(t, dir))
	require.NoError(t, durable.Remove(dir, "l"))
	require.NoError(t, durable.Remove(dir, "l"), "removing a missing file is not an error")
	assert.Empty(t, names(t, dir))
}
