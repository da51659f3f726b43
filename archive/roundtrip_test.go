package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sampleTree = map[string]string{
	"bin/foo":               "#!/bin/sh\necho foo\n",
	"lib/libfoo.so.1.2":     "ELF pretend",
	"lib/libfoo.so.1":       "-> libfoo.so.1.2",
	"lib/libfoo.so":         "-> ./libfoo.so.1",
	"etc/empty/":            "",
	"etc/Foo_DU.instance":   "<instance/>\n",
	"share/doc/README":      "readme",
	"share/doc/link-to-bin": "-> ../../bin/foo",
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			testkit.WriteTree(t, src, sampleTree)
			require.NoError(t, os.Chmod(filepath.Join(src, "bin/foo"), 0o755))
			var buf bytes.Buffer
			st, err := Pack(context.Background(), &buf, src, PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"})
			require.NoError(t, err)
			assert.Equal(t, 4, st.Files)
			assert.Equal(t, 3, st.Symlinks)
			assert.Equal(t, int64(buf.Len()), st.Size)

			got, r, err := index.Detect(bytes.NewReader(buf.Bytes()))
			require.NoError(t, err)
			assert.Equal(t, f, got)
			_ = r

			root := t.TempDir()
			res, err := Unpack(context.Background(), bytes.NewReader(buf.Bytes()), root, UnpackOptions{})
			require.NoError(t, err)
			assert.Equal(t, Result{Files: 4, Dirs: 9, Symlinks: 3, Bytes: st.InputBytes}, res)

			want := testkit.Snapshot(t, src)
			have := testkit.Snapshot(t, filepath.Join(root, "opt/fesa/Foo_DU/1.2.0"))
			assert.Equal(t, want, have)
			// Nothing else was left behind: no staging directory.
			entries, err := os.ReadDir(filepath.Join(root, "opt"))
			require.NoError(t, err)
			require.Len(t, entries, 1, "opt holds only fesa")
			assert.Equal(t, "fesa", entries[0].Name())
		})
	}
}
