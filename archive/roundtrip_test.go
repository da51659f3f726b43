package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
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
	for _, f := range []index.Format{index.FormatZstd, index.FormatGzip, index.FormatXz} {
		t.Run(string(f), func(t *testing.T) {
			src := t.TempDir()
			writeTree(t, src, sampleTree)
			noErr(t, os.Chmod(filepath.Join(src, "bin/foo"), 0o755))
			var buf bytes.Buffer
			st, err := Pack(context.Background(), &buf, src, PackOptions{Format: f, Prefix: "opt/fesa/Foo_DU/1.2.0"})
			noErr(t, err)
			equal(t, 4, st.Files)
			equal(t, 3, st.Symlinks)
			equal(t, int64(buf.Len()), st.Size)

			got, r, err := index.Detect(bytes.NewReader(buf.Bytes()))
			noErr(t, err)
			equal(t, f, got)
			_ = r

			root := t.TempDir()
			res, err := Unpack(context.Background(), bytes.NewReader(buf.Bytes()), root, UnpackOptions{})
			noErr(t, err)
			equal(t, Result{Files: 4, Dirs: 9, Symlinks: 3, Bytes: st.InputBytes}, res)

			want := snapshot(t, src)
			have := snapshot(t, filepath.Join(root, "opt/fesa/Foo_DU/1.2.0"))
			equal(t, want, have)
			// Nothing else was left behind: no staging directory.
			entries, err := os.ReadDir(filepath.Join(root, "opt"))
			noErr(t, err)
			if len(entries) != 1 {
				t.Fatalf("opt holds %v, want only fesa", entries)
			}
			equal(t, "fesa", entries[0].Name())
		})
	}
}
