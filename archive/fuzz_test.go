package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzStage feeds arbitrary bytes to Stage and Commit, seeded with the
// crafted archives in testdata/. Whatever the input: no panic, nothing
// changes outside the FEC root, everything extracted lies below the allowed
// root, no symlink resolves outside it, and a refusal changes nothing.
func FuzzStage(f *testing.F) {
	for _, c := range crafted {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		root := filepath.Join(outer, "root")
		testkit.WriteTree(t, outer, map[string]string{
			"outside/secret":  "secret",
			"root/etc/passwd": "root:x:0:0::/root:/bin/sh\n",
			"root/opt/keep":   "kept",
		})
		before := testkit.Snapshot(t, outer)
		opts := UnpackOptions{AllowedRoots: []string{"opt"}, MaxBytes: 4 << 20, MaxEntries: 2000}
		_, err := Unpack(context.Background(), bytes.NewReader(data), root, opts)
		after := testkit.Snapshot(t, outer)
		if err != nil {
			assert.Equal(t, before, after)
			return
		}
		allowed := filepath.Join(root, "opt")
		for name, desc := range after {
			p := filepath.Join(outer, name)
			if before[name] == desc {
				continue
			}
			require.True(t, strings.HasPrefix(p, allowed+string(filepath.Separator)), "%s (%s) changed outside %s", name, desc, allowed)
			require.NotContains(t, name, StagingPrefix, "staging left behind")
			if strings.HasPrefix(desc, "link ") {
				if real, err := filepath.EvalSymlinks(p); err == nil {
					rel, err := filepath.Rel(allowed, real)
					require.True(t, err == nil && (filepath.IsLocal(rel) || rel == "."), "symlink %s resolves to %s, outside %s", name, real, allowed)
				}
			}
		}
	})
}
