package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// import-nfsinit: a dry run needs no storage and writes nothing; -apply imports.
func TestImportNFSInitCommand(t *testing.T) {
	dir := t.TempDir()
	export := testkit.WriteTree(t, filepath.Join(dir, "nfsinit"), map[string]string{"global/net.sh": "#!/bin/sh\necho net\n"})
	require.NoError(t, os.MkdirAll(filepath.Join(export, "scu01"), 0o755))
	require.NoError(t, os.Symlink("../global/net.sh", filepath.Join(export, "scu01", "10-network")))
	base := filepath.Join(dir, "ws")

	code, out, errs := fecctl(t, "import-nfsinit", "-storage", base, export)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "link-init")
	assert.Contains(t, errs, "dry run: nothing written")
	assert.NoDirExists(t, base)

	code, _, errs = fecctl(t, "init", "-storage", base)
	require.Equal(t, 0, code, errs)
	t.Setenv("FECDEPLOY_SIGNING_KEY", "")
	code, _, errs = fecctl(t, "import-nfsinit", "-apply", "-storage", base, export)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "init 10-network ")
}
