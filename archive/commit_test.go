package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func manyFiles(n int) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("lib/f%05d", i)] = "x"
	}
	files["bin/foo"] = "ELF"
	return files
}

// A reader polling the destination sees the new version directory with none
// or all of its files, and with its final modes from the first instant.
func TestCommitNewDirectoryAppearsWhole(t *testing.T) {
	t.Parallel()
	const n = 3000
	src := t.TempDir()
	testkit.WriteTree(t, src, manyFiles(n))
	data := packTree(t, src, PackOptions{Format: index.FormatZstd, Prefix: "opt/fesa/Foo/2.0.0"})
	root := t.TempDir()
	testkit.WriteTree(t, root, map[string]string{"opt/fesa/Other/1.0/x": "other"})
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	assert.Equal(t, "opt/fesa/Foo/2.0.0", s.Prefix())

	var stop atomic.Bool
	var seen sync.Map
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			des, err := os.ReadDir(filepath.Join(root, "opt/fesa/Foo/2.0.0/lib"))
			if err != nil {
				continue
			}
			seen.Store(len(des), true)
			for _, d := range []string{"opt/fesa/Foo", "opt/fesa/Foo/2.0.0", "opt/fesa/Foo/2.0.0/lib"} {
				if fi, err := os.Stat(filepath.Join(root, d)); err == nil {
					seen.Store(fmt.Sprintf("%s %o", d, fi.Mode().Perm()), true)
				}
			}
		}
	}()
	_, err = s.Commit()
	stop.Store(true)
	wg.Wait()
	require.NoError(t, err)
	seen.Range(func(k, _ any) bool {
		switch k := k.(type) {
		case int:
			assert.Equal(t, n, k, "a reader saw the new directory with %d of %d files", k, n)
		case string:
			assert.Regexp(t, ` 755$`, k, "a reader saw a directory without its final mode")
		}
		return true
	})
	assert.Len(t, testkit.Paths(t, filepath.Join(root, "opt/fesa/Foo/2.0.0/lib")), n)
	checkNoStaging(t, root)
}

// A directory whose final mode has no owner write still moves in whole and
// ends with that mode; replacing it works too.
func TestCommitReadOnlyDirectories(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	testkit.WriteTree(t, src, map[string]string{"bin/foo": "ELF", "share/doc": "doc"})
	require.NoError(t, os.Chmod(filepath.Join(src, "share"), 0o555))
	data := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt/fesa/Ro/dev"})
	root := t.TempDir()
	_, err := Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	snap := testkit.Snapshot(t, root)
	assert.Equal(t, "dir 555", snap["opt/fesa/Ro/dev/share"])
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	_, err = s.CommitReplacing("opt/fesa/Ro/dev")
	require.NoError(t, err)
	assert.Equal(t, snap, testkit.Snapshot(t, root))
	checkNoStaging(t, root)
}

// CommitReplacing swaps the version directory: files of the old build that
// the new one does not have are gone, the rest of the tree is untouched.
func TestCommitReplacingDropsOldFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	testkit.WriteTree(t, root, map[string]string{
		"opt/fesa/Foo/dev/bin/old":  "removed from the build",
		"opt/fesa/Foo/dev/bin/foo":  "old foo",
		"opt/fesa/Foo/1.0/bin/foo":  "another version",
		"opt/fesa/Foo/dev2/bin/foo": "a sibling",
	})
	src := t.TempDir()
	testkit.WriteTree(t, src, map[string]string{"bin/foo": "new foo", "lib/new": "new"})
	data := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt/fesa/Foo/dev"})
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	require.Equal(t, "opt/fesa/Foo/dev", s.Prefix())
	_, err = s.CommitReplacing(s.Prefix())
	require.NoError(t, err)
	assert.Equal(t, []string{"opt/", "opt/fesa/", "opt/fesa/Foo/", "opt/fesa/Foo/1.0/", "opt/fesa/Foo/1.0/bin/", "opt/fesa/Foo/1.0/bin/foo",
		"opt/fesa/Foo/dev/", "opt/fesa/Foo/dev/bin/", "opt/fesa/Foo/dev/bin/foo", "opt/fesa/Foo/dev/lib/", "opt/fesa/Foo/dev/lib/new",
		"opt/fesa/Foo/dev2/", "opt/fesa/Foo/dev2/bin/", "opt/fesa/Foo/dev2/bin/foo"}, testkit.Paths(t, root))
	assert.Equal(t, "new foo", testkit.ReadFile(t, filepath.Join(root, "opt/fesa/Foo/dev/bin/foo")))

	// An archive with entries outside the directory is refused, nothing changed.
	other := gz(t, rawTar(t, true, reg("opt/fesa/Foo/dev/x", "x"), reg("opt/fesa/elsewhere", "y")))
	before := testkit.Snapshot(t, root)
	s, err = Stage(context.Background(), bytes.NewReader(other), root, UnpackOptions{})
	require.NoError(t, err)
	_, err = s.CommitReplacing("opt/fesa/Foo/dev")
	require.ErrorContains(t, err, "outside opt/fesa/Foo/dev")
	assert.Equal(t, before, testkit.Snapshot(t, root))
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		entries []ent
		want    string
	}{
		{[]ent{dir("opt/"), dir("opt/fesa/"), reg("opt/fesa/A/1/bin/x", "x"), reg("opt/fesa/A/1/lib/y", "y")}, "opt/fesa/A/1"},
		{[]ent{dir("opt/fesa/A/1/"), dir("opt/fesa/A/1/empty/"), reg("opt/fesa/A/1/bin/x", "x")}, "opt/fesa/A/1"},
		{[]ent{reg("opt/a", "a"), reg("opt/b", "b")}, ""},
		{[]ent{dir("opt/")}, ""},
	} {
		root := t.TempDir()
		s, err := Stage(context.Background(), bytes.NewReader(gz(t, rawTar(t, true, tc.entries...))), root, UnpackOptions{})
		require.NoError(t, err)
		assert.Equal(t, tc.want, s.Prefix(), "%v", tc.entries)
		require.NoError(t, s.Discard())
	}
}

// Staging directories of a process that no longer runs are leftovers; those
// of a running one are not.
func TestRemoveLeftovers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	live := exec.Command("sleep", "30")
	require.NoError(t, live.Start())
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	deadDir := fmt.Sprintf("opt/%s%d-0123", StagingPrefix, dead.Process.Pid)
	liveDir := fmt.Sprintf("opt/fesa/%s%d-4567", StagingPrefix, live.Process.Pid)
	testkit.WriteTree(t, root, map[string]string{
		deadDir + "/fesa/Foo/1/bin/x":       "x",
		liveDir + "/y":                      "y",
		"opt/fesa/keep":                     "k",
		"opt/" + StagingPrefix + "abcdef/z": "recent, no pid: kept",
	})
	require.NoError(t, os.Chmod(filepath.Join(root, deadDir, "fesa/Foo/1/bin"), 0o555))
	removed, err := RemoveLeftovers(root, []string{"opt", "srv"})
	require.NoError(t, err)
	assert.Equal(t, []string{deadDir}, removed)
	assert.NoDirExists(t, filepath.Join(root, deadDir))
	assert.DirExists(t, filepath.Join(root, liveDir))
	assert.FileExists(t, filepath.Join(root, "opt/fesa/keep"))
}
