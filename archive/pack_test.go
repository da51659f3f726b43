package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackReproducible(t *testing.T) {
	t.Parallel()
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			a, b := t.TempDir(), t.TempDir()
			testkit.WriteTree(t, a, sampleTree)
			testkit.WriteTree(t, b, sampleTree)
			// b: other mtimes, atimes, owner, and creation order.
			old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
			filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error {
				os.Lchown(p, 1234, 5678)
				os.Chtimes(p, old, old)
				return nil
			})
			opts := PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"}
			one, two, three := packTree(t, a, opts), packTree(t, a, opts), packTree(t, b, opts)
			require.Equal(t, one, two, "packing the same tree twice gave different bytes")
			require.Equal(t, one, three, "a copy with other mtimes/owners gave different bytes")
			// A different content must give different bytes (the check can fail).
			require.NoError(t, os.WriteFile(filepath.Join(b, "bin/foo"), []byte("changed"), 0o644))
			require.NotEqual(t, one, packTree(t, b, opts), "changed content, same bytes")
		})
	}
}

func TestPackHeaders(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	testkit.WriteTree(t, src, sampleTree)
	require.NoError(t, syscall.Chmod(filepath.Join(src, "bin/foo"), 0o6755))
	data := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt/fesa/Foo_DU/1.2.0", ModTime: time.Unix(1700000000, 5)})
	_, r, err := index.Detect(bytes.NewReader(data))
	require.NoError(t, err)
	dec, err := openDecompressor(index.FormatGzip, r)
	require.NoError(t, err)
	tr := tar.NewReader(dec)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		assert.Equal(t, []any{0, 0, "", ""}, []any{h.Uid, h.Gid, h.Uname, h.Gname}, "%s: owner, want 0/0 without names", h.Name)
		assert.True(t, h.ModTime.Equal(time.Unix(1700000000, 0)), "%s: mtime %v", h.Name, h.ModTime)
		assert.True(t, h.AccessTime.IsZero() && h.ChangeTime.IsZero(), "%s: atime %v ctime %v", h.Name, h.AccessTime, h.ChangeTime)
		if h.Name == "opt/fesa/Foo_DU/1.2.0/bin/foo" {
			assert.Equal(t, int64(0o755), h.Mode, "bin/foo mode: setuid/setgid stripped")
		}
	}
	want := []string{"opt/", "opt/fesa/", "opt/fesa/Foo_DU/", "opt/fesa/Foo_DU/1.2.0/",
		"opt/fesa/Foo_DU/1.2.0/bin/", "opt/fesa/Foo_DU/1.2.0/bin/foo",
		"opt/fesa/Foo_DU/1.2.0/etc/", "opt/fesa/Foo_DU/1.2.0/etc/Foo_DU.instance", "opt/fesa/Foo_DU/1.2.0/etc/empty/",
		"opt/fesa/Foo_DU/1.2.0/lib/", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1.2",
		"opt/fesa/Foo_DU/1.2.0/share/", "opt/fesa/Foo_DU/1.2.0/share/doc/", "opt/fesa/Foo_DU/1.2.0/share/doc/README", "opt/fesa/Foo_DU/1.2.0/share/doc/link-to-bin"}
	assert.Equal(t, want, names)
}

func TestPackSourceDateEpoch(t *testing.T) {
	src := t.TempDir()
	testkit.WriteTree(t, src, map[string]string{"a": "x"})
	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	one := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt"})
	two := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt", ModTime: time.Unix(1600000000, 0)})
	require.Equal(t, one, two, "SOURCE_DATE_EPOCH not used")
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	_, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"})
	require.ErrorContains(t, err, "SOURCE_DATE_EPOCH", "bad SOURCE_DATE_EPOCH accepted")
}

func TestPackRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tree   map[string]string
		prefix string
		want   string // entry name suffix in the *EntryError
	}{
		{"absolute symlink", map[string]string{"etc": "-> /etc"}, "opt/x", "etc"},
		{"escaping symlink", map[string]string{"lib/up": "-> ../../.."}, "opt/x", "lib/up"},
		{"escaping the prefix", map[string]string{"up": "-> ../y"}, "opt/x", "up"},
		{"escape through a link", map[string]string{"d/e/x": "-> ..", "d/e/l": "-> x/../.."}, "opt/x", "d/e/l"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			testkit.WriteTree(t, src, tc.tree)
			_, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: tc.prefix})
			var ee *EntryError
			require.ErrorAs(t, err, &ee)
			require.ErrorIs(t, err, ErrUnsafeEntry)
			assert.True(t, strings.HasSuffix(ee.Name, tc.want), "entry %q, want …%s", ee.Name, tc.want)
		})
	}
	t.Run("fifo", func(t *testing.T) {
		src := t.TempDir()
		require.NoError(t, syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644))
		_, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"})
		require.ErrorIs(t, err, ErrUnsafeEntry)
		require.ErrorContains(t, err, "FIFO")
	})
	t.Run("socket", func(t *testing.T) {
		src := t.TempDir()
		l, err := net.Listen("unix", filepath.Join(src, "sock"))
		require.NoError(t, err)
		defer l.Close()
		_, err = Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"})
		require.ErrorIs(t, err, ErrUnsafeEntry)
		require.ErrorContains(t, err, "socket")
	})
	t.Run("bad prefix", func(t *testing.T) {
		for _, p := range []string{"/opt", "../opt", "opt/../.."} {
			_, err := Pack(context.Background(), io.Discard, t.TempDir(), PackOptions{Prefix: p})
			assert.Error(t, err, "prefix %q accepted", p)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		src := t.TempDir()
		testkit.WriteTree(t, src, sampleTree)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Pack(ctx, io.Discard, src, PackOptions{Prefix: "opt"})
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestPackProgress(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	testkit.WriteTree(t, src, sampleTree)
	var last int64
	st, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt", Progress: func(n int64) {
		assert.GreaterOrEqual(t, n, last, "progress went back")
		last = n
	}})
	require.NoError(t, err)
	require.NotZero(t, last)
	require.Equal(t, st.InputBytes, last, "the last progress report is the input size")
}

// System tools (GNU tar here, busybox tar on PowerPC FECs) read our output.
func TestSystemTarReadsOutput(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	testkit.WriteTree(t, src, sampleTree)
	for _, tc := range []struct {
		f    index.Format
		tool string
		args []string
	}{
		{index.FormatGzip, "tar", []string{"-tzf", "-"}},
		{index.FormatXz, "tar", []string{"-tJf", "-"}},
		{index.FormatGzip, "busybox", []string{"tar", "-tzf", "-"}},
		{index.FormatXz, "busybox", []string{"tar", "-tJf", "-"}},
		{index.FormatZstd, "zstd", []string{"-t"}},
	} {
		t.Run(tc.tool+"-"+string(tc.f), func(t *testing.T) {
			bin := testenv.RequireTool(t, tc.tool)
			cmd := exec.Command(bin, tc.args...)
			cmd.Stdin = bytes.NewReader(packTree(t, src, PackOptions{Format: tc.f, Prefix: "opt/fesa/Foo_DU/1.2.0"}))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s %v: %s", tc.tool, tc.args, out)
			if tc.f != index.FormatZstd {
				require.Contains(t, string(out), "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1.2", "the listing names the library")
			}
		})
	}
}
