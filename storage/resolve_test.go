package storage

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResolveMatchesKernel builds random trees of folders, files and
// symlinks (relative, absolute, chains, "..", trailing slashes, loops) and
// checks resolve against the kernel: where resolve finds a file the kernel
// opens the same file, and where resolve says it dangles, loops or is not a
// directory, the kernel fails too. Paths that leave the storage are not
// compared (resolve refuses them by design). Some absolute targets go
// through an alias outside the storage (a symlink to the base or to a folder
// in it): resolve finds the storage in them as the kernel does.
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
		ra := rand.New(rand.NewSource(seed + 1000)) // the aliases; r's sequence stays as it was
		s := newTestStorage(t)
		base := s.Base()
		aliases := t.TempDir()
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
			if ra.Intn(5) == 0 {
				// An alias of the base or of a folder in it, then a path below it.
				to := dirs[ra.Intn(len(dirs))]
				alias := filepath.Join(aliases, fmt.Sprint("alias", i))
				require.NoError(t, os.Symlink(filepath.Join(base, to), alias))
				target = alias + "/" + strings.Join(parts, "/")
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

func TestLinksResolveByPath(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	mustAddFEC(t, s, "fec01", "x86_64")
	mustPublish(t, s, index.KindSoftware, "Foo", "1.0.0", "x86_64", blob(index.FormatZstd, 100, 1))
	mustPublish(t, s, index.KindSoftware, "Foo", "2.0.0", "x86_64", blob(index.FormatZstd, 100, 2))
	mustPublish(t, s, index.KindConfiguration, "Cfg", "1.0.0", "", blob(index.FormatGzip, 100, 3))
	require.NoError(t, s.Link(ctx, "fec01", index.KindSoftware, "Foo", "1.0.0"))
	require.NoError(t, s.Link(ctx, "fec01", index.KindConfiguration, "Cfg", "1.0.0"))
	base := s.Base()
	sw := filepath.Join(base, "fecs/fec01/software")
	ln := func(target, name string) { require.NoError(t, os.Symlink(target, filepath.Join(sw, name))) }
	// A chain: Chain -> Foo (a link) -> the archive.
	ln("Foo", "Chain")
	// Through a detour that a string comparison would get wrong.
	ln("../../../software/Bar/../Foo/2.0.0/./Foo-2.0.0-x86_64.tar.zst", "Detour")
	require.NoError(t, os.MkdirAll(filepath.Join(base, "software/Bar"), 0o755))
	// Absolute, inside the base.
	ln(filepath.Join(base, "software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst"), "Abs")
	// A directory link: the whole software folder.
	ln("../../../software/Foo", "Whole")
	// Dangling, leaving the storage, looping, trailing slash on a file.
	ln("../../../software/Foo/3.0.0/Foo-3.0.0-x86_64.tar.zst", "Dangling")
	ln("../../../../etc/passwd", "Escape")
	ln("/etc/passwd", "AbsEscape")
	ln("Loop2", "Loop1")
	ln("Loop1", "Loop2")
	ln("../../../software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst/", "Slash")
	// A directory symlink in the middle of the path.
	require.NoError(t, os.Symlink("Foo/2.0.0", filepath.Join(base, "software/FooCurrent")))
	ln("../../../software/FooCurrent/Foo-2.0.0-x86_64.tar.zst", "ViaDirLink")

	links, err := s.Links(ctx)
	require.NoError(t, err)
	got := map[string]Link{}
	for _, l := range links {
		got[l.Path] = l
	}
	for name, want := range map[string]struct {
		target, software, version string
		kind                      index.Kind
		problem                   string
	}{
		"Foo":        {"software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", "Foo", "1.0.0", index.KindSoftware, ""},
		"Chain":      {"software/Foo/1.0.0/Foo-1.0.0-x86_64.tar.zst", "Foo", "1.0.0", index.KindSoftware, ""},
		"Detour":     {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Abs":        {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Whole":      {"software/Foo", "Foo", "", index.KindSoftware, ""},
		"ViaDirLink": {"software/Foo/2.0.0/Foo-2.0.0-x86_64.tar.zst", "Foo", "2.0.0", index.KindSoftware, ""},
		"Dangling":   {"", "", "", "", "does not exist"},
		"Escape":     {"", "", "", "", "out of the storage"},
		"AbsEscape":  {"", "", "", "", "outside the storage"},
		"Loop1":      {"", "", "", "", "too many levels"},
		"Slash":      {"", "", "", "", "not a directory"},
	} {
		l, ok := got["fecs/fec01/software/"+name]
		if !ok {
			t.Errorf("link %s not listed", name)
			continue
		}
		assert.Equal(t, "fec01", l.FEC, name)
		assert.Equal(t, index.KindSoftware, l.Kind, name)
		assert.Equal(t, name, l.Name, name)
		assert.Equal(t, want.target, l.Target, name+" target")
		assert.Equal(t, want.software, l.Software, name+" software")
		assert.Equal(t, want.version, l.Version, name+" version")
		assert.Equal(t, want.kind, l.TargetKind, name+" kind")
		if want.problem == "" {
			assert.Equal(t, "", l.Problem, name+" problem")
		} else {
			assert.Contains(t, l.Problem, want.problem, name)
		}
	}
	cfg := got["fecs/fec01/configuration/Cfg"]
	assert.Equal(t, index.KindConfiguration, cfg.TargetKind)
	assert.Equal(t, "Cfg", cfg.Software)

	// Uses: by path. 2.0.0 is used by Detour, Abs, Whole, ViaDirLink.
	users, err := s.Uses(ctx, index.KindSoftware, "Foo", "2.0.0")
	require.NoError(t, err)
	var names []string
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	assert.Equal(t, "Abs,Detour,ViaDirLink,Whole", strings.Join(names, ","))
	users, err = s.Uses(ctx, index.KindSoftware, "Foo", "3.0.0")
	require.NoError(t, err)
	names = nil
	for _, u := range users {
		names = append(names, path.Base(u.Link))
	}
	sort.Strings(names)
	assert.Equal(t, "Whole", strings.Join(names, ","), "a folder link uses every version, even future ones")

	// BuildIndex refuses a FEC with a broken link, naming it.
	_, err = s.BuildIndex(ctx, "fec01")
	require.ErrorIs(t, err, ErrBrokenLink)
}
