// Package durable writes files atomically and durably, in the manner of
// restic's local backend: a temporary file in the target directory, fsync,
// rename over the final name, fsync the directory. A reader sees the old
// file or the new one, never a partial one, and after a crash the final name
// holds one of the two. The storage, the FEC clients' state, persistent-data
// snapshots and the release service all write through it.
package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// File is a temporary file next to its final name. Write to it, then Commit
// or Abort; Abort after Commit is a no-op, so `defer f.Abort()` is safe.
type File struct {
	*os.File
	dir  string
	done bool
}

// Options tune Create.
type Options struct {
	// Prefix starts the temporary file's name (default ".tmp-"); pick one
	// that a cleaner can recognise.
	Prefix string
	// Lock holds an exclusive flock on the temporary file until Commit or
	// Abort, so that a cleaner can tell a live writer's file (locked) from one
	// a killed writer left behind.
	Lock bool
}

// Create creates a temporary file in dir whose name starts with
// opts.Prefix followed by hint.
func Create(dir, hint string, opts Options) (*File, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = ".tmp-"
	}
	f, err := os.CreateTemp(dir, prefix+hint+"-*")
	if err != nil {
		return nil, err
	}
	if opts.Lock {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
	}
	return &File{File: f, dir: dir}, nil
}

// Commit sets perm, fsyncs the file, renames it to name in its directory
// and fsyncs the directory. On error the temporary file is removed and the
// final name is untouched (unless the error came from the directory sync,
// when the rename has happened).
func (f *File) Commit(name string, perm fs.FileMode) error {
	if f.done {
		return errors.New("durable: Commit after Commit or Abort")
	}
	err := f.Chmod(perm)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(f.dir, name))
	}
	if err != nil {
		f.Abort()
		return err
	}
	f.done = true
	cerr := f.Close()
	if err := SyncDir(f.dir); err != nil {
		return err
	}
	return cerr
}

// Abort closes and removes the temporary file.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically and durably with mode perm.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom creates path atomically and durably from what fill writes; when
// fill fails, nothing is written and its error is returned.
func WriteFrom(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	f, err := Create(filepath.Dir(path), filepath.Base(path), Options{})
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit(filepath.Base(path), perm)
}

// Symlink points dir/name at target in one step: a symlink under a
// temporary name (opts.Prefix + "link-" + random) renamed over the old one,
// then the directory is synced. opts.Lock does not apply.
func Symlink(target, dir, name string, opts Options) error {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = ".tmp-"
	}
	tmp := filepath.Join(dir, prefix+"link-"+RandomSuffix())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// Remove removes dir/name and syncs dir; a missing file is not an error.
func Remove(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename or removal in it survives a
// crash. Filesystems that cannot sync directories are accepted silently.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// RandomSuffix returns 12 random hex digits for temporary names.
func RandomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
