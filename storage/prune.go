package storage

// Retention and version switching: the storage side of the version package's
// retention plan (PlanPrune gathers, version.NewPlan decides, Prune carries
// it out under the lock), and the switch / rollback / who-uses operations
// behind fecctl.
//
// Unlink times. The plan keeps a version that was unlinked less than the
// grace period ago, so a FEC that fetched the previous INDEX still finds its
// archives. Unlink times come from two sources:
//
//  1. The link log <base>/.fecdeploy-linklog: one line per link change,
//     "<unix-nanoseconds> <FEC> <software> <from-version|-> <to-version|->",
//     appended (and fsynced) under the storage lock before the link changes.
//     Link, Unlink, Switch, SwitchAll and Rollback write it. Prune drops lines older than
//     max(7 days, 2 × grace).
//  2. For link changes the log does not explain (made by other tools, by
//     hand, or before the log existed): a FEC's software/<name> symlink whose
//     mtime (the time it was switched: symlinks are replaced by rename) is
//     newer than the last logged change of that FEC and software, or whose
//     version is not the one that change went to. The
//     previous target is unknown then, so every unlinked version of that
//     software counts as unlinked at that time (coarse, but safe).
//
// A link removed by hand (rm) is not seen at all: use fecctl unlink.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
	"github.com/fair-acc/fecdeploy/version"
)

// LinkLogName is the link log (see above) in the storage base.
const LinkLogName = ".fecdeploy-linklog"

// linkLogKeep is the minimum age of link log lines Prune drops.
const linkLogKeep = 7 * 24 * time.Hour

// linkLogSlack tolerates file-system timestamp granularity when matching a
// symlink's mtime with its log line (written just before the switch).
const linkLogSlack = 5 * time.Second

// linkChange is one line of the link log.
type linkChange struct {
	t                  time.Time
	fec, software      string
	fromVersion, toVer string // "" for none
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func (c linkChange) line() string {
	return fmt.Sprintf("%d %s %s %s %s\n", c.t.UnixNano(), c.fec, c.software, dash(c.fromVersion), dash(c.toVer))
}

// logLinkChanges appends to the link log and syncs it. Call with the lock held.
func (s *Storage) logLinkChanges(changes []linkChange) error {
	if len(changes) == 0 {
		return nil
	}
	f, err := os.OpenFile(s.abs(LinkLogName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("storage: opening the link log: %w", err)
	}
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.line())
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: writing the link log %s: %w", s.abs(LinkLogName), err)
	}
	return nil
}

// readLinkLog reads the link log; a missing log is empty, malformed lines
// are skipped (the log only ever makes the plan keep more).
func (s *Storage) readLinkLog() ([]linkChange, error) {
	f, err := os.Open(s.abs(LinkLogName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("storage: reading the link log: %w", err)
	}
	defer f.Close()
	var out []linkChange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, linkChange{t: time.Unix(0, ns), fec: fs[1], software: fs[2],
			fromVersion: undash(fs[3]), toVer: undash(fs[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("storage: reading the link log: %w", err)
	}
	return out, nil
}

// compactLinkLog drops lines older than keep before now. Call with the lock held.
func (s *Storage) compactLinkLog(now time.Time, keep time.Duration) error {
	log, err := s.readLinkLog()
	if err != nil || len(log) == 0 {
		return err
	}
	var b strings.Builder
	dropped := 0
	for _, c := range log {
		if now.Sub(c.t) > keep {
			dropped++
			continue
		}
		b.WriteString(c.line())
	}
	if dropped == 0 {
		return nil
	}
	return writeFileAtomic(s.base, LinkLogName, 0o644, []byte(b.String()))
}

// gathered is what PlanPrune learned besides the plan input.
type gathered struct {
	inputs   []version.SoftwareInput
	warnings []version.Warning
}

// gather collects the plan input for one software ("" = all) from the tree.
func (s *Storage) gather(ctx context.Context, software string) (gathered, error) {
	var g gathered
	var names []string
	swRoot := s.abs(SoftwareDir)
	if software != "" {
		dir, err := s.absFor(treePathSpec{index.KindSoftware, software})
		if err != nil {
			return g, err
		}
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			return g, fmt.Errorf("%w: no software %q is published (%s is not a directory)", ErrNotFound, software, dir)
		}
		names = []string{software}
	} else {
		ents, err := os.ReadDir(swRoot)
		if err != nil {
			return g, fmt.Errorf("storage: listing software: %w", err)
		}
		for _, e := range ents {
			switch {
			case strings.HasPrefix(e.Name(), "."):
			case !e.IsDir():
				g.warnings = append(g.warnings, version.Warning{Software: e.Name(), Text: fmt.Sprintf(
					"%s/%s is not a directory (a symlink?); fec-prune leaves it alone", SoftwareDir, e.Name())})
			default:
				names = append(names, e.Name())
			}
		}
	}

	// Versions present, with their mtimes; non-directories are held.
	byName := map[string]map[string]*version.VersionInput{}
	for _, sw := range names {
		if err := ctx.Err(); err != nil {
			return g, err
		}
		dir := filepath.Join(swRoot, sw)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return g, fmt.Errorf("storage: listing versions of %s: %w", sw, err)
		}
		m := map[string]*version.VersionInput{}
		byName[sw] = m
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue // temporary files of a publish or prune in progress
			}
			vi := &version.VersionInput{Name: e.Name()}
			m[e.Name()] = vi
			st, err := os.Lstat(filepath.Join(dir, e.Name()))
			if err != nil {
				vi.Held = append(vi.Held, "cannot stat it: "+err.Error())
				continue
			}
			vi.Published = st.ModTime()
			if !st.IsDir() {
				vi.Held = append(vi.Held, fmt.Sprintf("%s/%s/%s is a %s, not a version directory; remove it by hand",
					SoftwareDir, sw, e.Name(), describeEntry(st.Mode())))
				continue
			}
			sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
			if err != nil {
				vi.Held = append(vi.Held, "cannot list it: "+err.Error())
				continue
			}
			// Not probed with flock (staleTemp): a probe racing the
			// publisher's own non-blocking flock would fail its publish.
			for _, f := range sub {
				if isTemp(f.Name()) {
					vi.Held = append(vi.Held, "it holds the temporary file "+f.Name()+
						" (a publish in progress, or left by a killed writer: fecctl verify -clean)")
					break
				}
			}
		}
	}

	links, err := s.Links()
	if err != nil {
		return g, err
	}
	logged, err := s.readLinkLog()
	if err != nil {
		return g, err
	}
	// Latest logged change per FEC and software.
	lastLogged := map[[2]string]time.Time{}
	lastTo := map[[2]string]string{} // the version the last logged change went to
	for _, c := range logged {
		k := [2]string{c.fec, c.software}
		if !c.t.Before(lastLogged[k]) {
			lastLogged[k] = c.t
			lastTo[k] = c.toVer
		}
		if m := byName[c.software]; m != nil && c.fromVersion != "" && c.fromVersion != c.toVer {
			if vi := m[c.fromVersion]; vi != nil && c.t.After(vi.Unlinked) {
				vi.Unlinked = c.t
			}
		}
	}

	linkedBy := map[[2]string][]string{} // software, version -> FECs
	allOf := map[string][]string{}       // software -> FECs linking its folder (all versions)
	coarse := map[string]time.Time{}     // software -> latest unexplained link change
	for _, l := range links {
		who := l.FEC
		if who == "" {
			who = l.Path
		}
		if l.Target == "" {
			// Broken: never resolved by string, but a version its text
			// names is held, so a repair can still point there.
			if sw, v, ok := s.lexicalVersion(l); ok && byName[sw] != nil && byName[sw][v] != nil {
				vi := byName[sw][v]
				vi.Held = append(vi.Held, fmt.Sprintf("the broken link %s names it (%s)", l.Path, l.Problem))
			}
			if l.Kind == index.KindSoftware && byName[l.Name] != nil {
				g.warnings = append(g.warnings, version.Warning{Software: l.Name, Text: fmt.Sprintf(
					"link %s -> %s is broken (%s); fecctl verify lists broken links", l.Path, l.Raw, l.Problem)})
			}
			continue
		}
		// A link may also need version directories it only passes through
		// (software/X/1.1.0/../1.2.0/..., or a symlinked version entry).
		if needsTrace(l) {
			for _, tv := range s.traversed(l.Path) {
				if tv == [2]string{l.Software, l.Version} || byName[tv[0]] == nil || byName[tv[0]][tv[1]] == nil {
					continue
				}
				vi := byName[tv[0]][tv[1]]
				vi.Held = append(vi.Held, fmt.Sprintf("the link %s -> %s passes through it", l.Path, l.Raw))
			}
		}
		switch {
		case l.TargetKind == index.KindSoftware && l.Software != "":
			if byName[l.Software] == nil {
				break
			}
			if l.Version == "" {
				allOf[l.Software] = append(allOf[l.Software], who)
			} else {
				k := [2]string{l.Software, l.Version}
				linkedBy[k] = append(linkedBy[k], who)
			}
		case isWithin(SoftwareDir, l.Target):
			// The link names software/ or the base itself: it uses everything.
			for sw := range byName {
				allOf[sw] = append(allOf[sw], who)
			}
		}
		// Unexplained switches of a FEC's software link.
		if l.Kind == index.KindSoftware && byName[l.Name] != nil {
			st, err := os.Lstat(s.abs(l.Path))
			if err != nil {
				continue
			}
			// Explained when the last logged change of this link went to
			// the version it names now and is not older than the link.
			m := st.ModTime()
			k := [2]string{l.FEC, l.Name}
			explained := lastTo[k] == l.Version && l.TargetKind == index.KindSoftware && l.Software == l.Name &&
				!lastLogged[k].Before(m.Add(-linkLogSlack))
			if !explained && m.After(coarse[l.Name]) {
				coarse[l.Name] = m
			}
		}
	}

	// What the FECs fetch: an INDEX that still names a version (stale after
	// a hand edit) holds it like a link does.
	fecs, err := s.FECs()
	if err != nil {
		return g, err
	}
	for _, fec := range fecs {
		p, _ := s.absFor(fecIndexPathSpec{fec})
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ix, err := index.ParseBytes(b)
		if err != nil {
			continue // Verify reports it
		}
		for _, e := range ix.Entries {
			loc, ok := locateInTree(e.Path)
			if !ok || loc.kind != index.KindSoftware || byName[loc.name] == nil {
				continue
			}
			vi := byName[loc.name][loc.version]
			if vi == nil || hasString(linkedBy[[2]string{loc.name, loc.version}], fec) || hasString(allOf[loc.name], fec) {
				continue
			}
			vi.Held = append(vi.Held, fmt.Sprintf("the INDEX of %s still names %s (stale? fecctl reindex %s)", fec, e.Path, fec))
		}
	}

	sort.Strings(names)
	for _, sw := range names {
		in := version.SoftwareInput{Name: sw}
		for v, vi := range byName[sw] {
			vi.LinkedBy = append(append(vi.LinkedBy, linkedBy[[2]string{sw, v}]...), allOf[sw]...)
			if len(vi.LinkedBy) == 0 && coarse[sw].After(vi.Unlinked) {
				vi.Unlinked = coarse[sw]
			}
			in.Versions = append(in.Versions, *vi)
		}
		g.inputs = append(g.inputs, in)
	}
	return g, nil
}

// lexicalVersion reads a broken link's text (never used to decide that a
// version is unused, only to hold one): software and version when it names
// a path inside software/<name>/<version>.
func (s *Storage) lexicalVersion(l Link) (sw, v string, ok bool) {
	if l.Raw == "" {
		return "", "", false
	}
	var rel string
	if filepath.IsAbs(l.Raw) {
		r, in := s.within(l.Raw)
		if !in {
			return "", "", false
		}
		rel = r
	} else {
		rel = path.Clean(path.Join(path.Dir(l.Path), filepath.ToSlash(l.Raw)))
	}
	loc, found := locateInTree(rel)
	if !found || loc.kind != index.KindSoftware || loc.name == "" || loc.version == "" {
		return "", "", false
	}
	return loc.name, loc.version, true
}

// needsTrace reports whether a resolved link may pass through directories
// other than those on the way to its target: its text has ".." after a
// name, or it reaches its target through other symlinks.
func needsTrace(l Link) bool {
	if filepath.IsAbs(l.Raw) {
		return true
	}
	raw := filepath.ToSlash(l.Raw)
	seenName := false
	for _, c := range strings.Split(raw, "/") {
		switch c {
		case "..":
			if seenName {
				return true
			}
		case "", ".":
		default:
			seenName = true
		}
	}
	return path.Clean(path.Join(path.Dir(l.Path), raw)) != l.Target
}

// traversed follows the base-relative path rel like resolve does and
// returns every software/<name>/<version> entry it passes through (a
// symlinked version entry included), in order, up to where resolution
// stops if it fails.
func (s *Storage) traversed(rel string) [][2]string {
	var out [][2]string
	_, _, _ = s.resolveVisit(rel, nil, func(cur string) {
		if loc, ok := locateInTree(cur); ok && loc.kind == index.KindSoftware && loc.version != "" && loc.file == "" {
			out = append(out, [2]string{loc.name, loc.version})
		}
	})
	return out
}

func hasString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func describeEntry(m os.FileMode) string {
	if m&os.ModeSymlink != 0 {
		return "symlink"
	}
	return describeMode(m)
}

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

// Use is one FEC's use of a software version.
type Use struct {
	FEC      string `json:"fec"`
	Software string `json:"software"`
	// Version is "" when the link points at the software folder itself
	// (it uses every version).
	Version string `json:"version"`
	Link    string `json:"link"`   // base-relative path of the symlink
	Target  string `json:"target"` // base-relative resolved target
}

// Uses lists the links under fecs/ that resolve into software/<software>
// (or into its version ver, when ver is not ""), resolved by path, sorted by
// version (newest first) and FEC: the table behind fecctl who-uses. A link
// to the software folder itself uses every version and is always listed.
// (WhoUses answers the same for one version of any kind, as Links.)
func (s *Storage) Uses(software, ver string) ([]Use, error) {
	if err := index.CheckName("software name", software); err != nil {
		return nil, err
	}
	if ver != "" {
		if err := index.CheckName("version", ver); err != nil {
			return nil, err
		}
	}
	links, err := s.Links()
	if err != nil {
		return nil, err
	}
	var out []Use
	for _, l := range links {
		if l.Target == "" {
			continue
		}
		u := Use{FEC: l.FEC, Software: software, Link: l.Path, Target: l.Target}
		switch {
		case l.TargetKind == index.KindSoftware && l.Software == software:
			u.Version = l.Version
		case isWithin(SoftwareDir+"/"+software, l.Target):
		default:
			continue
		}
		if ver != "" && u.Version != "" && u.Version != ver {
			continue
		}
		out = append(out, u)
	}
	sort.SliceStable(out, func(i, j int) bool {
		vi, _ := version.Parse(out[i].Version)
		vj, _ := version.Parse(out[j].Version)
		if c := vi.Compare(vj); c != 0 {
			return c > 0
		}
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		if out[i].FEC != out[j].FEC {
			return out[i].FEC < out[j].FEC
		}
		return out[i].Link < out[j].Link
	})
	return out, nil
}
