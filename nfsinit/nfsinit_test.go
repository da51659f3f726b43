package nfsinit_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/nfsinit"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// export builds a realistic NFS-init export: 20 FECs linking shared
// scripts, some with their own scripts, a few broken links, a script with a
// space in its name, a software tree, a software tarball, a README, a
// directory without a version, and a FEC whose 10-network is another
// script than everyone else's.
func export(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := map[string]string{
		"global/network.sh":         "#!/bin/sh\necho network\n",
		"global/ntp.sh":             "#!/bin/sh\necho ntp\n",
		"global/start-fesa.sh":      "#!/bin/sh\necho start fesa\n",
		"global/network-special.sh": "#!/bin/sh\necho special network\n",
	}
	testkit.WriteTree(t, dir, spec)
	for i := 1; i <= 20; i++ {
		fec := fmt.Sprintf("scuxl%02d", i)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, fec), 0o755))
		link := func(name, target string) {
			require.NoError(t, os.Symlink(target, filepath.Join(dir, fec, name)))
		}
		if i == 14 {
			link("10-network", "../global/network-special.sh")
		} else {
			link("10-network", "../global/network.sh")
		}
		link("20-ntp", "../global/ntp.sh")
		link("90-start-fesa", "../global/start-fesa.sh")
		if i%4 == 0 {
			require.NoError(t, os.WriteFile(filepath.Join(dir, fec, "50-local"), []byte("#!/bin/sh\necho local "+fec+"\n"), 0o755))
		}
	}
	require.NoError(t, os.Symlink("../global/gone.sh", filepath.Join(dir, "scuxl03/30-old")))
	require.NoError(t, os.Symlink("/common/export/nfsinit/global/removed.sh", filepath.Join(dir, "scuxl07/40-removed")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scuxl05/60-start daemon.sh"), []byte("#!/bin/sh\necho daemon\n"), 0o755))
	testkit.WriteTree(t, filepath.Join(dir, "scuxl10"), map[string]string{"Foo_DU-1.2.0/bin/foo": "foo binary", "Foo_DU-1.2.0/etc/foo.conf": "x=1"})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scuxl11/Bar_DU-2.0.1.tar.gz"), tarGz(t, map[string]string{"bin/bar": "bar binary"}), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "scuxl12/README"), []byte("ask Fred\n"), 0o644))
	testkit.WriteTree(t, filepath.Join(dir, "scuxl13"), map[string]string{"tools/helper": "h"})
	return dir
}

func tarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, b := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(b))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestImportNFSInit(t *testing.T) {
	t.Parallel()
	dir := export(t)
	exportBefore := testkit.Snapshot(t, dir)
	plan, err := nfsinit.Scan(dir, nfsinit.Options{})
	require.NoError(t, err)
	c := plan.Counts()
	assert.Equal(t, 20, c[nfsinit.AddFEC])
	assert.Equal(t, 3, c[nfsinit.AddGlobal], "network, ntp, start-fesa once each")
	assert.Equal(t, 20*3-1, c[nfsinit.LinkInit], "scuxl14's 10-network differs")
	assert.Equal(t, 5+1+1, c[nfsinit.PutInit], "5 own scripts, the space, scuxl14's network")
	assert.Equal(t, 2, c[nfsinit.BrokenLink])
	assert.Equal(t, 2, c[nfsinit.Software])
	assert.Equal(t, 2, c[nfsinit.Unmapped], "README and a directory without a version")

	var table bytes.Buffer
	require.NoError(t, plan.WriteTable(&table))
	out := table.String()
	assert.Contains(t, out, `renamed from "60-start daemon.sh"`)
	assert.Contains(t, out, "../global/gone.sh (target missing)")
	assert.Contains(t, out, "Foo_DU")
	assert.Contains(t, out, "2 broken-link")
	assert.Equal(t, exportBefore, testkit.Snapshot(t, dir), "a scan writes nothing")

	st, err := storage.Init(filepath.Join(t.TempDir(), "ws"))
	require.NoError(t, err)
	empty := testkit.Snapshot(t, st.Base())
	require.NoError(t, nfsinit.Apply(context.Background(), st, plan, nfsinit.ApplyOptions{}))
	assert.NotEqual(t, empty, testkit.Snapshot(t, st.Base()))
	fecs, err := st.FECs(context.Background())
	require.NoError(t, err)
	assert.Len(t, fecs, 20)

	names := func(fec string) map[string]index.Entry {
		info, err := st.FEC(context.Background(), fec)
		require.NoError(t, err)
		require.NoError(t, info.IndexError)
		m := map[string]index.Entry{}
		for _, e := range info.Entries {
			m[string(e.Kind)+"/"+e.Name] = e
		}
		return m
	}
	e1 := names("scuxl01")
	assert.Equal(t, "fecs/global/10-network", e1["init/10-network"].Path)
	assert.Contains(t, e1, "init/90-start-fesa")
	assert.Equal(t, "fecs/scuxl14/init/10-network", names("scuxl14")["init/10-network"].Path)
	assert.Contains(t, names("scuxl05"), "init/60-start_daemon.sh")
	assert.Equal(t, "1.2.0", names("scuxl10")["software/Foo_DU"].Version)
	assert.Equal(t, "2.0.1", names("scuxl11")["software/Bar_DU"].Version)
	assert.Equal(t, "special network", string(bytes.TrimSpace(bytes.TrimPrefix([]byte(testkit.ReadFile(t, filepath.Join(st.Base(), "fecs/scuxl14/init/10-network"))), []byte("#!/bin/sh\necho ")))))
	rep, err := st.Verify(context.Background())
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, exportBefore, testkit.Snapshot(t, dir), "the export is only read")
}
