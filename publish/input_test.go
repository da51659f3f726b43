package publish_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsnet/compress/bzip2"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type inputFile struct {
	name, body string
	mode       os.FileMode
}

var inputFiles = []inputFile{
	{"bin/foo", "#!/bin/sh\necho foo\n", 0o755},
	{"etc/foo.conf", "x=1\n", 0o644},
	{"lib/libfoo.so.1", "ELF...", 0o755},
}

func writeTar(t *testing.T, w *tar.Writer, files []inputFile) {
	t.Helper()
	for _, f := range files {
		require.NoError(t, w.WriteHeader(&tar.Header{Name: f.name, Mode: int64(f.mode), Size: int64(len(f.body)), Typeflag: tar.TypeReg}))
		_, err := w.Write([]byte(f.body))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
}

// A zip and a tar.bz2 of the same tree are repacked into the canonical
// format with the prefix applied: the same bytes as packing the directory.
func TestInputFormatsRepackIdentically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, f := range inputFiles {
		p := filepath.Join(src, f.name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f.body), f.mode))
		require.NoError(t, os.Chmod(p, f.mode))
	}

	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for _, f := range inputFiles {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		h.SetMode(f.mode)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(f.body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	zipFile := filepath.Join(dir, "foo.zip")
	require.NoError(t, os.WriteFile(zipFile, zbuf.Bytes(), 0o644))

	var bbuf bytes.Buffer
	bw, err := bzip2.NewWriter(&bbuf, nil)
	require.NoError(t, err)
	writeTar(t, tar.NewWriter(bw), inputFiles)
	require.NoError(t, bw.Close())
	bz2File := filepath.Join(dir, "foo.tar.bz2")
	require.NoError(t, os.WriteFile(bz2File, bbuf.Bytes(), 0o644))

	sums := map[string]string{}
	for _, in := range []string{src, zipFile, bz2File} {
		out := filepath.Join(dir, filepath.Base(in)+".tar.zst")
		stats, err := publish.PackInput(context.Background(), out, publish.Request{SourceDir: in, Prefix: "opt/fesa/Foo_DU/1.0.0"})
		require.NoError(t, err, in)
		sums[filepath.Base(in)] = stats.SHA256
	}
	assert.Equal(t, sums["src"], sums["foo.zip"], "zip repacked like the directory")
	assert.Equal(t, sums["src"], sums["foo.tar.bz2"], "tar.bz2 repacked like the directory")
}

// Input archives obey the FEC's rules: "..", absolute names and links
// leaving the tree are refused, and nothing is written.
func TestInputUnsafeRefused(t *testing.T) {
	t.Parallel()
	cases := map[string][]*tar.Header{
		"dotdot":   {{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"inner":    {{Name: "bin/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute": {{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}},
		"symlink":  {{Name: "bin/up", Typeflag: tar.TypeSymlink, Linkname: "../../etc", Mode: 0o777}},
		"device":   {{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666}},
	}
	for name, hdrs := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range hdrs {
				require.NoError(t, tw.WriteHeader(h))
			}
			require.NoError(t, tw.Close())
			in := filepath.Join(dir, "in.tar")
			require.NoError(t, os.WriteFile(in, buf.Bytes(), 0o644))
			out := filepath.Join(dir, "out.tar.zst")
			_, err := publish.PackInput(context.Background(), out, publish.Request{SourceDir: in, Prefix: "opt/x"})
			require.ErrorIs(t, err, publish.ErrUnsafeInput)
			assert.NoFileExists(t, out)
			assert.Equal(t, []string{"in.tar"}, testkit.Paths(t, dir))
		})
	}
}

// fecctl receive's check: a transfer that does not match the sender's size
// and sha256 publishes nothing.
func TestReceiveRefusesAlteredTransfer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := storage.Init(filepath.Join(dir, "ws"))
	require.NoError(t, err)
	src := testkit.WriteTree(t, filepath.Join(dir, "src"), map[string]string{"bin/foo": "foo"})
	file := filepath.Join(dir, "a.tar.zst")
	stats, err := publish.PackFile(context.Background(), file, publish.Request{SourceDir: src, Prefix: "opt/x"})
	require.NoError(t, err)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	noLock := testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == ".lock" }}
	before := testkit.Snapshot(t, st.Base(), noLock)
	req := publish.ReceiveRequest{Request: publish.Request{Name: "Foo_DU", Version: "1.0.0", Arch: "x86_64"}, SHA256: stats.SHA256, Size: stats.Size}
	for name, body := range map[string][]byte{
		"truncated": data[:len(data)/2],
		"altered":   append(append([]byte(nil), data[:len(data)-1]...), data[len(data)-1]^1),
	} {
		req.Body = bytes.NewReader(body)
		_, err := publish.Receive(context.Background(), st, req)
		require.ErrorIs(t, err, storage.ErrBadRequest, name)
		assert.Contains(t, err.Error(), "did not arrive as sent", name)
		assert.Equal(t, before, testkit.Snapshot(t, st.Base(), noLock), name)
	}
	req.Body = bytes.NewReader(data)
	res, err := publish.Receive(context.Background(), st, req)
	require.NoError(t, err)
	assert.Equal(t, stats.SHA256, res.Published.SHA256)
}
