// Package testkit is the one set of test helpers every package's tests share:
// describing a directory tree (to assert "nothing was written or lost"),
// writing fixture trees, and reading files, all failing the test through
// testify's require. Real components (nginx, busybox, sshd, ...) are started
// by internal/testenv; fake web storages for the clients are in
// client/clienttest.
package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// SnapshotOptions tune Snapshot.
type SnapshotOptions struct {
	// Skip leaves out paths (relative, slash-separated) for which it
	// returns true, e.g. a lock file whose content names its last holder.
	Skip func(rel string) bool
	// NoModes leaves permission bits out of the description.
	NoModes bool
}

// Snapshot describes every path under dir: type, permission bits (unless
// NoModes), content digest or link target. Two equal snapshots mean an
// unchanged tree; a missing dir gives an empty snapshot.
//
//	"opt/x"     -> "file 644 <sha256 prefix>"
//	"opt"       -> "dir 755"
//	"opt/link"  -> "link <target>"
func Snapshot(t testing.TB, dir string, opts ...SnapshotOptions) map[string]string {
	t.Helper()
	var o SnapshotOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if o.Skip != nil && rel != "." && o.Skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m := info.Mode()
		perm := func() string {
			if o.NoModes {
				return ""
			}
			return fmt.Sprintf(" %o", m&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		switch {
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case m.IsDir():
			out[rel] = "dir" + perm()
		case m.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file" + perm() + " " + hex.EncodeToString(sum[:8])
		default:
			out[rel] = "other " + m.String()
		}
		return nil
	})
	if os.IsNotExist(err) {
		return map[string]string{}
	}
	require.NoError(t, err)
	return out
}

// Paths lists every path under dir (relative, slash-separated, directories
// with a trailing slash), sorted; a missing dir gives nil.
func Paths(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for rel, what := range Snapshot(t, dir, SnapshotOptions{NoModes: true}) {
		if rel == "." {
			continue
		}
		if what == "dir" {
			rel += "/"
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out
}

// WriteTree creates, under dir, files (name -> content), directories (a
// name ending in "/", content ignored) and symlinks (content "-> target").
// Files get mode 0644, or 0755 when their name ends in ".sh" or lies in a
// bin/ or init/ directory.
func WriteTree(t testing.TB, dir string, spec map[string]string) string {
	t.Helper()
	for name, content := range spec {
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch {
		case strings.HasSuffix(name, "/"):
			require.NoError(t, os.MkdirAll(p, 0o755))
		case strings.HasPrefix(content, "-> "):
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink(content[3:], p))
		default:
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			mode := os.FileMode(0o644)
			if strings.HasSuffix(name, ".sh") || strings.Contains("/"+name, "/bin/") || strings.Contains("/"+name, "/init/") {
				mode = 0o755
			}
			require.NoError(t, os.WriteFile(p, []byte(content), mode))
		}
	}
	return dir
}

// ReadFile returns a file's content as a string.
func ReadFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// SHA256 is the lowercase hex sha256 of b.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
