package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/verify"
)

func sampleArchive(t testing.TB, f index.Format) []byte {
	src := t.TempDir()
	writeTree(t, src, sampleTree)
	return packTree(t, src, PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"})
}

func TestStageChangesNothingUntilCommit(t *testing.T) {
	data := sampleArchive(t, index.FormatZstd)
	root := t.TempDir()
	writeTree(t, root, existingTree)
	before := snapshot(t, root)
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	noErr(t, err)
	after := snapshot(t, root)
	for name := range after {
		if _, ok := before[name]; !ok && !strings.Contains(name, StagingPrefix) {
			t.Errorf("%s appeared before Commit", name)
		}
	}
	noErr(t, s.Discard())
	equal(t, before, snapshot(t, root))
	if _, err := s.Commit(); err == nil {
		t.Fatal("Commit after Discard succeeded")
	}
	noErr(t, s.Discard()) // idempotent
}

func TestStageEmptyRootLeavesNoTrace(t *testing.T) {
	root := t.TempDir()
	s, err := Stage(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatGzip)), root, UnpackOptions{AllowedRoots: []string{"opt/fesa"}})
	noErr(t, err)
	if _, err := os.Stat(filepath.Join(root, "opt/fesa")); err != nil {
		t.Fatalf("staging should live in the allowed root: %v", err)
	}
	noErr(t, s.Discard())
	equal(t, map[string]string{".": snapshot(t, root)["."]}, snapshot(t, root))
}

func TestCommitReplacesAndKeeps(t *testing.T) {
	root := t.TempDir()
	p := "opt/fesa/Foo_DU/1.2.0/"
	writeTree(t, root, map[string]string{
		p + "bin/foo":           "old binary",       // replaced
		p + "lib/libfoo.so.1":   "-> libfoo.so.1.1", // symlink replaced
		p + "lib/libfoo.so.1.1": "old lib",          // not in the archive: kept
		p + "etc/empty/local":   "local file",       // existing directory kept with its contents
	})
	noErr(t, os.Chmod(filepath.Join(root, p, "etc"), 0o700))
	_, err := Unpack(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatZstd)), root, UnpackOptions{})
	noErr(t, err)
	s := snapshot(t, root)
	b, _ := os.ReadFile(filepath.Join(root, p, "bin/foo"))
	equal(t, sampleTree["bin/foo"], string(b))
	equal(t, "link libfoo.so.1.2", s[p+"lib/libfoo.so.1"])
	if !strings.HasPrefix(s[p+"lib/libfoo.so.1.1"], "file ") || !strings.HasPrefix(s[p+"etc/empty/local"], "file ") {
		t.Errorf("files not in the archive were touched: %v", s)
	}
	equal(t, "dir 700", s[p+"etc"]) // an existing directory keeps its mode
	checkNoStaging(t, root)
}

func TestCommitConflictsChangeNothing(t *testing.T) {
	p := "opt/fesa/Foo_DU/1.2.0/"
	for name, tree := range map[string]map[string]string{
		"file where a directory must go":    {p + "lib": "a file"},
		"symlink where a directory must go": {p + "share": "-> ../../../../etc", "etc/x": "x"},
		"directory where a file must go":    {p + "bin/foo/": ""},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tree)
			before := snapshot(t, root)
			_, err := Unpack(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatZstd)), root, UnpackOptions{})
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("err = %v, want fs.ErrExist", err)
			}
			t.Log(err)
			equal(t, before, snapshot(t, root))
		})
	}
}

// A symlink in the destination counts during resolution: with opt/x -> .
// already installed, the archive's opt/l -> x/.. would point at the parent
// of opt.
func TestStageResolvesThroughDestinationLinks(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"opt/x": "-> ."})
	data := gz(t, rawTar(t, true, sym("opt/l", "x/..")))
	before := snapshot(t, root)
	_, err := Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Name != "opt/l" {
		t.Fatalf("err = %v, want an *EntryError for opt/l", err)
	}
	equal(t, before, snapshot(t, root))
}

func TestStageVerifyReader(t *testing.T) {
	data := sampleArchive(t, index.FormatZstd)
	sum, size, err := verify.Digest(bytes.NewReader(data))
	noErr(t, err)
	for _, tc := range []struct {
		name string
		data []byte
		size int64
		sum  string
		want error
	}{
		{"ok", data, size, sum, nil},
		{"wrong digest", data, size, strings.Repeat("0", 64), verify.ErrDigestMismatch},
		{"wrong size", data, size + 1, sum, verify.ErrSizeMismatch},
		// Trailing bytes after the archive: read because Stage drains.
		{"longer than expected", append(append([]byte{}, data...), 0, 0, 0), size, sum, verify.ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			before := snapshot(t, root)
			s, err := Stage(context.Background(), verify.NewReader(bytes.NewReader(tc.data), tc.size, tc.sum), root, UnpackOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				equal(t, before, snapshot(t, root))
				return
			}
			_, err = s.Commit()
			noErr(t, err)
		})
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	c.n--
	if c.n == 0 {
		c.cancel()
	}
	if len(p) > 512 {
		p = p[:512]
	}
	return c.r.Read(p)
}

func TestStageCancelled(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"big": strings.Repeat("0123456789", 1<<20)})
	data := packTree(t, src, PackOptions{Prefix: "opt/x"})
	root := t.TempDir()
	before := snapshot(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Stage(ctx, &cancelAfter{r: bytes.NewReader(data), n: 5, cancel: cancel}, root, UnpackOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	equal(t, before, snapshot(t, root))
}

func TestUnpackOptionsValidation(t *testing.T) {
	for _, roots := range [][]string{{"/opt"}, {"../opt"}, {"."}, {""}} {
		_, err := Stage(context.Background(), bytes.NewReader(nil), t.TempDir(), UnpackOptions{AllowedRoots: roots})
		if err == nil || errors.Is(err, index.ErrUnknownFormat) {
			t.Errorf("allowed roots %q: err = %v, want a configuration error", roots, err)
		}
	}
}

func TestDetectAndParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want index.Format
		ext  string
	}{{"zstd", index.FormatZstd, ".tar.zst"}, {"ZST", index.FormatZstd, ".tar.zst"}, {"gz", index.FormatGzip, ".tar.gz"}, {"gzip", index.FormatGzip, ".tar.gz"}, {"xz", index.FormatXz, ".tar.xz"}} {
		f, err := index.ParseFormat(tc.in)
		noErr(t, err)
		equal(t, tc.want, f)
		equal(t, tc.ext, f.Extension())
	}
	if _, err := index.ParseFormat("bz2"); !errors.Is(err, index.ErrUnknownFormat) {
		t.Errorf("bz2: %v", err)
	}
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		data := sampleArchive(t, f)
		got, r, err := index.Detect(bytes.NewReader(data))
		noErr(t, err)
		equal(t, f, got)
		all, _ := io.ReadAll(r)
		if !bytes.Equal(all, data) {
			t.Errorf("%s: Detect's reader does not replay the whole stream", f)
		}
	}
	// Short inputs: a gzip magic alone is recognised, one byte is not.
	if f, _, err := index.Detect(bytes.NewReader([]byte{0x1f, 0x8b})); err != nil || f != index.FormatGzip {
		t.Errorf("gzip magic only: %v %v", f, err)
	}
	if _, _, err := index.Detect(bytes.NewReader([]byte{0x28})); !errors.Is(err, index.ErrUnknownFormat) {
		t.Errorf("one byte: %v", err)
	}
}
