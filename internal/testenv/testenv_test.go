package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNginxServesSymlinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a", "f"), []byte("hello"), 0o644))
	require.NoError(t, os.Symlink("a/f", filepath.Join(root, "link")))
	n := StartNginx(t, root, NginxOptions{})
	code, body := n.Get(t, "link")
	assert.Equal(t, 200, code, "GET link")
	assert.Equal(t, "hello", string(body), "GET link")
	code, _ = n.Get(t, "missing")
	assert.Equal(t, 404, code, "GET missing")
}

func TestBusyboxPathHasOnlyApplets(t *testing.T) {
	t.Parallel()
	bb, dir := BusyboxPath(t)
	cmd := exec.Command(bb, "sh", "-c", "command -v tar; command -v go || echo no-go")
	cmd.Env = []string{"PATH=" + dir}
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "tar")+"\nno-go\n", string(out))
}

func TestSSHD(t *testing.T) {
	t.Parallel()
	s := StartSSHD(t, SSHDOptions{})
	out, err := s.Run(t, "echo hello-from-$((20+22))")
	require.NoError(t, err, "ssh: %q (sshd: %s)", out, s.Log())
	require.Equal(t, "hello-from-42", strings.TrimSpace(out))
	// A host key that is not in known_hosts is refused, never accepted.
	require.NoError(t, os.WriteFile(s.KnownHosts, nil, 0o644))
	out, err = s.Run(t, "true")
	require.Error(t, err, "unknown host key: want a refusal")
	assert.Contains(t, out, "Host key verification failed")
}
