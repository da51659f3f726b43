package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// Link is a symlink found under fecs/, resolved by path.
type Link struct {
	Path string     // base-relative path of the symlink, e.g. fecs/fec01/software/Foo_DU
	FEC  string     // the folder under fecs/ it is in ("global" for links among shared scripts)
	Kind index.Kind // from the folder it is in (init, software, configuration, data); "" elsewhere
	Name string     // the entry name (data: without .tar.<ext>); "" when the link is not an entry
	Raw  string     // the link's content, as readlink(2) returns it
	// Target is the base-relative path the link resolves to, following
	// every symlink on the way like the kernel does; "" when it is broken
	// (dangling, leaving the storage, a loop), and Problem says why.
	Target  string
	Problem string
	// TargetKind, Software and Version say where Target lies in the
	// published trees: TargetKind is index.KindSoftware for software/...,
	// index.KindConfiguration for configuration/... (then Software is the
	// configuration's name), "" elsewhere. Version is "" when Target is the
	// software/<name> folder itself, which uses every version.
	TargetKind index.Kind
	Software   string
	Version    string
}

// Uses reports whether the link keeps <kind>/<name>/<version> alive: its
// target lies inside that version folder or contains it.
func (l Link) Uses(kind index.Kind, name, version string) bool {
	if l.Target == "" {
		return false
	}
	dir, err := pathFor(versionPathSpec{kind, name, version})
	if err != nil {
		return false
	}
	return isWithin(l.Target, dir) || isWithin(dir, l.Target)
}

// brokenError describes why a path does not resolve.
type brokenError struct {
	path, reason string
}

func (e *brokenError) Error() string { return e.path + ": " + e.reason }
func (e *brokenError) Unwrap() error { return ErrBrokenLink }

const maxSymlinks = 40 // as Linux

// resolve follows the base-relative path rel the way the kernel would
// (relative and absolute symlinks, chains, "..", trailing slashes), but
// confined to the storage: a path that leaves the base, dangles or loops is
// an ErrBrokenLink. It returns the base-relative resolved path ("" for the
// base itself) and the final file's info.
func (s *Storage) resolve(rel string) (string, os.FileInfo, error) {
	return s.resolveWith(rel, nil)
}

// resolveWith is resolve with a cache of lstat and readlink results (nil:
// none), for a reindex that resolves the same folders and archives over
// and over. It must only live while the tree does not change (one reindex
// under the lock).
func (s *Storage) resolveWith(rel string, cache *hashCache) (string, os.FileInfo, error) {
	return s.resolveVisit(rel, cache, nil)
}

// resolveVisit is resolveWith that also calls visit (when not nil) with
// every base-relative path it steps on, before looking at it.
func (s *Storage) resolveVisit(rel string, cache *hashCache, visit func(cur string)) (string, os.FileInfo, error) {
	var done []string // resolved components, each an existing non-symlink
	todo := strings.Split(rel, "/")
	isDir := true // the node done names
	links := 0
	var last os.FileInfo
	fail := func(reason string) (string, os.FileInfo, error) {
		return "", nil, &brokenError{rel, reason}
	}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if !isDir {
			return fail(fmt.Sprintf("%s is not a directory", path.Join(done...)))
		}
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return fail("it leads out of the storage")
			}
			done = done[:len(done)-1]
			last = nil
			continue
		}
		cur := path.Join(append(done, c)...)
		if visit != nil {
			visit(cur)
		}
		fi, err := cache.lstat(s, cur)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fail(fmt.Sprintf("%s does not exist", cur))
			}
			return "", nil, fmt.Errorf("storage: resolving %s: %w", rel, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return fail("too many levels of symbolic links (a loop?)")
			}
			t, err := cache.readlink(s, cur)
			if err != nil {
				return "", nil, fmt.Errorf("storage: resolving %s: %w", rel, err)
			}
			if filepath.IsAbs(t) {
				r, ok := s.within(t)
				if !ok {
					return fail(fmt.Sprintf("%s points to %s, outside the storage", cur, t))
				}
				done, last = nil, nil
				t = r
			}
			todo = append(strings.Split(filepath.ToSlash(t), "/"), todo...)
			continue
		}
		done = append(done, c)
		isDir = fi.IsDir()
		last = fi
	}
	if last == nil {
		fi, err := os.Stat(s.abs(path.Join(done...)))
		if err != nil {
			return "", nil, fmt.Errorf("storage: resolving %s: %w", rel, err)
		}
		last = fi
	}
	return path.Join(done...), last, nil
}

// within turns an absolute path inside the storage into a base-relative one.
func (s *Storage) within(abs string) (string, bool) {
	abs = filepath.Clean(abs)
	for _, b := range []string{s.base, s.realBase} {
		if b == "" {
			continue
		}
		if r, err := filepath.Rel(b, abs); err == nil && (r == "." || filepath.IsLocal(r)) {
			if r == "." {
				r = ""
			}
			return filepath.ToSlash(r), true
		}
	}
	return "", false
}

// Links returns every symlink under fecs/ (walked without following links),
// resolved by path, sorted by Path.
func (s *Storage) Links(ctx context.Context) ([]Link, error) {
	var links []Link
	cache := newHashCache() // folders and archives are resolved once per call
	root := s.abs(FECsDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // vanished while walking
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		r, _ := filepath.Rel(s.base, p)
		l := s.linkWith(filepath.ToSlash(r), cache)
		links = append(links, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: listing links: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Path < links[j].Path })
	return links, nil
}

// link describes the symlink at the base-relative path rel.
func (s *Storage) link(rel string) Link { return s.linkWith(rel, nil) }

// linkWith is link with a resolution cache (see resolveWith).
func (s *Storage) linkWith(rel string, cache *hashCache) Link {
	l := Link{Path: rel}
	parts := strings.Split(rel, "/") // fecs/<FEC>/<kind dir>/<name>
	if len(parts) > 1 {
		l.FEC = parts[1]
	}
	if len(parts) == 4 {
		for _, k := range index.Kinds {
			if d, _ := kindDir(k); d == parts[2] {
				l.Kind, l.Name = k, parts[3]
				if k == index.KindData {
					l.Name, _, _ = index.SplitExtension(parts[3])
				}
			}
		}
	}
	l.Raw, _ = os.Readlink(s.abs(rel))
	target, _, err := s.resolveWith(rel, cache)
	if err != nil {
		var be *brokenError
		if errors.As(err, &be) {
			l.Problem = be.reason
		} else {
			l.Problem = err.Error()
		}
		return l
	}
	l.Target = target
	if loc, ok := locateInTree(target); ok && loc.name != "" {
		l.TargetKind, l.Software, l.Version = loc.kind, loc.name, loc.version
	}
	return l
}
