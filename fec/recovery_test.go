package fec

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigVersion adds software Big 1.0.0 with many files and a large one, so
// that staging lasts long enough to be killed in.
func bigVersion(t *testing.T, st *clienttest.Storage, fecName string) {
	files := map[string]string{"lib/big": randomText(8 << 20)}
	for i := 0; i < 3000; i++ {
		files[fmt.Sprintf("share/f%04d", i)] = "x"
	}
	archiveOf(t, st, fecName, index.KindSoftware, "Big", "1.0.0", "opt/fesa/Big/1.0.0", files, index.FormatZstd)
	st.WriteIndex(t, fecName, nil)
}

// A boot killed with SIGKILL while it stages leaves a staging directory; the
// next boot removes it, says so, and leaves the FEC as a normal boot would:
// every file there, every directory with its final mode.
func TestBootAfterKill9(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	bigVersion(t, st, "fec01")
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childBootEnv+"=1", "FECDEPLOY_URL="+ng.URL, "FECDEPLOY_FEC=fec01", "FECDEPLOY_ROOT="+root)
	require.NoError(t, cmd.Start())
	var staging []string
	require.Eventually(t, func() bool {
		staging, _ = filepath.Glob(filepath.Join(root, "opt", archive.StagingPrefix+"*"))
		return len(staging) > 0
	}, 20*time.Second, time.Millisecond, "the child never staged")
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	cmd.Wait()
	require.DirExists(t, staging[0], "the kill came too late for the test")
	assert.NoDirExists(t, filepath.Join(root, "opt/fesa/Big/1.0.0/share"), "a half version directory appeared")

	cfg := testConfig(t, ng.URL, "fec01")
	cfg.Root = root
	status, err := Boot(context.Background(), cfg)
	require.NoError(t, err)
	assertNoStaging(t, root)
	require.NotEmpty(t, status.Repairs)
	assert.Contains(t, strings.Join(status.Repairs, "\n"), "staging directory of an interrupted run")
	var files int
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "opt"), func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		if d.IsDir() {
			assert.Equal(t, fs.FileMode(0o755), fi.Mode().Perm(), "mode of %s", p)
		} else {
			files++
		}
		return nil
	}))
	assert.Equal(t, 3001, files)
}

// A kill at random moments of the boot, again and again: afterwards one boot
// always ends with the complete tree and nothing left over.
func TestBootKill9Loop(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	bigVersion(t, st, "fec01")
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	exe, err := os.Executable()
	require.NoError(t, err)
	want := ""
	for i, delay := range []time.Duration{100, 300, 600} {
		root := t.TempDir()
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childBootEnv+"=1", "FECDEPLOY_URL="+ng.URL, "FECDEPLOY_FEC=fec01", "FECDEPLOY_ROOT="+root)
		require.NoError(t, cmd.Start())
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// Whatever the moment: the version directory is whole or absent.
		if des, err := os.ReadDir(filepath.Join(root, "opt/fesa/Big/1.0.0/share")); err == nil {
			assert.Len(t, des, 3000, "round %d: a partial version directory", i)
		}
		cfg := testConfig(t, ng.URL, "fec01")
		cfg.Root = root
		_, err := Boot(context.Background(), cfg)
		require.NoError(t, err, "round %d", i)
		assertNoStaging(t, root)
		got := fmt.Sprint(testkit.Snapshot(t, filepath.Join(root, "opt")))
		if want == "" {
			want = got
		}
		assert.Equal(t, want, got, "round %d: the tree differs from a clean boot's", i)
	}
}
