package storage

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// gathered is what PlanPrune learned besides the plan input.
type gathered struct {
	inputs   []version.SoftwareInput
	warnings []version.Warning
}

// present maps software -> version -> what the plan is told about it.
type present map[string]map[string]*version.VersionInput

// get returns the version input of sw/v, nil when it is not present.
func (p present) get(sw, v string) *version.VersionInput {
	if m := p[sw]; m != nil {
		return m[v]
	}
	return nil
}

// usage is who uses which software version, as gathered from the links.
type usage struct {
	linkedBy map[[2]string][]string // software, version -> FECs
	allOf    map[string][]string    // software -> FECs linking its folder (all versions)
	coarse   map[string]time.Time   // software -> latest unexplained link change
}

// lastChange is the latest logged link change per FEC and software.
type lastChange struct {
	at map[[2]string]time.Time
	to map[[2]string]string // the version the last logged change went to
}

// gather collects the plan input for one software ("" = all) from the tree:
// the versions present, the links and INDEX files that hold them, and their
// unlink times.
func (s *Storage) gather(ctx context.Context, software string) (gathered, error) {
	var g gathered
	names, err := s.softwareNames(software, &g.warnings)
	if err != nil {
		return g, err
	}
	byName, err := s.versionsPresent(ctx, names)
	if err != nil {
		return g, err
	}
	links, err := s.Links(ctx)
	if err != nil {
		return g, err
	}
	logged, err := s.readLinkLog()
	if err != nil {
		return g, err
	}
	last := applyLinkLog(logged, byName)
	use := s.linkUsage(links, byName, last, &g.warnings)
	if err := s.holdByIndexes(ctx, byName, use); err != nil {
		return g, err
	}
	g.inputs = planInputs(names, byName, use)
	return g, nil
}

// softwareNames lists the software to plan for: software itself
// (ErrNotFound when it is not published) or, for "", every folder under
// software/ (other entries there are warned about).
func (s *Storage) softwareNames(software string, warnings *[]version.Warning) ([]string, error) {
	if software != "" {
		dir, err := s.absFor(treePathSpec{index.KindSoftware, software})
		if err != nil {
			return nil, err
		}
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: no software %q is published (%s is not a directory)", ErrNotFound, software, dir)
		}
		return []string{software}, nil
	}
	ents, err := os.ReadDir(s.abs(SoftwareDir))
	if err != nil {
		return nil, fmt.Errorf("storage: listing software: %w", err)
	}
	var names []string
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case !e.IsDir():
			*warnings = append(*warnings, version.Warning{Software: e.Name(), Text: fmt.Sprintf(
				"%s/%s is not a directory (a symlink?); fec-prune leaves it alone", SoftwareDir, e.Name())})
		default:
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// versionsPresent lists the versions of each software with their mtimes;
// entries that are not version directories, and versions holding a
// temporary file, are held.
func (s *Storage) versionsPresent(ctx context.Context, names []string) (present, error) {
	byName := present{}
	for _, sw := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := filepath.Join(s.abs(SoftwareDir), sw)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("storage: listing versions of %s: %w", sw, err)
		}
		m := map[string]*version.VersionInput{}
		byName[sw] = m
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue // temporary files of a publish or prune in progress
			}
			m[e.Name()] = versionInput(dir, sw, e.Name())
		}
	}
	return byName, nil
}

// versionInput describes the entry software/<sw>/<name> in dir.
func versionInput(dir, sw, name string) *version.VersionInput {
	vi := &version.VersionInput{Name: name}
	st, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		vi.Held = append(vi.Held, "cannot stat it: "+err.Error())
		return vi
	}
	vi.Published = st.ModTime()
	if !st.IsDir() {
		vi.Held = append(vi.Held, fmt.Sprintf("%s/%s/%s is a %s, not a version directory; remove it by hand",
			SoftwareDir, sw, name, describeEntry(st.Mode())))
		return vi
	}
	sub, err := os.ReadDir(filepath.Join(dir, name))
	if err != nil {
		vi.Held = append(vi.Held, "cannot list it: "+err.Error())
		return vi
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
	return vi
}

// applyLinkLog sets the unlink times the link log explains and returns the
// latest logged change per FEC and software.
func applyLinkLog(logged []linkChange, byName present) lastChange {
	last := lastChange{at: map[[2]string]time.Time{}, to: map[[2]string]string{}}
	for _, c := range logged {
		k := [2]string{c.fec, c.software}
		if !c.t.Before(last.at[k]) {
			last.at[k] = c.t
			last.to[k] = c.toVer
		}
		if c.fromVersion != "" && c.fromVersion != c.toVer {
			if vi := byName.get(c.software, c.fromVersion); vi != nil && c.t.After(vi.Unlinked) {
				vi.Unlinked = c.t
			}
		}
	}
	return last
}

// linkUsage records which FECs use which versions through their links,
// holds the versions broken links name or links pass through, and finds the
// link changes the log does not explain.
func (s *Storage) linkUsage(links []Link, byName present, last lastChange, warnings *[]version.Warning) usage {
	use := usage{linkedBy: map[[2]string][]string{}, allOf: map[string][]string{}, coarse: map[string]time.Time{}}
	for _, l := range links {
		who := l.FEC
		if who == "" {
			who = l.Path
		}
		if l.Target == "" {
			s.holdForBrokenLink(l, byName, warnings)
			continue
		}
		// A link may also need version directories it only passes through
		// (software/X/1.1.0/../1.2.0/..., or a symlinked version entry).
		if needsTrace(l) {
			for _, tv := range s.traversed(l.Path) {
				if tv == [2]string{l.Software, l.Version} {
					continue
				}
				if vi := byName.get(tv[0], tv[1]); vi != nil {
					vi.Held = append(vi.Held, fmt.Sprintf("the link %s -> %s passes through it", l.Path, l.Raw))
				}
			}
		}
		switch {
		case l.TargetKind == index.KindSoftware && l.Software != "":
			if byName[l.Software] == nil {
				break
			}
			if l.Version == "" {
				use.allOf[l.Software] = append(use.allOf[l.Software], who)
			} else {
				k := [2]string{l.Software, l.Version}
				use.linkedBy[k] = append(use.linkedBy[k], who)
			}
		case isWithin(SoftwareDir, l.Target):
			// The link names software/ or the base itself: it uses everything.
			for sw := range byName {
				use.allOf[sw] = append(use.allOf[sw], who)
			}
		}
		if l.Kind == index.KindSoftware && byName[l.Name] != nil {
			s.noteUnexplained(l, last, use.coarse)
		}
	}
	return use
}

// holdForBrokenLink: a broken link is never resolved by string, but a
// version its text names is held, so a repair can still point there.
func (s *Storage) holdForBrokenLink(l Link, byName present, warnings *[]version.Warning) {
	if sw, v, ok := s.lexicalVersion(l); ok {
		if vi := byName.get(sw, v); vi != nil {
			vi.Held = append(vi.Held, fmt.Sprintf("the broken link %s names it (%s)", l.Path, l.Problem))
		}
	}
	if l.Kind == index.KindSoftware && byName[l.Name] != nil {
		*warnings = append(*warnings, version.Warning{Software: l.Name, Text: fmt.Sprintf(
			"link %s -> %s is broken (%s); fecctl verify lists broken links", l.Path, l.Raw, l.Problem)})
	}
}

// noteUnexplained records in coarse the mtime of a FEC's software link
// that the link log does not explain: explained when the last logged change
// of this link went to the version it names now and is not older than the
// link.
func (s *Storage) noteUnexplained(l Link, last lastChange, coarse map[string]time.Time) {
	st, err := os.Lstat(s.abs(l.Path))
	if err != nil {
		return
	}
	m := st.ModTime()
	k := [2]string{l.FEC, l.Name}
	explained := last.to[k] == l.Version && l.TargetKind == index.KindSoftware && l.Software == l.Name &&
		!last.at[k].Before(m.Add(-linkLogSlack))
	if !explained && m.After(coarse[l.Name]) {
		coarse[l.Name] = m
	}
}

// holdByIndexes: what the FECs fetch. An INDEX that still names a version
// (stale after a hand edit) holds it like a link does.
func (s *Storage) holdByIndexes(ctx context.Context, byName present, use usage) error {
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
			continue // Verify reports it
		}
		for _, e := range ix.Entries {
			loc, ok := locateInTree(e.Path)
			if !ok || loc.kind != index.KindSoftware {
				continue
			}
			vi := byName.get(loc.name, loc.version)
			if vi == nil || hasString(use.linkedBy[[2]string{loc.name, loc.version}], fec) || hasString(use.allOf[loc.name], fec) {
				continue
			}
			vi.Held = append(vi.Held, fmt.Sprintf("the INDEX of %s still names %s (stale? fecctl reindex %s)", fec, e.Path, fec))
		}
	}
	return nil
}

// planInputs assembles the plan input per software, in name order.
func planInputs(names []string, byName present, use usage) []version.SoftwareInput {
	sort.Strings(names)
	var inputs []version.SoftwareInput
	for _, sw := range names {
		in := version.SoftwareInput{Name: sw}
		for v, vi := range byName[sw] {
			vi.LinkedBy = append(append(vi.LinkedBy, use.linkedBy[[2]string{sw, v}]...), use.allOf[sw]...)
			if len(vi.LinkedBy) == 0 && use.coarse[sw].After(vi.Unlinked) {
				vi.Unlinked = use.coarse[sw]
			}
			in.Versions = append(in.Versions, *vi)
		}
		inputs = append(inputs, in)
	}
	return inputs
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
