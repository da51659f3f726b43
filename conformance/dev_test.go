package conformance

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A dev release installed by either client (install-archive) is kept by a
// boot of either client when the INDEX does not name it, and the init
// scripts see the same environment: present, version dev, a dev release.
func TestDevInstallBothClients(t *testing.T) {
	t.Parallel()
	sh := clienttest.NewShell(t)
	st := clienttest.NewStorage(t)
	st.Archive(t, "devfec", "software", "Bar_DU", "1.0.0", "gzip", clienttest.Tree("opt/fesa/Bar_DU/1.0.0", map[string]string{"bin/bar": "bar"}))
	st.Init(t, "devfec", "10-env", envScript)
	st.WriteIndex(t, "devfec", nil)
	srv := httptest.NewServer(st.Handler())
	t.Cleanup(srv.Close)
	data := clienttest.TarGz(t, clienttest.Tree("opt/fesa/Foo_DU/dev", map[string]string{"bin/foo": "foo"}))
	file := filepath.Join(t.TempDir(), "Foo_DU-dev.tar.gz")
	require.NoError(t, os.WriteFile(file, data, 0o644))
	sum := testkit.SHA256(data)
	shEnv := []string{"FECDEPLOY_CMDLINE=none", "FECDEPLOY_CONF=/dev/null", "FECDEPLOY_START_JITTER=0"}

	install := map[string]func(t *testing.T, root string){
		"go": func(t *testing.T, root string) {
			_, err := fec.InstallArchive(context.Background(), fec.Config{Root: root},
				fec.ArchiveRequest{File: file, SHA256: sum, Name: "Foo_DU", Prefix: "opt/fesa/Foo_DU/dev"})
			require.NoError(t, err)
		},
		"shell": func(t *testing.T, root string) {
			r := sh.Run(t, shEnv, "install-archive", file, "-sha256", sum, "-name", "Foo_DU", "-prefix", "opt/fesa/Foo_DU/dev", "--root", root)
			require.Equal(t, 0, r.Code, r.Stderr)
		},
	}
	boot := map[string]func(t *testing.T, root string){
		"go": func(t *testing.T, root string) {
			_, err := fec.Boot(context.Background(), fec.Config{BaseURL: srv.URL, FEC: "devfec", Root: root})
			require.NoError(t, err)
		},
		"shell": func(t *testing.T, root string) {
			r := sh.Run(t, shEnv, "--url", srv.URL, "--fec", "devfec", "--root", root)
			require.Equal(t, 0, r.Code, r.Stderr)
		},
	}
	envs := map[string]string{}
	for _, in := range []string{"go", "shell"} {
		for _, b := range []string{"go", "shell"} {
			root := t.TempDir()
			install[in](t, root)
			boot[b](t, root)
			env := testkit.ReadFile(t, filepath.Join(root, "opt/script-env"))
			assert.Contains(t, env, "FECDEPLOY_DEV_SOFTWARE=Foo_DU\n", "installed by %s, booted by %s", in, b)
			assert.Contains(t, env, "FECDEPLOY_SOFTWARE=Bar_DU Foo_DU\n", "installed by %s, booted by %s", in, b)
			assert.Contains(t, env, "FECDEPLOY_SW_FOO_DU_DEV=1\n", "installed by %s, booted by %s", in, b)
			assert.FileExists(t, filepath.Join(root, "opt/fesa/Foo_DU/dev/bin/foo"))
			envs[in+"/"+b] = env
		}
	}
	for k, v := range envs {
		assert.Equal(t, envs["go/go"], v, k)
	}
}
