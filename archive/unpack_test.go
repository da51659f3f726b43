package archive

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/internal/verify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleArchive(t testing.TB, f index.Format) []byte {
	src := t.TempDir()
	testkit.WriteTree(t, src, sampleTree)
	return packTree(t, src, PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"})
}

func TestStageChangesNothingUntilCommit(t *testing.T) {
	t.Parallel()
	data := sampleArchive(t, index.FormatZstd)
	root := t.TempDir()
	testkit.WriteTree(t, root, existingTree)
	before := testkit.Snapshot(t, root)
	s, err := Stage(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	require.NoError(t, err)
	after := testkit.Snapshot(t, root)
	for name := range after {
		if _, ok := before[name]; !ok {
			assert.Contains(t, name, StagingPrefix, "%s appeared before Commit", name)
		}
	}
	require.NoError(t, s.Discard())
	assert.Equal(t, before, testkit.Snapshot(t, root))
	_, err = s.Commit()
	require.Error(t, err, "Commit after Discard succeeded")
	require.NoError(t, s.Discard()) // idempotent
}

func TestStageEmptyRootLeavesNoTrace(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := Stage(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatGzip)), root, UnpackOptions{AllowedRoots: []string{"opt/fesa"}})
	require.NoError(t, err)
	require.DirExists(t, filepath.Join(root, "opt/fesa"), "staging lives in the allowed root")
	require.NoError(t, s.Discard())
	assert.Equal(t, map[string]string{".": testkit.Snapshot(t, root)["."]}, testkit.Snapshot(t, root))
}

func TestCommitReplacesAndKeeps(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	p := "opt/fesa/Foo_DU/1.2.0/"
	testkit.WriteTree(t, root, map[string]string{
		p + "bin/foo":           "old binary",       // replaced
		p + "lib/libfoo.so.1":   "-> libfoo.so.1.1", // symlink replaced
		p + "lib/libfoo.so.1.1": "old lib",          // not in the archive: kept
		p + "etc/empty/local":   "local file",       // existing directory kept with its contents
	})
	require.NoError(t, os.Chmod(filepath.Join(root, p, "etc"), 0o700))
	_, err := Unpack(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatZstd)), root, UnpackOptions{})
	require.NoError(t, err)
	s := testkit.Snapshot(t, root)
	b, _ := os.ReadFile(filepath.Join(root, p, "bin/foo"))
	assert.Equal(t, sampleTree["bin/foo"], string(b))
	assert.Equal(t, "link libfoo.so.1.2", s[p+"lib/libfoo.so.1"])
	assert.True(t, strings.HasPrefix(s[p+"lib/libfoo.so.1.1"], "file ") && strings.HasPrefix(s[p+"etc/empty/local"], "file "),
		"files not in the archive were touched: %v", s)
	assert.Equal(t, "dir 700", s[p+"etc"]) // an existing directory keeps its mode
	checkNoStaging(t, root)
}

func TestCommitConflictsChangeNothing(t *testing.T) {
	t.Parallel()
	p := "opt/fesa/Foo_DU/1.2.0/"
	for name, tree := range map[string]map[string]string{
		"file where a directory must go":    {p + "lib": "a file"},
		"symlink where a directory must go": {p + "share": "-> ../../../../etc", "etc/x": "x"},
		"directory where a file must go":    {p + "bin/foo/": ""},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			testkit.WriteTree(t, root, tree)
			before := testkit.Snapshot(t, root)
			_, err := Unpack(context.Background(), bytes.NewReader(sampleArchive(t, index.FormatZstd)), root, UnpackOptions{})
			require.ErrorIs(t, err, fs.ErrExist)
			t.Log(err)
			assert.Equal(t, before, testkit.Snapshot(t, root))
		})
	}
}

// A symlink in the destination counts during resolution: with opt/x -> .
// already installed, the archive's opt/l -> x/.. would point at the parent
// of opt.
func TestStageResolvesThroughDestinationLinks(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	testkit.WriteTree(t, root, map[string]string{"opt/x": "-> ."})
	data := gz(t, rawTar(t, true, sym("opt/l", "x/..")))
	before := testkit.Snapshot(t, root)
	_, err := Unpack(context.Background(), bytes.NewReader(data), root, UnpackOptions{})
	var ee *EntryError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "opt/l", ee.Name)
	assert.Equal(t, before, testkit.Snapshot(t, root))
}

func TestStageVerifyReader(t *testing.T) {
	t.Parallel()
	data := sampleArchive(t, index.FormatZstd)
	sum, size, err := verify.Digest(bytes.NewReader(data))
	require.NoError(t, err)
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
			before := testkit.Snapshot(t, root)
			s, err := Stage(context.Background(), verify.NewReader(bytes.NewReader(tc.data), tc.size, tc.sum), root, UnpackOptions{})
			require.ErrorIs(t, err, tc.want)
			if err != nil {
				assert.Equal(t, before, testkit.Snapshot(t, root))
				return
			}
			_, err = s.Commit()
			require.NoError(t, err)
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
	t.Parallel()
	src := t.TempDir()
	testkit.WriteTree(t, src, map[string]string{"big": strings.Repeat("0123456789", 1<<20)})
	data := packTree(t, src, PackOptions{Prefix: "opt/x"})
	root := t.TempDir()
	before := testkit.Snapshot(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Stage(ctx, &cancelAfter{r: bytes.NewReader(data), n: 5, cancel: cancel}, root, UnpackOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, before, testkit.Snapshot(t, root))
}

func TestUnpackOptionsValidation(t *testing.T) {
	t.Parallel()
	for _, roots := range [][]string{{"/opt"}, {"../opt"}, {"."}, {""}} {
		_, err := Stage(context.Background(), bytes.NewReader(nil), t.TempDir(), UnpackOptions{AllowedRoots: roots})
		require.Error(t, err, "allowed roots %q", roots)
		assert.NotErrorIs(t, err, index.ErrUnknownFormat, "allowed roots %q: want a configuration error", roots)
	}
}

func TestDetectAndParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want index.Format
		ext  string
	}{{"zstd", index.FormatZstd, ".tar.zst"}, {"ZST", index.FormatZstd, ".tar.zst"}, {"gz", index.FormatGzip, ".tar.gz"}, {"gzip", index.FormatGzip, ".tar.gz"}, {"xz", index.FormatXz, ".tar.xz"}} {
		f, err := index.ParseFormat(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, f)
		assert.Equal(t, tc.ext, f.Extension())
	}
	_, err := index.ParseFormat("bz2")
	assert.ErrorIs(t, err, index.ErrUnknownFormat)
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		data := sampleArchive(t, f)
		got, r, err := index.Detect(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, f, got)
		all, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, data, all, "%s: Detect's reader replays the whole stream", f)
	}
	// Short inputs: a gzip magic alone is recognised, one byte is not.
	f, _, err := index.Detect(bytes.NewReader([]byte{0x1f, 0x8b}))
	require.NoError(t, err)
	assert.Equal(t, index.FormatGzip, f, "gzip magic only")
	_, _, err = index.Detect(bytes.NewReader([]byte{0x28}))
	assert.ErrorIs(t, err, index.ErrUnknownFormat, "one byte")
}
