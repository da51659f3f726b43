package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
)

// The writer's second line of defence: before a FEC can see an archive
// (Link, Switch) and in Verify, the archive's entries are checked with the
// clients' own rules (archive.Check: no "..", no absolute paths, no links
// leaving the allowed roots, no devices, no PAX records busybox ignores, the
// limits). An archive is read once: the result is cached by sha256, in
// memory and, with a state directory, in CheckCacheFileName there (only
// archives that pass are recorded, with the rules version).

// ErrUnsafeArchive: an archive in the storage fails the clients' safety
// rules; it is not linked.
var ErrUnsafeArchive = errors.New("storage: archive fails the FECs' safety rules")

// CheckCacheFileName is the file in the state directory that lists the
// sha256 of archives that passed archive.Check, one "<rules> <sha256>" a line.
const CheckCacheFileName = "archives-checked"

// WithAllowedRoots sets the roots the FECs allow archives to write below
// (their allowed_roots; default {"opt"}), for the writer's archive check.
func WithAllowedRoots(roots []string) Option {
	return func(s *Storage) { s.allowedRoots = append([]string(nil), roots...) }
}

type archiveChecker struct {
	mu     sync.Mutex
	loaded bool
	ok     map[string]bool  // sha256 -> passed
	bad    map[string]error // sha256 -> archive.Check's error (this process only)
	reads  int              // archives actually read (tests)
}

func (s *Storage) checkCachePath() string {
	if s.stateDir == "" {
		return ""
	}
	return filepath.Join(s.stateDir, CheckCacheFileName)
}

func (c *archiveChecker) load(p string) {
	if c.loaded {
		return
	}
	c.loaded = true
	c.ok, c.bad = map[string]bool{}, map[string]error{}
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		return // no cache: every archive is read again
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rules, sum, ok := strings.Cut(sc.Text(), " ")
		if ok && rules == archive.CheckRules && len(sum) == 64 {
			c.ok[sum] = true
		}
	}
}

// checkArchive checks the base-relative archive rel with sha256 sum (from
// its sidecar or hashed) and format. The error wraps ErrUnsafeArchive and
// says which entry broke which rule; other errors are I/O.
func (s *Storage) checkArchive(ctx context.Context, rel, sum string, format index.Format) error {
	c := &s.checker
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load(s.checkCachePath())
	if c.ok[sum] {
		return nil
	}
	if cerr, ok := c.bad[sum]; ok {
		return fmt.Errorf("%w: %s (sha256 %s): %v", ErrUnsafeArchive, rel, sum, cerr)
	}
	f, err := os.Open(s.abs(rel))
	if err != nil {
		return fmt.Errorf("storage: checking %s: %w", rel, err)
	}
	defer f.Close()
	c.reads++
	scratch := ""
	if s.stateDir != "" {
		if err := os.MkdirAll(s.stateDir, 0o755); err == nil {
			scratch = s.stateDir
		}
	}
	_, cerr := archive.Check(ctx, f, scratch, archive.UnpackOptions{AllowedRoots: s.allowedRoots, Format: format})
	if cerr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.bad[sum] = cerr
		return fmt.Errorf("%w: %s (sha256 %s): %v", ErrUnsafeArchive, rel, sum, cerr)
	}
	c.ok[sum] = true
	if p := s.checkCachePath(); p != "" {
		// Appending is enough: a torn last line is skipped when read.
		if af, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			_, _ = fmt.Fprintf(af, "%s %s\n", archive.CheckRules, sum)
			_ = af.Close()
		}
	}
	return nil
}

// archiveSum is the sha256 of a published archive from its sidecar, else
// hashed.
func (s *Storage) archiveSum(rel string) (string, error) {
	if sum, ok := readChecksum(s.abs(rel)); ok {
		return sum, nil
	}
	return hashFile(s.abs(rel))
}

// checkLinkTarget runs checkArchive on an archive about to be linked.
func (s *Storage) checkLinkTarget(ctx context.Context, target string) error {
	fi, err := os.Stat(s.abs(target))
	if err != nil || !fi.Mode().IsRegular() {
		return nil // the link code reports what is missing
	}
	sum, err := s.archiveSum(target)
	if err != nil {
		return fmt.Errorf("storage: hashing %s: %w", target, err)
	}
	format, err := detectFileFormat(s.abs(target))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnsafeArchive, target, err)
	}
	return s.checkArchive(ctx, target, sum, format)
}
