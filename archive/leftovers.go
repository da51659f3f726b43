package archive

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LegacyLeftoverAge is how old a staging directory without a process id in
// its name (written by an older client) must be before RemoveLeftovers
// takes it for a leftover.
const LegacyLeftoverAge = 24 * time.Hour

// RemoveLeftovers removes the staging directories that interrupted runs (a
// kill, a power cut) left in the allowed roots below root: those whose
// process no longer runs, and those without a process id in their name
// older than LegacyLeftoverAge. A running client's staging directories are
// left alone. It returns the paths (relative to root) it removed; allowed
// roots that do not exist are fine.
func RemoveLeftovers(root string, allowedRoots []string) ([]string, error) {
	allowed, err := normalizeRoots(allowedRoots)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, a := range allowed {
		dir := filepath.Join(root, filepath.FromSlash(a))
		des, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				errs = append(errs, err)
			}
			continue
		}
		for _, de := range des {
			name := de.Name()
			rest, ok := strings.CutPrefix(name, StagingPrefix)
			if !ok || !de.IsDir() || !leftover(rest, filepath.Join(dir, name)) {
				continue
			}
			if err := RemoveTree(filepath.Join(dir, name)); err != nil {
				errs = append(errs, fmt.Errorf("archive: removing the leftover staging directory: %w", err))
				continue
			}
			removed = append(removed, path.Join(a, name))
		}
	}
	return removed, errors.Join(errs...)
}

// leftover: rest is what follows StagingPrefix, <pid>-<random> or (older
// clients) <random>.
func leftover(rest, p string) bool {
	if pidStr, _, ok := strings.Cut(rest, "-"); ok {
		if pid, err := strconv.Atoi(pidStr); err == nil && pid > 0 {
			if pid == os.Getpid() {
				return false
			}
			return !running(pid)
		}
	}
	fi, err := os.Lstat(p)
	return err == nil && time.Since(fi.ModTime()) > LegacyLeftoverAge
}

// running reports whether a process with this id exists.
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
