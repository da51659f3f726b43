package client_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fec-boot.sh killed with SIGKILL (its whole process group) while it
// extracts leaves a staging and a work directory; the next run removes both
// and ends with the complete tree.
func TestShellAfterKill9(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	big := make([]byte, 4<<20)
	rand.Read(big)
	files := map[string]string{"lib/big": hex.EncodeToString(big)}
	for i := 0; i < 2000; i++ {
		files[fmt.Sprintf("share/f%04d", i)] = "x"
	}
	st.Software(t, "fec01", "Big", "1.0.0", clienttest.Tree("opt/fesa/Big/1.0.0", files))
	st.WriteIndex(t, "fec01", nil)
	ng := testenv.StartNginx(t, st.Dir, testenv.NginxOptions{})
	root := t.TempDir()

	cmd := exec.Command(sh.Busybox, "sh", sh.Script)
	cmd.Env = append([]string{"PATH=" + sh.PathDir, "HOME=/nonexistent"}, env(ng.URL, root)...)
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	var staging []string
	require.Eventually(t, func() bool {
		staging, _ = filepath.Glob(filepath.Join(root, "opt/.fecdeploy-staging-*"))
		return len(staging) > 0
	}, 60*time.Second, time.Millisecond, "fec-boot.sh never staged")
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	time.Sleep(100 * time.Millisecond)
	work, _ := filepath.Glob(filepath.Join(root, "var/lib/fecdeploy/.work-*"))
	require.NotEmpty(t, work, "the kill left no work directory")

	r := sh.Run(t, env(ng.URL, root))
	require.Equal(t, 0, r.Code, "%s%s", r.Stdout, r.Stderr)
	assert.Contains(t, r.Stderr, "the staging or work directory of an interrupted run")
	for _, p := range append(staging, work...) {
		assert.NoDirExists(t, p, "left over")
	}
	des, err := os.ReadDir(filepath.Join(root, "opt/fesa/Big/1.0.0/share"))
	require.NoError(t, err)
	assert.Len(t, des, 2000)
	snap := testkit.Snapshot(t, filepath.Join(root, "opt"))
	for p, what := range snap {
		if what[:3] == "dir" {
			assert.Equal(t, "dir 755", what, "mode of %s", p)
		}
	}
}
