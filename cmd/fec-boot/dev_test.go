package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitArgs(t *testing.T) {
	t.Parallel()
	pos, flags, extra, err := splitArgs([]string{"--root", "/x", "FILE", "-sha256", "abc", "--name=Foo", "--dry-run", "-json"})
	require.NoError(t, err)
	assert.Equal(t, []string{"FILE"}, pos)
	assert.Equal(t, []string{"--root", "/x", "--dry-run"}, flags)
	assert.Equal(t, map[string]string{"sha256": "abc", "name": "Foo", "json": "true"}, extra)
	sub, rest, ok := devCommand([]string{"--root", "dev", "install-archive", "F"})
	require.True(t, ok)
	assert.Equal(t, "install-archive", sub)
	assert.Equal(t, []string{"--root", "dev", "F"}, rest, "a flag's value is not the command")
	_, _, ok = devCommand([]string{"--root", "/x", "install", "software"})
	assert.False(t, ok)
}

// install-archive, dev ls, dev rm through fec-boot's argv, with flags before
// and after the arguments; bad input gives exit 4 and installs nothing.
func TestInstallArchiveCommand(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "opt/fesa/Foo_DU/dev/bin/foo", Mode: 0o755, Size: 3, Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte("foo"))
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	file := filepath.Join(t.TempDir(), "Foo_DU-dev.tar.gz")
	require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
	sum := testkit.SHA256(buf.Bytes())
	root := t.TempDir()
	base := []string{"--cmdline", "none", "--conf", "/dev/null", "--root", root}

	var stdout, stderr bytes.Buffer
	code := run(append([]string{"install-archive", file, "-sha256", "0000000000000000000000000000000000000000000000000000000000000000", "-name", "Foo_DU"}, base...), &stdout, &stderr)
	assert.Equal(t, 4, code, stderr.String())
	assert.Contains(t, stderr.String(), "sha256 mismatch")
	assert.Empty(t, testkit.Paths(t, root), "nothing installed")

	stdout.Reset()
	stderr.Reset()
	code = run(append(append([]string{}, base...), "install-archive", file, "-sha256", sum, "-name", "Foo_DU", "-prefix", "opt/fesa/Foo_DU/dev"), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "installed Foo_DU dev (dev release")
	assert.FileExists(t, filepath.Join(root, "opt/fesa/Foo_DU/dev/bin/foo"))

	stdout.Reset()
	code = run(append([]string{"dev", "ls", "-json"}, base...), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), `"name": "Foo_DU"`)

	stdout.Reset()
	code = run(append([]string{"dev", "rm", "Foo_DU"}, base...), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.NoDirExists(t, filepath.Join(root, "opt/fesa/Foo_DU/dev"))
	code = run(append([]string{"dev", "rm", "Foo_DU"}, base...), &stdout, &stderr)
	assert.Equal(t, 2, code)
}
