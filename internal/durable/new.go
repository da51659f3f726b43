package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteNew writes data to path, which must not exist yet: for files that
// are never overwritten, such as keys. The data goes to a temporary file in
// the same directory, is fsynced, then hard-linked to path (the link fails
// when path exists, so a concurrent writer cannot be overwritten either),
// the temporary name is removed and the directory fsynced. path therefore
// appears whole or not at all. An existing path gives a *fs.PathError
// wrapping fs.ErrExist; the file system must support hard links.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "open", Path: path, Err: syscall.EEXIST}
	}
	f, err := Create(dir, name, Options{})
	if err != nil {
		return err
	}
	defer f.Abort()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &fs.PathError{Op: "open", Path: path, Err: syscall.EEXIST}
		}
		return err
	}
	f.Abort() // closes and removes the temporary name; path keeps the data
	return SyncDir(dir)
}
