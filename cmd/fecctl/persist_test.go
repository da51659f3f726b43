package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fecctl persist add|ls|restore|rm and show's snapshot listing; bad input
// leaves the storage unchanged.
func TestPersistCommands(t *testing.T) {
	_, base, mustOK := workspace(t)
	mustOK("init")
	mustOK("add-fec", "-arch", "x86_64", "scu01")
	mustOK("persist", "add", "scu01", "Foo_DU", "/opt/fesa/data/Foo_DU")
	assert.Equal(t, "# fecdeploy persistent data sets: NAME DIR... (absolute directories on the FEC), one set per line\nFoo_DU /opt/fesa/data/Foo_DU\n",
		testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/persistent-data/datasets.conf")))

	before := storageSnapshot(t, base)
	for _, bad := range [][]string{
		{"persist", "add", "scu01", "Bar_DU", "/etc/shadow"},             // outside the allowed roots
		{"persist", "add", "scu01", "Bar_DU", "opt/rel"},                 // not absolute
		{"persist", "add", "scu01", "Bar_DU", "/opt/fesa/../../etc"},     // ..
		{"persist", "add", "scu01", "Bar_DU", "/opt/fesa/data/Foo_DU/x"}, // overlaps Foo_DU
		{"persist", "add", "scu01", "Bar DU", "/opt/x"},                  // bad name
		{"persist", "add", "scu01", "Bar_DU"},                            // no directory
		{"persist", "restore", "scu01", "Foo_DU"},                        // no -generation
		{"persist", "frobnicate"},
	} {
		code, _, errs := fecctl(t, bad...)
		assert.Equal(t, cli.ExitUsage, code, "fecctl %v: %s", bad, errs)
	}
	code, _, errs := fecctl(t, "persist", "restore", "-generation", "3", "scu01", "Foo_DU")
	assert.Equal(t, cli.ExitNotFound, code, errs)
	assert.Contains(t, errs, "no generation 3")
	code, _, _ = fecctl(t, "persist", "rm", "scu01", "Nope")
	assert.Equal(t, cli.ExitNotFound, code)
	assert.Equal(t, before, storageSnapshot(t, base), "a refused command changed the storage")

	// Two generations, as fec-persist stores them.
	st, err := storage.Open(base)
	require.NoError(t, err)
	for _, body := range []string{"one\n", "two\n"} {
		data := clienttest.Compress(t, index.FormatZstd, clienttest.Tar(t, []clienttest.Entry{{Name: "opt/fesa/data/Foo_DU/v", Body: body}}))
		_, err := st.WriteSnapshot(context.Background(), "scu01", "Foo_DU", index.FormatZstd, 0, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
		require.NoError(t, err)
	}
	out := mustOK("persist", "ls", "scu01")
	assert.Contains(t, out, "Foo_DU    /opt/fesa/data/Foo_DU")
	assert.Regexp(t, `Foo_DU\s+2 \*\s+\S+ B\s+\d+s\s`, out)
	assert.Contains(t, mustOK("show", "scu01"), "fecs/scu01/persistent-data/Foo_DU/000002.tar.zst")
	assert.Contains(t, mustOK("persist", "restore", "-generation", "1", "scu01", "Foo_DU"), "restores Foo_DU generation 1")
	assert.Contains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "fecs/scu01/persistent-data/Foo_DU/000001.tar.zst")
	assert.Contains(t, mustOK("verify"), "0 problems")
	mustOK("persist", "rm", "scu01", "Foo_DU")
	assert.NotContains(t, testkit.ReadFile(t, filepath.Join(base, "fecs/scu01/INDEX")), "data")
	assert.NoDirExists(t, filepath.Join(base, "fecs/scu01/persistent-data/Foo_DU"))
}
