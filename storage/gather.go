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

// Gathering the retention plan's input from the tree: the versions present,
// the links and INDEX files that hold them, and their unlink times.

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
