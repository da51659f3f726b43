package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzStage feeds arbitrary bytes to Stage and Commit, seeded with the
// crafted archives in testdata/. Whatever the input: no panic, nothing
// changes outside the FEC root, everything extracted lies below the allowed
// root, no symlink resolves outside it, and a refusal changes nothing.
func FuzzStage(f *testing.F) {
	for _, c := range crafted {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		root := filepath.Join(outer, "root")
		writeTree(t, outer, map[string]string{
			"outside/secret":  "secret",
			"root/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
			"root/opt/keep":   "kept",
		})
		before := snapshot(t, outer)
		opts := UnpackOptions{AllowedRoots: []string{"opt"}, MaxBytes: 4 << 20, MaxEntries: 2000}
		_, err := Unpack(context.Background(), bytes.NewReader(data), root, opts)
		after := snapshot(t, outer)
		if err != nil {
			equal(t, before, after)
			return
		}
		allowed := filepath.Join(root, "opt")
		for name, desc := range after {
			p := filepath.Join(outer, name)
			if before[name] == desc {
				continue
			}
			if !strings.HasPrefix(p, allowed+string(filepath.Separator)) {
				t.Fatalf("%s (%s) changed outside %s", name, desc, allowed)
			}
			if strings.Contains(name, StagingPrefix) {
				t.Fatalf("staging left behind: %s", name)
			}
			if strings.HasPrefix(desc, "link ") {
				if real, err := filepath.EvalSymlinks(p); err == nil {
					if rel, err := filepath.Rel(allowed, real); err != nil || !filepath.IsLocal(rel) && rel != "." {
						t.Fatalf("symlink %s resolves to %s, outside %s", name, real, allowed)
					}
				}
			}
		}
	})
}
