package fec_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func devArchive(t *testing.T, hdrs map[string]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range hdrs {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	p := filepath.Join(t.TempDir(), "Foo_DU-dev.tar.gz")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p, testkit.SHA256(buf.Bytes())
}

func TestInstallArchive(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file, sum := devArchive(t, map[string]string{"opt/fesa/Foo_DU/dev/bin/foo": "foo"})
	es, err := fec.InstallArchive(context.Background(), fec.Config{Root: root},
		fec.ArchiveRequest{File: file, SHA256: sum, Name: "Foo_DU", Prefix: "opt/fesa/Foo_DU/dev"})
	require.NoError(t, err)
	assert.Equal(t, fec.ActionInstalled, es.Action)
	assert.True(t, es.Dev)
	assert.Equal(t, "foo", testkit.ReadFile(t, filepath.Join(root, "opt/fesa/Foo_DU/dev/bin/foo")))
	devs, err := fec.DevReleases(fec.Config{Root: root})
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.Equal(t, fec.DevRelease{Name: "Foo_DU", Version: "dev", SHA256: sum, File: "Foo_DU-dev.tar.gz", Prefix: "opt/fesa/Foo_DU/dev", Installed: devs[0].Installed}, devs[0])
	assert.False(t, devs[0].Installed.IsZero())

	_, err = fec.RemoveDev(fec.Config{Root: root}, "Bar_DU")
	require.ErrorIs(t, err, fec.ErrConfig)
	_, err = fec.RemoveDev(fec.Config{Root: root}, "Foo_DU")
	require.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(root, "opt/fesa/Foo_DU/dev"))
	assert.DirExists(t, filepath.Join(root, "opt/fesa"), "only the prefix goes")
}

// Each bad input: a clear error, and nothing installed or recorded.
func TestInstallArchiveRefused(t *testing.T) {
	t.Parallel()
	good, sum := devArchive(t, map[string]string{"opt/x/bin/foo": "foo"})
	evil, evilSum := devArchive(t, map[string]string{"opt/../etc/passwd": "x"})
	outside, outsideSum := devArchive(t, map[string]string{"etc/foo": "x"})
	cases := []struct {
		name string
		req  fec.ArchiveRequest
		is   error
		msg  string
	}{
		{"sha256 mismatch", fec.ArchiveRequest{File: good, SHA256: evilSum, Name: "Foo_DU"}, fec.ErrVerify, "sha256"},
		{"no sha256", fec.ArchiveRequest{File: good, Name: "Foo_DU"}, fec.ErrConfig, "-sha256"},
		{"bad name", fec.ArchiveRequest{File: good, SHA256: sum, Name: "../x"}, fec.ErrConfig, "name"},
		{"prefix outside allowed roots", fec.ArchiveRequest{File: good, SHA256: sum, Name: "Foo_DU", Prefix: "etc/x"}, fec.ErrConfig, "allowed roots"},
		{"dotdot entry", fec.ArchiveRequest{File: evil, SHA256: evilSum, Name: "Foo_DU"}, fec.ErrVerify, ".."},
		{"outside allowed roots", fec.ArchiveRequest{File: outside, SHA256: outsideSum, Name: "Foo_DU"}, fec.ErrVerify, "etc"},
		{"missing file", fec.ArchiveRequest{File: good + ".nope", SHA256: sum, Name: "Foo_DU"}, fec.ErrInstall, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(root, "opt/old"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(root, "opt/old/keep"), []byte("old"), 0o644))
			before := testkit.Snapshot(t, root)
			_, err := fec.InstallArchive(context.Background(), fec.Config{Root: root}, c.req)
			require.ErrorIs(t, err, c.is)
			assert.Contains(t, err.Error(), c.msg)
			assert.Equal(t, before, testkit.Snapshot(t, root), "nothing written")
		})
	}
}
