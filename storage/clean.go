package storage

// Cleaning up after killed writers: stale temporary files, missing checksums.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// isTemp reports whether a file name is one of our temporary names.
func isTemp(name string) bool { return strings.HasPrefix(name, tmpPrefix) }

// staleTemp reports whether the temporary file at p belongs to no live
// writer: nobody holds its flock. Temporary symlinks and directories are
// only made with the storage lock held, so with the lock held they are
// always stale.
// tempGrace is how old an unlocked temp file must be before Clean and
// Verify count it as left behind by a killed writer.
var tempGrace = time.Minute

func staleTemp(p string, d fs.DirEntry) bool {
	if !d.Type().IsRegular() {
		return true
	}
	// A writer creates its temp file and then takes the flock: a young
	// file may belong to a writer between the two. Killed writers' files
	// age; only those are stale.
	if info, err := d.Info(); err != nil || time.Since(info.ModTime()) < tempGrace {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // a live writer holds it
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// Clean removes the temporary files and folders that killed writers left
// behind (a live writer's are kept: it holds their flock) and writes the
// .sha256 sidecars that a writer killed between renaming an archive into
// place and writing its sidecar did not write (the archive itself was
// complete and synced before the rename). It returns the base-relative paths
// it removed or wrote.
func (s *Storage) Clean(ctx context.Context) ([]string, error) {
	var removed []string
	err := s.locked(ctx, func() error {
		temps, err := s.temps()
		if err != nil {
			return err
		}
		for _, t := range temps {
			if !t.stale {
				continue
			}
			if err := os.RemoveAll(s.abs(t.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("storage: removing %s: %w", t.path, err)
			}
			removed = append(removed, t.path)
			s.logger().Info("removed stale temporary file", "path", t.path)
		}
		written, err := s.repairChecksums(ctx)
		removed = append(removed, written...)
		return err
	})
	return removed, err
}

type tempEntry struct {
	path  string
	stale bool
}

// temps finds temporary files everywhere in the storage.
func (s *Storage) temps() ([]tempEntry, error) {
	var out []tempEntry
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == s.base {
				return err
			}
			return nil
		}
		if !isTemp(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(s.base, p)
		out = append(out, tempEntry{path: filepath.ToSlash(rel), stale: staleTemp(p, d)})
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: looking for temporary files: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// repairChecksums writes missing sidecars of published archives.
func (s *Storage) repairChecksums(ctx context.Context) ([]string, error) {
	var written []string
	for _, kind := range []index.Kind{index.KindSoftware, index.KindConfiguration} {
		top, _ := treeDir(kind)
		names, _ := os.ReadDir(s.abs(top))
		for _, n := range names {
			versions, _ := os.ReadDir(s.abs(top + "/" + n.Name()))
			for _, v := range versions {
				dir := top + "/" + n.Name() + "/" + v.Name()
				files, _ := os.ReadDir(s.abs(dir))
				for _, f := range files {
					if _, ok := parseArchiveFileName(kind, n.Name(), v.Name(), f.Name()); !ok || !f.Type().IsRegular() {
						continue
					}
					if err := ctx.Err(); err != nil {
						return written, err
					}
					p := s.abs(dir + "/" + f.Name())
					if _, ok := readChecksum(p); ok {
						continue
					}
					sum, err := hashFile(p)
					if err != nil {
						return written, fmt.Errorf("storage: hashing %s: %w", p, err)
					}
					if err := writeChecksum(p, sum); err != nil {
						return written, fmt.Errorf("storage: writing the checksum of %s: %w", p, err)
					}
					written = append(written, dir+"/"+f.Name()+ChecksumSuffix)
					s.logger().Info("wrote missing checksum", "path", dir+"/"+f.Name())
				}
			}
		}
	}
	return written, nil
}
