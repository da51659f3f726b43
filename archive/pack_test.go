package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
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
)

func TestPackReproducible(t *testing.T) {
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		t.Run(string(f), func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			writeTree(t, a, sampleTree)
			writeTree(t, b, sampleTree)
			// b: other mtimes, atimes, owner, and creation order.
			old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
			filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error {
				os.Lchown(p, 1234, 5678)
				os.Chtimes(p, old, old)
				return nil
			})
			opts := PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"}
			one, two, three := packTree(t, a, opts), packTree(t, a, opts), packTree(t, b, opts)
			if !bytes.Equal(one, two) {
				t.Fatal("packing the same tree twice gave different bytes")
			}
			if !bytes.Equal(one, three) {
				t.Fatal("a copy with other mtimes/owners gave different bytes")
			}
			// A different content must give different bytes (the check can fail).
			noErr(t, os.WriteFile(filepath.Join(b, "bin/foo"), []byte("changed"), 0o644))
			if bytes.Equal(one, packTree(t, b, opts)) {
				t.Fatal("changed content, same bytes")
			}
		})
	}
}

func TestPackHeaders(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree)
	noErr(t, syscall.Chmod(filepath.Join(src, "bin/foo"), 0o6755))
	data := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt/fesa/Foo_DU/1.2.0", ModTime: time.Unix(1700000000, 5)})
	_, r, err := index.Detect(bytes.NewReader(data))
	noErr(t, err)
	dec, err := openDecompressor(index.FormatGzip, r)
	noErr(t, err)
	tr := tar.NewReader(dec)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		noErr(t, err)
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d/%d %q/%q, want 0/0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		if h.Name == "opt/fesa/Foo_DU/1.2.0/bin/foo" && h.Mode != 0o755 {
			t.Errorf("bin/foo mode %o, want 755 (setuid/setgid stripped)", h.Mode)
		}
	}
	want := []string{"opt/", "opt/fesa/", "opt/fesa/Foo_DU/", "opt/fesa/Foo_DU/1.2.0/",
		"opt/fesa/Foo_DU/1.2.0/bin/", "opt/fesa/Foo_DU/1.2.0/bin/foo",
		"opt/fesa/Foo_DU/1.2.0/etc/", "opt/fesa/Foo_DU/1.2.0/etc/Foo_DU.instance", "opt/fesa/Foo_DU/1.2.0/etc/empty/",
		"opt/fesa/Foo_DU/1.2.0/lib/", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1", "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1.2",
		"opt/fesa/Foo_DU/1.2.0/share/", "opt/fesa/Foo_DU/1.2.0/share/doc/", "opt/fesa/Foo_DU/1.2.0/share/doc/README", "opt/fesa/Foo_DU/1.2.0/share/doc/link-to-bin"}
	equal(t, want, names)
}

func TestPackSourceDateEpoch(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a": "x"})
	t.Setenv("SOURCE_DATE_EPOCH", "1600000000")
	one := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt"})
	two := packTree(t, src, PackOptions{Format: index.FormatGzip, Prefix: "opt", ModTime: time.Unix(1600000000, 0)})
	if !bytes.Equal(one, two) {
		t.Fatal("SOURCE_DATE_EPOCH not used")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"}); err == nil {
		t.Fatal("bad SOURCE_DATE_EPOCH accepted")
	}
}

func TestPackRefuses(t *testing.T) {
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
			writeTree(t, src, tc.tree)
			_, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: tc.prefix})
			var ee *EntryError
			if !errors.As(err, &ee) || !errors.Is(err, ErrUnsafeEntry) {
				t.Fatalf("err = %v, want an *EntryError", err)
			}
			if !strings.HasSuffix(ee.Name, tc.want) {
				t.Errorf("entry %q, want …%s", ee.Name, tc.want)
			}
		})
	}
	t.Run("fifo", func(t *testing.T) {
		src := t.TempDir()
		noErr(t, syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644))
		_, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"})
		if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("socket", func(t *testing.T) {
		src := t.TempDir()
		l, err := net.Listen("unix", filepath.Join(src, "sock"))
		noErr(t, err)
		defer l.Close()
		_, err = Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt"})
		if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "socket") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad prefix", func(t *testing.T) {
		for _, p := range []string{"/opt", "../opt", "opt/../.."} {
			if _, err := Pack(context.Background(), io.Discard, t.TempDir(), PackOptions{Prefix: p}); err == nil {
				t.Errorf("prefix %q accepted", p)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		src := t.TempDir()
		writeTree(t, src, sampleTree)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Pack(ctx, io.Discard, src, PackOptions{Prefix: "opt"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPackProgress(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree)
	var last int64
	st, err := Pack(context.Background(), io.Discard, src, PackOptions{Prefix: "opt", Progress: func(n int64) {
		if n < last {
			t.Errorf("progress went back: %d after %d", n, last)
		}
		last = n
	}})
	noErr(t, err)
	if last != st.InputBytes || last == 0 {
		t.Fatalf("last progress %d, input bytes %d", last, st.InputBytes)
	}
}

// System tools (GNU tar here, busybox tar on PowerPC FECs) read our output.
func TestSystemTarReadsOutput(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleTree)
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
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.tool, tc.args, err, out)
			}
			if tc.f != index.FormatZstd && !strings.Contains(string(out), "opt/fesa/Foo_DU/1.2.0/lib/libfoo.so.1.2") {
				t.Fatalf("listing lacks the library:\n%s", out)
			}
		})
	}
}
