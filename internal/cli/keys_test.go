package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
)

func TestWriteKeyPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "etc", "signing")
	keyPath, pubPath, err := WriteKeyPair(prefix)
	require.NoError(t, err)
	assert.Equal(t, prefix+".key", keyPath)
	assert.Equal(t, prefix+".pub", pubPath)
	st, err := os.Stat(keyPath)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm(), "the private key is readable by its owner only")

	key, err := LoadSigningKey(keyPath)
	require.NoError(t, err)
	pubs, err := index.ParsePublicKeys([]byte(testkit.ReadFile(t, pubPath)))
	require.NoError(t, err)
	sig := index.Sign(key, []byte("INDEX"))
	require.NoError(t, index.VerifySignature([]byte("INDEX"), sig, pubs), "the two halves belong together")

	// A second keygen refuses and changes nothing.
	before := testkit.Snapshot(t, dir)
	_, _, err = WriteKeyPair(prefix)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.Contains(t, err.Error(), "refusing to overwrite")
	assert.Equal(t, before, testkit.Snapshot(t, dir))
}

// When only the public half exists, no private key is left behind alone.
func TestWriteKeyPairNoHalfPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testkit.WriteTree(t, dir, map[string]string{"signing.pub": "someone else's key\n"})
	before := testkit.Snapshot(t, dir)
	_, _, err := WriteKeyPair(filepath.Join(dir, "signing"))
	require.ErrorIs(t, err, fs.ErrExist)
	assert.Equal(t, before, testkit.Snapshot(t, dir))
}

func TestLoadSigningKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := LoadSigningKey(filepath.Join(dir, "missing.key"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "missing.key")

	bad := filepath.Join(dir, "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, err = LoadSigningKey(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.key")
}

func TestWriteNewMakesDirsAndRefusesOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "img", "usr", "sbin", "fec-boot.sh")
	require.NoError(t, WriteNew(p, []byte("#!/bin/sh\n"), 0o755))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), st.Mode().Perm())
	err = WriteNew(p, []byte("other"), 0o755)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.EqualError(t, err, "open "+p+": file exists (refusing to overwrite)")
	assert.Equal(t, "#!/bin/sh\n", testkit.ReadFile(t, p))
}
