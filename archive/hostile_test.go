package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// longRoot is a destination root whose own path is about n bytes long.
func longRoot(t *testing.T, n int) string {
	root := t.TempDir()
	for len(root) < n {
		root = filepath.Join(root, strings.Repeat("r", 200))
	}
	require.NoError(t, os.MkdirAll(root, 0o755))
	return root
}

// deepLongArchive has a version directory 16 components of 250 bytes deep
// (about 4,000 bytes of name: within the limits, but past PATH_MAX once a
// long root is put in front of it).
func deepLongArchive(t *testing.T) ([]byte, string) {
	d := "opt/Deep"
	for i := 0; i < 15; i++ {
		d += "/" + strings.Repeat(string(rune('a'+i)), 250)
	}
	ents := []ent{dir(d + "/"), reg(d+"/file", "deep content"), sym(d+"/link", "file"),
		{name: d + "/ro/", typ: tar.TypeDir, mode: 0o555}, reg(d+"/ro/inside", "x")}
	return gz(t, rawTar(t, true, ents...)), d
}

// A tree whose paths pass PATH_MAX only with the root in front commits
// whole (every system call is relative to an open directory) and leaves no
// staging directory.
func TestCommitDeepLongPaths(t *testing.T) {
	t.Parallel()
	data, dir := deepLongArchive(t)
	root := longRoot(t, 1000)
	require.Greater(t, len(root)+len(dir), 4096, "the test needs paths past PATH_MAX")
	_, err := Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	rt, err := os.OpenRoot(root)
	require.NoError(t, err)
	defer rt.Close()
	f, err := rt.Open(dir + "/link")
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, "deep content", string(b))
	fi, err := rt.Stat(dir + "/ro")
	require.NoError(t, err)
	assert.Equal(t, "dr-xr-xr-x", fi.Mode().String())
	des, err := os.ReadDir(filepath.Join(root, "opt"))
	require.NoError(t, err)
	require.Len(t, des, 1, "only opt/Deep in opt: %v", des)
	assert.Equal(t, "Deep", des[0].Name())
	// and it can be removed again (RemoveTree works relative too)
	require.NoError(t, RemoveTree(filepath.Join(root, "opt")))
	assert.NoDirExists(t, filepath.Join(root, "opt"))
}

// A commit that fails at its first rename (the destination directory is
// another filesystem: EXDEV) leaves the destination exactly as it was: no
// staging directory, no directories created for the archive.
func TestFailedCommitLeavesNothing(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "mounting a tmpfs needs root")
	}
	root := longRoot(t, 900)
	mnt := filepath.Join(root, "opt", "mnt")
	require.NoError(t, os.MkdirAll(mnt, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	deep := "opt/mnt/new"
	for i := 0; i < 14; i++ {
		deep += "/" + strings.Repeat(string(rune('a'+i)), 250)
	}
	data := gz(t, rawTar(t, true, reg(deep+"/file", "x"), reg("opt/other/file", "y")))
	before := testkit.Snapshot(t, root)
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	_, err = s.Commit()
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "cross-device")
	assert.Contains(t, err.Error(), "nothing was changed")
	assert.Equal(t, before, testkit.Snapshot(t, root), "the failed commit left something behind")
}

// Modes are clamped: no group or other write, no setuid, setgid, sticky.
func TestModesClamped(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "world-writable.tar.gz"))
	require.NoError(t, err)
	root := t.TempDir()
	_, err = Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	s := testkit.Snapshot(t, root)
	for name, want := range map[string]string{"opt/ww": "dir 755", "opt/ww/sticky": "dir 755", "opt/ww/setgid": "dir 755"} {
		assert.Equal(t, want, s[name], name)
	}
	for name, want := range map[string]string{"opt/ww/f": "file 644 ", "opt/ww/x": "file 755 ", "opt/ww/g": "file 755 "} {
		assert.True(t, strings.HasPrefix(s[name], want), "%s: %s, want %s", name, s[name], want)
	}
}

// The same modes whatever the umask: files and directories are created
// with their final mode and get a chmod when the umask takes bits away.
func TestModesIndependentOfUmask(t *testing.T) {
	// not parallel: the umask is the process's
	old := umaskSet(0o077)
	defer umaskSet(old)
	data, err := os.ReadFile(filepath.Join("testdata", "world-writable.tar.gz"))
	require.NoError(t, err)
	root := t.TempDir()
	_, err = Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	s := testkit.Snapshot(t, root)
	assert.Equal(t, "dir 755", s["opt/ww"])
	assert.True(t, strings.HasPrefix(s["opt/ww/f"], "file 644 "), s["opt/ww/f"])
}

// The layout walk accepts what the writer and busybox tar -c make: PAX path
// and linkpath for long names (Pack), GNU long names and links.
func TestLayoutAcceptsWriters(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	long := strings.Repeat("l", 150)
	testkit.WriteTree(t, src, map[string]string{long + "/" + strings.Repeat("f", 200): "x", "é/ü": "non-ASCII names"})
	require.NoError(t, os.Symlink(long+"/"+strings.Repeat("f", 200), filepath.Join(src, "link")))
	data := packTree(t, src, PackOptions{Prefix: "opt/fesa/Foo/1.0.0"})
	root := t.TempDir()
	_, err := Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "opt/fesa/Foo/1.0.0/link"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
}

func umaskSet(m int) int { return syscall.Umask(m) }
