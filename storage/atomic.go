package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Durable, atomic writes in the manner of restic's local backend: write a
// temporary file in the target directory, fsync it, rename it over the final
// name, fsync the directory. A reader sees the old file or the new one, never
// a partial one, and after a crash the final name holds one of the two.
//
// Temporary files are named .fecdeploy-tmp-<hint>-<random> and are flock'ed
// by their writer while it lives, so Clean can tell a live writer's file from
// one a killed writer left behind.

// tempFile is a temporary file next to its final name.
type tempFile struct {
	f   *os.File
	dir string
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createTemp creates a flock'ed temporary file in dir.
func createTemp(dir, hint string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+hint+"-*")
	if err != nil {
		return nil, err
	}
	// Blocking: Clean may be probing this very file; its probe holds the
	// flock for microseconds (and treats files younger than tempGrace as
	// live anyway, since this window exists).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return &tempFile{f: f, dir: dir}, nil
}

// commit makes the file durable and renames it to dir/name. The file stays
// open (and flock'ed) until it has its final name.
func (t *tempFile) commit(name string, perm os.FileMode) error {
	if err := t.f.Chmod(perm); err != nil {
		t.abort()
		return err
	}
	if err := t.f.Sync(); err != nil {
		t.abort()
		return err
	}
	if err := os.Rename(t.f.Name(), filepath.Join(t.dir, name)); err != nil {
		t.abort()
		return err
	}
	cerr := t.f.Close()
	if err := syncDir(t.dir); err != nil {
		return err
	}
	return cerr
}

// abort removes the temporary file.
func (t *tempFile) abort() {
	t.f.Close()
	os.Remove(t.f.Name())
}

// writeFileAtomic writes data to dir/name atomically and durably.
func writeFileAtomic(dir, name string, perm os.FileMode, data []byte) error {
	t, err := createTemp(dir, name)
	if err != nil {
		return err
	}
	if _, err := t.f.Write(data); err != nil {
		t.abort()
		return err
	}
	return t.commit(name, perm)
}

// symlinkAtomic points dir/name at target: a symlink under a temporary name,
// renamed over the old one, so the link switches in one step.
func symlinkAtomic(dir, name, target string) error {
	tmp := filepath.Join(dir, tmpPrefix+"link-"+randomSuffix())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// removeDurably removes dir/name and syncs dir; a missing file is fine.
func removeDurably(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil // filesystems that cannot sync directories
	}
	return err
}

// mkdirs creates dir and its missing parents below stop (which must exist)
// and returns the ones it created, deepest last, so that a failed operation
// can remove them again (removeEmpty).
func mkdirs(stop, dir string) ([]string, error) {
	rel, err := filepath.Rel(stop, dir)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("storage: %s is not below %s", dir, stop)
	}
	var created []string
	cur := stop
	if rel == "." {
		return nil, nil
	}
	for _, c := range strings.Split(filepath.ToSlash(rel), "/") {
		cur = filepath.Join(cur, c)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			created = append(created, cur)
			if err := syncDir(filepath.Dir(cur)); err != nil {
				return created, err
			}
		case errors.Is(err, os.ErrExist):
			if st, serr := os.Stat(cur); serr != nil || !st.IsDir() {
				return created, fmt.Errorf("%s exists and is not a directory", cur)
			}
		default:
			return created, err
		}
	}
	return created, nil
}

// removeEmpty removes the directories mkdirs created, deepest first, as far
// as they are empty (another writer may have put something there).
func removeEmpty(created []string) {
	for i := len(created) - 1; i >= 0; i-- {
		if os.Remove(created[i]) != nil {
			return
		}
	}
}

// ctxReader fails reads once ctx is done, so a long copy can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
