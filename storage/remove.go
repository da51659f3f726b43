package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// RemoveVersion deletes <kind>/<name>/<version> (and <kind>/<name> when it
// becomes empty). It refuses with ErrInUse, changing nothing, when a link
// under fecs/ resolves into it or an INDEX still names a file in it (run
// Reindex after hand edits). The folder is first renamed to a temporary
// name, so it disappears in one step.
func (s *Storage) RemoveVersion(ctx context.Context, kind index.Kind, name, version string) error {
	rel, err := pathFor(versionPathSpec{kind, name, version})
	if err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		if st, err := os.Lstat(s.abs(rel)); err != nil || !st.IsDir() {
			vs, _ := s.versions(kind, name)
			return fmt.Errorf("%w: %s %s has no version %s (published: %s)", ErrNotFound, kind, name, version, strings.Join(vs, ", "))
		}
		users, err := s.Uses(ctx, kind, name, version)
		if err != nil {
			return err
		}
		var why []string
		for _, l := range users {
			why = append(why, fmt.Sprintf("%s -> %s", l.Link, l.Target))
		}
		fecs, err := s.FECs(ctx)
		if err != nil {
			return err
		}
		for _, fec := range fecs {
			p, _ := s.absFor(fecIndexPathSpec{fec})
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			ix, err := index.ParseBytes(b)
			if err != nil {
				continue // Verify reports it; it names nothing we can trust
			}
			for _, e := range ix.Entries {
				if isWithin(e.Path, rel) {
					why = append(why, fmt.Sprintf("INDEX of %s names %s (reindex %s)", fec, e.Path, fec))
				}
			}
		}
		if len(why) > 0 {
			sort.Strings(why)
			return fmt.Errorf("%w: not removing %s: %s", ErrInUse, rel, strings.Join(why, "; "))
		}
		dir, base := filepath.Dir(s.abs(rel)), filepath.Base(s.abs(rel))
		tmp := filepath.Join(dir, tmpPrefix+"rm-"+base+"-"+durable.RandomSuffix())
		if err := os.Rename(s.abs(rel), tmp); err != nil {
			return fmt.Errorf("storage: removing %s: %w", rel, err)
		}
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("storage: removing %s: %w", rel, err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("storage: removing %s (now %s; Clean removes it): %w", rel, tmp, err)
		}
		_ = os.Remove(dir) // only when empty
		s.logger().Info("removed version", "path", rel)
		return nil
	})
}
