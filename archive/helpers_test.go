package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// snapshot describes every path under dir: type, permission bits and
// content digest or link target. Two equal snapshots mean an unchanged tree.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		m := info.Mode()
		switch {
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case m.IsDir():
			out[rel] = fmt.Sprintf("dir %o", m.Perm())
		case m.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file %o %s", m&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), hex.EncodeToString(sum[:8]))
		default:
			out[rel] = "other " + m.String()
		}
		return nil
	})
	noErr(t, err)
	return out
}

// writeTree creates files (content), directories (trailing slash, no
// content) and symlinks ("-> target") under dir.
func writeTree(t testing.TB, dir string, spec map[string]string) {
	t.Helper()
	for name, content := range spec {
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch {
		case name[len(name)-1] == '/':
			noErr(t, os.MkdirAll(p, 0o755))
		case len(content) > 3 && content[:3] == "-> ":
			noErr(t, os.MkdirAll(filepath.Dir(p), 0o755))
			noErr(t, os.Symlink(content[3:], p))
		default:
			noErr(t, os.MkdirAll(filepath.Dir(p), 0o755))
			noErr(t, os.WriteFile(p, []byte(content), 0o644))
		}
	}
}

func packTree(t testing.TB, src string, opts PackOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := Pack(context.Background(), &buf, src, opts)
	noErr(t, err)
	return buf.Bytes()
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T any](t testing.TB, want, got T) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
