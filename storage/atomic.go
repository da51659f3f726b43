package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/internal/durable"
)

// Durable, atomic writes in the manner of restic's local backend: write a
// temporary file in the target directory, fsync it, rename it over the final
// name, fsync the directory. A reader sees the old file or the new one, never
// a partial one, and after a crash the final name holds one of the two.
//
// Temporary files are named .fecdeploy-tmp-<hint>-<random> and are flock'ed
// by their writer while it lives, so Clean can tell a live writer's file from
// one a killed writer left behind.

// tempOptions are the durable-write options of the storage's temporary files.
var tempOptions = durable.Options{Prefix: tmpPrefix, Lock: true}

// createTemp creates a flock'ed temporary file in dir. The flock is taken
// blocking: Clean may be probing this very file; its probe holds the flock
// for microseconds (and treats files younger than tempGrace as live anyway,
// since this window exists).
func createTemp(dir, hint string) (*durable.File, error) {
	return durable.Create(dir, hint, tempOptions)
}

// writeFileAtomic writes data to dir/name atomically and durably.
func writeFileAtomic(dir, name string, perm os.FileMode, data []byte) error {
	t, err := createTemp(dir, name)
	if err != nil {
		return err
	}
	if _, err := t.Write(data); err != nil {
		t.Abort()
		return err
	}
	return t.Commit(name, perm)
}

// symlinkAtomic points dir/name at target in one step.
func symlinkAtomic(dir, name, target string) error {
	return durable.Symlink(target, dir, name, tempOptions)
}

var (
	removeDurably = durable.Remove
	syncDir       = durable.SyncDir
)

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
