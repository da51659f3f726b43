package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// pickArchive chooses the archive of <kind>/<name>/<version> for a FEC: its
// architecture (or noarch), a format it can decode (zstd, xz, gzip in that
// order of preference). It returns the base-relative path.
func (s *Storage) pickArchive(fec string, c FECConfig, kind index.Kind, name, version string) (string, error) {
	vdir, err := pathFor(versionPathSpec{kind, name, version})
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir(s.abs(vdir))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("storage: reading %s: %w", vdir, err)
		}
		vs, verr := s.versions(kind, name)
		if verr != nil {
			return "", verr
		}
		if len(vs) == 0 {
			return "", fmt.Errorf("%w: %s %s has no published version", ErrNotFound, kind, name)
		}
		return "", fmt.Errorf("%w: %s %s has no version %s (published: %s)", ErrNotFound, kind, name, version, strings.Join(vs, ", "))
	}
	type cand struct {
		file string
		an   archiveName
	}
	var all []cand
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if an, ok := parseArchiveFileName(kind, name, version, e.Name()); ok {
			all = append(all, cand{e.Name(), an})
		}
	}
	if len(all) == 0 {
		return "", fmt.Errorf("%w: %s holds no archive of %s %s %s", ErrNotFound, vdir, kind, name, version)
	}
	archOK := func(a archiveName) bool {
		return kind != index.KindSoftware || a.arch == c.Arch || a.arch == index.NoArch
	}
	var fits []cand
	var arches []string
	for _, x := range all {
		if archOK(x.an) {
			fits = append(fits, x)
		} else {
			arches = append(arches, x.an.arch)
		}
	}
	if len(fits) == 0 {
		sort.Strings(arches)
		return "", fmt.Errorf("%w: %s %s %s is published for %s only; FEC %s is %s: publish a %s (or %s) build",
			ErrArchMismatch, kind, name, version, strings.Join(uniq(arches), ", "), fec, c.Arch, c.Arch, index.NoArch)
	}
	best := -1
	for i, x := range fits {
		if !c.CanDecode(x.an.format) {
			continue
		}
		if best < 0 || better(x.an, fits[best].an, c.Arch) {
			best = i
		}
	}
	if best < 0 {
		var names []string
		for _, x := range fits {
			names = append(names, path.Join(vdir, x.file))
		}
		sort.Strings(names)
		return "", fmt.Errorf("%w: FEC %s cannot decompress %s (its fec.conf has decoders=%s): republish %s %s as gzip (or xz)",
			ErrNoDecoder, fec, strings.Join(names, ", "), strings.Join(c.Decoders, ","), name, version)
	}
	return path.Join(vdir, fits[best].file), nil
}

// better orders candidate archives: the FEC's own architecture before
// noarch, then by formatPreference.
func better(a, b archiveName, arch string) bool {
	if (a.arch == arch) != (b.arch == arch) {
		return a.arch == arch
	}
	return rank(a.format) < rank(b.format)
}

// rank orders formats when a version is published in several, by the
// protocol's preference: zstd decompresses fastest, xz is smallest, gzip is
// the fallback.
func rank(format index.Format) int {
	formats := index.Formats()
	for i, f := range formats {
		if f == format {
			return i
		}
	}
	return len(formats)
}

func uniq(xs []string) []string {
	var out []string
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// relTarget is the relative symlink content that makes the link at the
// base-relative path link point to the base-relative path target.
func relTarget(link, target string) string {
	r, _ := filepath.Rel(path.Dir(link), target)
	return filepath.ToSlash(r)
}

// setLink points the base-relative link at target (base-relative), creating
// the folder, refusing to replace anything but a symlink.
func (s *Storage) setLink(link, target string) error {
	dirRel := path.Dir(link)
	created, err := mkdirs(s.base, s.abs(dirRel))
	if err != nil {
		removeEmpty(created)
		return err
	}
	want := relTarget(link, target)
	st, err := os.Lstat(s.abs(link))
	switch {
	case err == nil && st.Mode()&os.ModeSymlink == 0:
		removeEmpty(created)
		return fmt.Errorf("%w: %s is a %s, not a symlink; remove it by hand first", ErrExists, link, describeMode(st.Mode()))
	case err == nil:
		if cur, _ := os.Readlink(s.abs(link)); cur == want {
			return nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := symlinkAtomic(s.abs(dirRel), path.Base(link), want); err != nil {
		removeEmpty(created)
		return err
	}
	return nil
}

// linkAndReindex points link at target and regenerates the FEC's INDEX. When
// the index cannot be built (another entry of the FEC is broken), the link
// is put back as it was and the error returned: nothing changes.
func (s *Storage) linkAndReindex(ctx context.Context, fec, link, target string, logDone func()) error {
	oldRaw, hadLink := "", false
	if st, err := os.Lstat(s.abs(link)); err == nil && st.Mode()&os.ModeSymlink != 0 {
		oldRaw, _ = os.Readlink(s.abs(link))
		hadLink = true
	}
	if err := s.setLink(link, target); err != nil {
		return fmt.Errorf("storage: linking %s to %s: %w", link, target, err)
	}
	if err := s.reindexLocked(ctx, []string{fec}); err != nil {
		dir, name := s.abs(path.Dir(link)), path.Base(link)
		var rerr error
		if hadLink {
			rerr = symlinkAtomic(dir, name, oldRaw)
		} else {
			rerr = removeDurably(dir, name)
		}
		if rerr != nil {
			return fmt.Errorf("storage: linking %s: %w (and restoring the link failed: %v)", link, err, rerr)
		}
		return fmt.Errorf("storage: not linking %s: %w", link, err)
	}
	logDone()
	return nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

// Link points fecs/<fec>/<kind>/<name> at the archive of
// <kind>/<name>/<version> that fits the FEC (see pickArchive), switching an
// existing link atomically, and regenerates the FEC's INDEX. kind is
// software or configuration. Errors: ErrUnknownFEC, ErrNotFound (naming the
// versions that exist), ErrArchMismatch, ErrNoDecoder, ErrExists (a regular
// file is in the way); nothing is changed then.
func (s *Storage) Link(ctx context.Context, fec string, kind index.Kind, name, version string) error {
	if _, err := treeDir(kind); err != nil {
		return err
	}
	link, err := pathFor(fecEntryPathSpec{fec, kind, name})
	if err != nil {
		return err
	}
	if _, err := pathFor(versionPathSpec{kind, name, version}); err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		target, err := s.pickArchive(fec, c, kind, name, version)
		if err != nil {
			return err
		}
		if err := s.requireKeyFor(fmt.Sprintf("linking %s %s %s", kind, name, version), fec); err != nil {
			return err
		}
		if err := s.checkLinkTarget(ctx, target); err != nil {
			return fmt.Errorf("storage: not linking %s %s %s to FEC %s: %w (republish a fixed build; fecctl verify lists every such archive)",
				kind, name, version, fec, err)
		}
		logChange := s.softwareLinkChange(fec, kind, name, link, version)
		return s.linkAndReindex(ctx, fec, link, target, func() {
			logChange()
			s.syncMonitor(ctx, fec, kind, name)
			s.logger().Info("linked", "fec", fec, "kind", kind, "name", name, "version", version, "target", target)
		})
	})
}

// Unlink removes fecs/<fec>/<kind>/<name> (a symlink, or for init and
// configuration also a file written there) and regenerates the FEC's INDEX.
// For data, name is the snapshot's name without .tar.<ext>. ErrNotFound when
// there is nothing of that name.
func (s *Storage) Unlink(ctx context.Context, fec string, kind index.Kind, name string) error {
	if _, err := kindDir(kind); err != nil {
		return err
	}
	if err := index.CheckName(string(kind)+" name", name); err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		dirRel, _ := pathFor(fecKindPathSpec{fec, kind})
		file := name
		if kind == index.KindData {
			file = ""
			ents, _ := os.ReadDir(s.abs(dirRel))
			for _, e := range ents {
				if stem, _, ok := index.SplitExtension(e.Name()); ok && stem == name {
					file = e.Name()
				}
			}
		}
		st, err := os.Lstat(s.abs(path.Join(dirRel, file)))
		if file == "" || err != nil {
			return fmt.Errorf("%w: FEC %s has no %s %s", ErrNotFound, fec, kind, name)
		}
		if st.IsDir() {
			return fmt.Errorf("%w: %s is a directory; remove it by hand", ErrBadRequest, path.Join(dirRel, file))
		}
		logChange := s.softwareLinkChange(fec, kind, name, path.Join(dirRel, file), "")
		// Moved aside first, so that it can be put back when the FEC's
		// index cannot be built (another broken entry): nothing changes then.
		dir := s.abs(dirRel)
		aside := tmpPrefix + "unlink-" + durable.RandomSuffix()
		if err := os.Rename(filepath.Join(dir, file), filepath.Join(dir, aside)); err != nil {
			return fmt.Errorf("storage: unlinking %s: %w", path.Join(dirRel, file), err)
		}
		if err := s.reindexLocked(ctx, []string{fec}); err != nil {
			if rerr := os.Rename(filepath.Join(dir, aside), filepath.Join(dir, file)); rerr != nil {
				return fmt.Errorf("storage: unlinking %s: %w (and putting it back failed: %v; it is %s)", path.Join(dirRel, file), err, rerr, aside)
			}
			return fmt.Errorf("storage: not unlinking %s: %w", path.Join(dirRel, file), err)
		}
		logChange()
		if err := removeDurably(dir, aside); err != nil {
			return fmt.Errorf("storage: unlinking %s: %w", path.Join(dirRel, file), err)
		}
		s.syncMonitor(ctx, fec, kind, name)
		s.logger().Info("unlinked", "fec", fec, "kind", kind, "name", name)
		return nil
	})
}

// AddGlobalScript writes (or replaces) the shared init script
// fecs/global/<name> (mode 0755) and regenerates the indexes of the FECs
// that link it. Name it as it should sort among init scripts, e.g.
// "10-network": LinkInit uses the same name inside init/.
func (s *Storage) AddGlobalScript(ctx context.Context, name string, body io.Reader) error {
	rel, err := pathFor(globalScriptPathSpec{name})
	if err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		users, err := s.fecsUsing(ctx, rel)
		if err != nil {
			return err
		}
		if err := s.requireKeyFor("replacing global script "+name, users...); err != nil {
			return err
		}
		if err := s.writeStream(ctx, rel, 0o755, body, false); err != nil {
			return fmt.Errorf("storage: writing global script %s: %w", name, err)
		}
		s.logger().Info("wrote global script", "path", rel)
		return s.reindexLocked(ctx, users)
	})
}

// LinkInit links fecs/<fec>/init/<script> -> ../../global/<script> and
// regenerates the FEC's INDEX. ErrNotFound when there is no such global
// script.
func (s *Storage) LinkInit(ctx context.Context, fec, script string) error {
	target, err := pathFor(globalScriptPathSpec{script})
	if err != nil {
		return err
	}
	link, err := pathFor(fecEntryPathSpec{fec, index.KindInit, script})
	if err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		if st, err := os.Stat(s.abs(target)); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("%w: no global script %s (add it first: fecctl add-script %s FILE)", ErrNotFound, target, script)
		}
		return s.linkAndReindex(ctx, fec, link, target, func() {
			s.logger().Info("linked init script", "fec", fec, "script", script)
		})
	})
}
