package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Commit moves the staged archive into place. A directory of the archive
// that does not exist yet (a new version directory, with everything below
// it) moves with one rename of the whole staged tree, its modes already
// final: a reader sees all of it or none of it, and a kill leaves either
// nothing or the whole directory. Files and symlinks that go into existing
// directories move one rename each (atomic per file) and replace what is
// there; existing directories keep their modes. Before anything moves it
// checks the whole plan: a non-directory where a directory must go, or a
// directory where a file must go, fails the commit with nothing changed.
// The staging directories are removed in every case.
//
// Every rename is relative to open directories (renameat), so a deep
// archive works below any root, however long the root's own path.
func (s *Staged) Commit() (Result, error) {
	return s.commit("")
}

// CommitReplacing is Commit, but replaces the directory dir (relative to the
// root, e.g. opt/fesa/Foo/dev) as a whole when it exists: every entry of the
// archive must lie in dir or be one of its parent directories, and the
// staged dir takes the place of the old one in one step (renameat2
// RENAME_EXCHANGE where the kernel has it, else two renames with dir absent
// for that moment); the old tree is removed with the staging directory.
// Files of the old tree that the archive does not have are gone. When dir
// does not exist it is Commit.
func (s *Staged) CommitReplacing(dir string) (Result, error) {
	return s.commit(path.Clean(dir))
}

// Prefix returns the archive's own directory below its allowed root: the
// deepest directory such that every entry is that directory, inside it, or
// one of its parent directories (opt/fesa/Foo/1.2.0 for a packed version
// tree). "" when that is an allowed root itself or above.
func (s *Staged) Prefix() string {
	cand, set := "", false
	shrink := func(n string) {
		if !set {
			cand, set = n, true
			return
		}
		for !within(n, cand) {
			cand = path.Dir(cand)
		}
	}
	for _, it := range s.items {
		shrink(path.Dir(it.name))
	}
	for _, d := range s.dirs {
		if set && within(cand, d.name) {
			continue // cand's parent (or cand)
		}
		shrink(d.name)
	}
	if !set {
		return ""
	}
	for _, ar := range s.areas {
		if within(cand, ar.allowed) && cand != ar.allowed {
			return cand
		}
	}
	return ""
}

// dest returns an open directory for dir (relative to the root), opened
// through the root (so it lies inside it, following symlinks that stay
// inside), reusing the last one.
func (s *Staged) dest(dir string) (int, error) {
	if s.destDir != nil && s.destName == dir {
		return int(s.destDir.Fd()), nil
	}
	if s.destDir != nil {
		s.destDir.Close()
		s.destDir = nil
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return -1, err
	}
	s.destName, s.destDir = dir, f
	return int(f.Fd()), nil
}

// lstat is fstatat(AT_SYMLINK_NOFOLLOW) of name (relative to the root) in
// its parent directory.
func (s *Staged) lstat(name string) (uint32, error) {
	fd, err := s.dest(path.Dir(name))
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, path.Base(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, &os.PathError{Op: "lstat", Path: filepath.Join(s.rootPath, name), Err: err}
	}
	return st.Mode, nil
}

// readlink reads the symlink name (relative to the root) of the destination.
func (s *Staged) readlink(name string) (string, error) {
	fd, err := s.dest(path.Dir(name))
	if err != nil {
		return "", err
	}
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		k, err := unix.Readlinkat(fd, path.Base(name), buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		if k < n {
			return string(buf[:k]), nil
		}
	}
}

func typeOf(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "directory"
	}
	return "special file"
}

func (s *Staged) commit(replace string) (Result, error) {
	if s.finished {
		return Result{}, errors.New("archive: Commit after Commit or Discard")
	}
	defer s.discard()
	if replace != "" && replace != "." {
		m, err := s.lstat(replace)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			replace = ""
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case m&unix.S_IFMT != unix.S_IFDIR:
			return Result{}, fmt.Errorf("archive: commit: %s exists as a %s where the archive has a directory; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, replace), typeOf(m), fs.ErrExist)
		default:
			return s.replaceDir(replace)
		}
	}
	// Plan.
	create := map[string]bool{}
	var tops []*stagedDir // created directories whose parent exists: one rename each
	for _, d := range s.dirs {
		if create[path.Dir(d.name)] {
			create[d.name] = true
			continue
		}
		m, err := s.lstat(d.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			create[d.name] = true
			tops = append(tops, d)
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case m&unix.S_IFMT != unix.S_IFDIR:
			return Result{}, fmt.Errorf("archive: commit: %s exists as a %s where the archive has a directory; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, d.name), typeOf(m), fs.ErrExist)
		}
	}
	for _, it := range s.items {
		if create[path.Dir(it.name)] {
			continue
		}
		m, err := s.lstat(it.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case m&unix.S_IFMT == unix.S_IFDIR:
			return Result{}, fmt.Errorf("archive: commit: %s is a directory where the archive has a file or symlink; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, it.name), fs.ErrExist)
		}
	}
	// Final modes inside the staged trees first (children before parents),
	// so that what appears has them from its first instant.
	isTop := map[*stagedDir]bool{}
	for _, d := range tops {
		isTop[d] = true
	}
	if err := s.stageModes(func(d *stagedDir) bool { return create[d.name] }, isTop); err != nil {
		return Result{}, err
	}
	// Execute. From here on the allowed roots stay.
	for _, ar := range s.areas {
		ar.created = nil
	}
	moved := 0
	state := func() string {
		if moved == 0 {
			return "nothing was changed"
		}
		return fmt.Sprintf("partially done: %d of %d moves", moved, len(tops)+len(s.items))
	}
	for _, d := range tops {
		if err := s.moveDir(d, d.name); err != nil {
			return Result{}, fmt.Errorf("archive: commit (%s): %w", state(), err)
		}
		moved++
	}
	for _, it := range s.items {
		if create[path.Dir(it.name)] {
			continue // moved with its directory
		}
		fd, err := s.dest(path.Dir(it.name))
		if err == nil {
			err = unix.Renameat(it.a.stFd(), it.rel, fd, path.Base(it.name))
		}
		if err != nil {
			return Result{}, fmt.Errorf("archive: commit (%s): moving %s into place: %w", state(), filepath.Join(s.rootPath, it.name), err)
		}
		moved++
	}
	return s.res, nil
}

// stageModes gives the staged directories selected by sel their final mode,
// deepest first, where it differs from the mode they were made with. A
// directory in moving (renamed to another parent) keeps owner write until
// it moved (Linux needs it to update ".."): moveDir removes it afterwards.
func (s *Staged) stageModes(sel func(*stagedDir) bool, moving map[*stagedDir]bool) error {
	for i := len(s.dirs) - 1; i >= 0; i-- {
		d := s.dirs[i]
		if !sel(d) {
			continue
		}
		want := d.mode
		if moving[d] {
			want |= 0o200
		}
		if want == d.made {
			continue
		}
		if err := unix.Fchmodat(d.a.stFd(), d.rel, uint32(want), 0); err != nil {
			return fmt.Errorf("archive: commit: setting the mode of %s: %w", d.name, err)
		}
		d.made = want
	}
	return nil
}

// moveDir renames the staged directory d to to (relative to the root) in
// one step, then takes owner write away if its mode has none.
func (s *Staged) moveDir(d *stagedDir, to string) error {
	fd, err := s.dest(path.Dir(to))
	if err == nil {
		err = unix.Renameat(d.a.stFd(), d.rel, fd, path.Base(to))
	}
	if err != nil {
		return fmt.Errorf("moving %s into place: %w", filepath.Join(s.rootPath, to), err)
	}
	if d.mode&0o200 == 0 {
		if err := unix.Fchmodat(fd, path.Base(to), uint32(d.mode), 0); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", to, err)
		}
	}
	return nil
}

// replaceDir swaps the staged copy of dir with the existing one.
func (s *Staged) replaceDir(dir string) (Result, error) {
	var sd *stagedDir
	for _, d := range s.dirs {
		if d.name == dir {
			sd = d
		}
	}
	if sd == nil {
		return Result{}, fmt.Errorf("archive: commit: the archive has no directory %s to replace it with; nothing was changed", dir)
	}
	for _, it := range s.items {
		if !within(it.name, dir) {
			return Result{}, fmt.Errorf("archive: commit: %s lies outside %s, which the archive was to replace as a whole; nothing was changed", it.name, dir)
		}
	}
	for _, d := range s.dirs {
		if !within(d.name, dir) && !within(dir, d.name) {
			return Result{}, fmt.Errorf("archive: commit: %s lies outside %s, which the archive was to replace as a whole; nothing was changed", d.name, dir)
		}
	}
	if err := s.stageModes(func(d *stagedDir) bool { return within(d.name, dir) }, map[*stagedDir]bool{sd: true}); err != nil {
		return Result{}, err
	}
	for _, ar := range s.areas {
		ar.created = nil
	}
	fd, err := s.dest(path.Dir(dir))
	if err != nil {
		return Result{}, fmt.Errorf("archive: commit: %w", err)
	}
	base, st := path.Base(dir), sd.a.stFd()
	// The old directory ends up in staging (where discard removes it); it
	// may lack owner write, which moving it needs.
	var old unix.Stat_t
	if unix.Fstatat(fd, base, &old, unix.AT_SYMLINK_NOFOLLOW) == nil && old.Mode&0o200 == 0 {
		unix.Fchmodat(fd, base, old.Mode&0o7777|0o200, 0)
	}
	if err := exchange(st, sd.rel, fd, base); err != nil {
		// No RENAME_EXCHANGE: move the old one aside, the new one in.
		aside := sd.rel + ".old"
		if err := unix.Renameat(fd, base, st, aside); err != nil {
			return Result{}, fmt.Errorf("archive: commit: moving the old %s aside: %w", dir, err)
		}
		if err := unix.Renameat(st, sd.rel, fd, base); err != nil {
			unix.Renameat(st, aside, fd, base)
			return Result{}, fmt.Errorf("archive: commit: moving %s into place: %w", filepath.Join(s.rootPath, dir), err)
		}
	}
	if sd.mode&0o200 == 0 {
		if err := unix.Fchmodat(fd, base, uint32(sd.mode), 0); err != nil {
			return Result{}, fmt.Errorf("archive: commit: setting the mode of %s: %w", dir, err)
		}
	}
	return s.res, nil
}

// Discard removes the staging directories (and allowed-root directories
// Stage created) without touching anything else.
func (s *Staged) Discard() error {
	if s.finished {
		return nil
	}
	return s.discard()
}

func (s *Staged) discard() error {
	if s.finished {
		return nil
	}
	s.finished = true
	var first error
	for _, ar := range s.areas {
		ar.closeDir()
		if ar.st != nil {
			ar.st.Close()
		}
		if ar.dir != nil {
			if ar.stName != "" {
				if err := removeAllAt(int(ar.dir.Fd()), ar.stName); err != nil && first == nil {
					first = fmt.Errorf("archive: removing the staging directory %s: %w", ar.stPath, err)
				}
			}
			ar.dir.Close()
		}
		for i := len(ar.created) - 1; i >= 0; i-- {
			s.root.Remove(ar.created[i]) // only if still empty
		}
	}
	if s.destDir != nil {
		s.destDir.Close()
	}
	s.root.Close()
	return first
}

// RemoveTree removes a directory tree like os.RemoveAll, also when some of
// its directories lack owner write or search permission (a replaced
// version directory with mode 0555, a staging tree whose modes were already
// final): those get 0700 first. It works relative to open directories, so
// the depth of the tree does not matter. A path that does not exist is no
// error.
func RemoveTree(p string) error {
	p = filepath.Clean(p)
	parent, err := os.Open(filepath.Dir(p))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer parent.Close()
	if err := removeAllAt(int(parent.Fd()), filepath.Base(p)); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

// removeAllAt removes name (in the directory parent) and everything below.
func removeAllAt(parent int, name string) error {
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, oerr := unix.Openat(parent, name, flags, 0)
	if oerr == unix.EACCES && unix.Fchmodat(parent, name, 0o700, 0) == nil {
		fd, oerr = unix.Openat(parent, name, flags, 0)
	}
	if oerr != nil {
		if oerr == unix.ENOTDIR || oerr == unix.ELOOP {
			return &os.PathError{Op: "unlinkat", Path: name, Err: err}
		}
		return &os.PathError{Op: "openat", Path: name, Err: oerr}
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&0o700 != 0o700 {
		unix.Fchmod(fd, 0o700)
	}
	for pass := 0; ; pass++ {
		names, rerr := d.Readdirnames(-1)
		if rerr != nil && rerr != io.EOF {
			return &os.PathError{Op: "readdir", Path: name, Err: rerr}
		}
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
		}
		err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.ENOTEMPTY || pass == 3 {
			return &os.PathError{Op: "rmdir", Path: name, Err: err}
		}
		// Something was added meanwhile: read again.
		if _, err := d.Seek(0, io.SeekStart); err != nil {
			return &os.PathError{Op: "seek", Path: name, Err: err}
		}
	}
}
