package storage

// Retention: the storage side of the version package's retention plan
// (PlanPrune gathers, version.NewPlan decides, Prune carries it out under
// the lock). Unlink times come from the link log (linklog.go).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
	"github.com/fair-acc/fecdeploy/version"
)

// PlanPrune computes the retention plan for one software ("" = every
// software) from the storage as it is now: the versions under software/,
// every link under fecs/ resolved by path (relative links, chains, trailing
// slashes; a link to software/<name> itself uses every version), publish
// times (version directory mtimes) and unlink times (the link log, see
// LinkLogName). It does not take the lock and changes nothing; Prune
// re-checks under the lock. Broken links are reported as warnings; a version
// a broken link names is held.
func (s *Storage) PlanPrune(ctx context.Context, software string, policy version.Policy, now time.Time) (version.Plan, error) {
	g, err := s.gather(ctx, software)
	if err != nil {
		return version.Plan{}, err
	}
	p := version.NewPlan(version.PlanInput{Now: now, Policy: policy, Software: g.inputs})
	p.Warnings = append(p.Warnings, g.warnings...)
	return p, nil
}

// PruneReport is what Prune did.
type PruneReport struct {
	// Plan is the plan given, with the software that had removals planned
	// again under the lock.
	Plan    version.Plan       `json:"plan"`
	Removed []version.Decision `json:"removed"`
	// Skipped are planned removals not carried out because the storage
	// changed since planning (a FEC links the version now, it was published
	// again, ...).
	Skipped []Skipped `json:"skipped,omitempty"`
	// FreedBytes is the size of the files removed.
	FreedBytes int64 `json:"freed_bytes"`
}

// Skipped is a planned removal that was not carried out.
type Skipped struct {
	Software string `json:"software"`
	Version  string `json:"version"`
	Why      string `json:"why"`
}

// Prune carries out the removals of plan (from PlanPrune). It takes the
// storage lock and plans again under it, with plan's time and policy, so a
// version linked, published or unlinked since planning is kept (reported in
// Skipped); only versions both plans remove are removed. A version
// directory is first renamed to a temporary name (so no reader ever sees it
// half removed), then deleted. Nothing linked changes, so no INDEX is
// regenerated. On error the report says what was removed before it.
func (s *Storage) Prune(ctx context.Context, plan version.Plan) (PruneReport, error) {
	rep := PruneReport{Plan: plan, Removed: []version.Decision{}}
	planned := plan.Removals()
	if len(planned) == 0 {
		return rep, nil
	}
	var software []string
	seen := map[string]bool{}
	for _, d := range planned {
		if !seen[d.Software] {
			seen[d.Software] = true
			software = append(software, d.Software)
		}
	}
	err := s.locked(ctx, func() error {
		var inputs []version.SoftwareInput
		var warns []version.Warning
		for _, sw := range software {
			g, err := s.gather(ctx, sw)
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			inputs = append(inputs, g.inputs...)
			warns = append(warns, g.warnings...)
		}
		again := version.NewPlan(version.PlanInput{Now: plan.Now, Policy: plan.Policy, Software: inputs})
		again.Warnings = append(again.Warnings, warns...)
		rep.Plan = mergePlans(plan, again, seen)
		now := map[[2]string]version.Decision{}
		for _, sp := range again.Software {
			for _, d := range sp.Versions {
				now[[2]string{d.Software, d.Version}] = d
			}
		}
		var errs []error
		for _, d := range planned {
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, err)...)
			}
			cur, ok := now[[2]string{d.Software, d.Version}]
			switch {
			case !ok:
				rep.Skipped = append(rep.Skipped, Skipped{d.Software, d.Version, "no longer present"})
				continue
			case cur.Action != version.Remove:
				rep.Skipped = append(rep.Skipped, Skipped{d.Software, d.Version, "kept now: " + cur.Text})
				continue
			}
			n, err := s.removeVersionLocked(d.Software, d.Version)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rep.FreedBytes += n
			rep.Removed = append(rep.Removed, cur)
			s.logger().Info("pruned", "software", d.Software, "version", d.Version, "reason", cur.Reason.String(),
				"why", cur.Text, "bytes", n)
		}
		keep := linkLogKeep
		if 2*plan.Policy.Grace > keep {
			keep = 2 * plan.Policy.Grace
		}
		if err := s.compactLinkLog(plan.Now, keep); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	return rep, err
}

// mergePlans replaces the software in redone (and their warnings) in plan.
func mergePlans(plan, again version.Plan, redone map[string]bool) version.Plan {
	out := plan
	out.Software, out.Warnings = nil, nil
	fresh := map[string]version.SoftwarePlan{}
	for _, sp := range again.Software {
		fresh[sp.Name] = sp
	}
	for _, sp := range plan.Software {
		if !redone[sp.Name] {
			out.Software = append(out.Software, sp)
		} else if f, ok := fresh[sp.Name]; ok {
			out.Software = append(out.Software, f)
		}
	}
	for _, w := range plan.Warnings {
		if !redone[w.Software] {
			out.Warnings = append(out.Warnings, w)
		}
	}
	out.Warnings = append(out.Warnings, again.Warnings...)
	return out
}

// removeVersionLocked renames software/<sw>/<v> out of the way and deletes
// it, returning the bytes freed. Call with the lock held.
func (s *Storage) removeVersionLocked(sw, v string) (int64, error) {
	rel, err := pathFor(versionPathSpec{index.KindSoftware, sw, v})
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(s.abs(rel))
	st, err := os.Lstat(s.abs(rel))
	if err != nil {
		return 0, fmt.Errorf("storage: removing %s: %w", rel, err)
	}
	if !st.IsDir() {
		return 0, fmt.Errorf("%w: removing %s: it is a %s, not a version directory", ErrBadRequest, rel, describeEntry(st.Mode()))
	}
	trash := filepath.Join(dir, tmpPrefix+"prune-"+v+"-"+durable.RandomSuffix())
	if err := os.Rename(s.abs(rel), trash); err != nil {
		return 0, fmt.Errorf("storage: removing %s: %w", rel, err)
	}
	if err := syncDir(dir); err != nil {
		return 0, fmt.Errorf("storage: removing %s: %w", rel, err)
	}
	var n int64
	_ = filepath.WalkDir(trash, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(trash); err != nil {
		return n, fmt.Errorf("storage: removing %s (renamed to %s, remove it by hand): %w", rel, trash, err)
	}
	return n, nil
}
