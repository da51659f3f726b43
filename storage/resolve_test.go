package storage

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResolveMatchesKernel builds random trees of folders, files and
// symlinks (relative, absolute, chains, "..", trailing slashes, loops) and
// checks resolve against the kernel: where resolve finds a file the kernel
// opens the same file, and where resolve says it dangles, loops or is not a
// directory, the kernel fails too. Paths that leave the storage are not
// compared (resolve refuses them by design).
func TestResolveMatchesKernel(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c", "d"}
	compared := 0
	seeds := []int64{134, 160} // found an absolute link that left resolve's result stale (fixed)
	for seed := int64(0); seed < 60; seed++ {
		seeds = append(seeds, seed)
	}
	for _, seed := range seeds {
		r := rand.New(rand.NewSource(seed))
		s := newTestStorage(t)
		base := s.Base()
		var dirs = []string{""}
		var all []string
		// Folders and files.
		for i := 0; i < 8; i++ {
			parent := dirs[r.Intn(len(dirs))]
			p := filepath.Join(parent, names[r.Intn(len(names))]+fmt.Sprint(i))
			if r.Intn(2) == 0 {
				require.NoError(t, os.MkdirAll(filepath.Join(base, p), 0o755))
				dirs = append(dirs, p)
			} else {
				require.NoError(t, os.WriteFile(filepath.Join(base, p), []byte(p), 0o644))
			}
			all = append(all, p)
		}
		// Symlinks with random targets.
		for i := 0; i < 10; i++ {
			parent := dirs[r.Intn(len(dirs))]
			var parts []string
			for j := 0; j < 1+r.Intn(4); j++ {
				switch x := r.Intn(6); x {
				case 0:
					parts = append(parts, "..")
				case 1:
					parts = append(parts, ".")
				default:
					parts = append(parts, filepath.Base(all[r.Intn(len(all))]))
				}
			}
			target := strings.Join(parts, "/")
			if r.Intn(6) == 0 {
				target += "/"
			}
			if r.Intn(8) == 0 {
				target = filepath.Join(base, all[r.Intn(len(all))])
			}
			p := filepath.Join(parent, "l"+fmt.Sprint(i))
			require.NoError(t, os.Symlink(target, filepath.Join(base, p)))
			all = append(all, p)
		}
		// Resolve every path, and some with a suffix through them.
		var queries []string
		for _, p := range all {
			queries = append(queries, filepath.ToSlash(p), filepath.ToSlash(p)+"/", filepath.ToSlash(p)+"/"+names[r.Intn(len(names))]+"0")
		}
		for _, q := range queries {
			got, fi, err := s.resolve(q)
			kfi, kerr := os.Stat(base + "/" + q) // no Join: it would drop a trailing slash
			if err != nil {
				var be *brokenError
				require.True(t, errors.As(err, &be), "seed %d: %s: %v", seed, q, err)
				if strings.Contains(be.reason, "out of the storage") || strings.Contains(be.reason, "outside the storage") {
					continue
				}
				compared++
				assert.False(t, kerr == nil, "seed %d: resolve(%q) = %v, but the kernel resolves it", seed, q, err)
				continue
			}
			compared++
			if kerr != nil {
				t.Errorf("seed %d: resolve(%q) = %q, but the kernel says %v", seed, q, got, kerr)
				continue
			}
			if !os.SameFile(fi, kfi) {
				raw, _ := os.Readlink(s.abs(q))
				t.Errorf("seed %d: resolve(%q) = %q (%s), not what the kernel opens (%s); link says %q", seed, q, got, fi.Name(), kfi.Name(), raw)
			}
			if rfi, err := os.Lstat(s.abs(got)); err != nil || rfi.Mode()&os.ModeSymlink != 0 {
				t.Errorf("seed %d: resolve(%q) = %q, which is not a resolved path", seed, q, got)
			}
		}
	}
	require.False(t, compared < 1000, "only %d comparisons", compared)
	t.Logf("%d paths compared with the kernel", compared)
}
