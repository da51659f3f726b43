package main

import (
	"archive/tar"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An archive with a correct sha256 but an escaping symlink, placed in the
// storage by hand: link refuses it (exit 4), verify reports it (exit 6),
// and the FEC's INDEX stays as it was.
func TestLinkAndVerifyRefuseHostileArchive(t *testing.T) {
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	t.Setenv("FECDEPLOY_STATE_DIR", "")
	base := filepath.Join(t.TempDir(), "ws")
	t.Setenv("FECDEPLOY_STORAGE", base)
	for _, args := range [][]string{{"init"}, {"add-fec", "-arch", "x86_64", "scu01"}} {
		code, _, errs := fecctl(t, args...)
		require.Equal(t, 0, code, "%v: %s", args, errs)
	}
	body := clienttest.TarGz(t, []clienttest.Entry{{Name: "opt/", Type: tar.TypeDir},
		{Name: "opt/l", Type: tar.TypeSymlink, Linkname: "../../etc"}})
	name := "Evil-1.0.0-x86_64.tar.gz"
	testkit.WriteTree(t, filepath.Join(base, "software/Evil/1.0.0"), map[string]string{
		name: string(body), name + ".sha256": testkit.SHA256(body) + "  " + name + "\n"})
	before := testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX"))

	code, _, errs := fecctl(t, "link", "scu01", "Evil", "1.0.0")
	assert.Equal(t, cli.ExitRefused, code, errs)
	assert.Contains(t, errs, `"opt/l": symlink to "../../etc" resolves outside opt`)
	assert.Equal(t, before, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")))

	code, out, _ := fecctl(t, "verify")
	assert.Equal(t, cli.ExitProblems, code)
	assert.Contains(t, out, "unsafe-archive: software/Evil/1.0.0/"+name)
}
