package fec

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// The state directory:
//
//	<state>/installed/<kind>/<name>   one line, written after commit:
//	                                  "sha256=<hex> version=<v> path=<INDEX path>[ dir=<d>][ old=<d1>,<d2>...]\n"
//	<state>/scripts/<NN-name>         verified local copies of the init scripts, mode 0755
//	<state>/status.json               the last boot's status (default StatusFile)
//
// dir is the version directory (relative to the root) a software archive
// created as a whole and which the client therefore owns: it may replace
// it when the same software is installed again and remove it when the
// software leaves the INDEX. old lists owned version directories of
// earlier versions still on disk, the most recent first.

// record is one install record.
type record struct {
	SHA256, Version, Path, Dir string
	Old                        []string
	// A dev release installed by install-archive (docs/boot.md, "Dev
	// releases"): Dev is set, Prefix is its directory ("-" for none),
	// Installed the RFC 3339 time.
	Dev               bool
	Prefix, Installed string
}

func (r record) line() string {
	l := fmt.Sprintf("sha256=%s version=%s path=%s", r.SHA256, r.Version, r.Path)
	if r.Dir != "" {
		l += " dir=" + r.Dir
	}
	if len(r.Old) > 0 {
		l += " old=" + strings.Join(r.Old, ",")
	}
	if r.Dev {
		l += fmt.Sprintf(" dev=1 prefix=%s installed=%s", dash(r.Prefix), r.Installed)
	}
	return l + "\n"
}

// parseRecord reads a record line; ok is false when it is not one (a
// truncated or corrupt file).
func parseRecord(data []byte) (r record, ok bool) {
	s := string(data)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		return r, false
	}
	for _, w := range strings.Fields(s) {
		k, v, found := strings.Cut(w, "=")
		if !found {
			return r, false
		}
		switch k {
		case "sha256":
			r.SHA256 = v
		case "version":
			r.Version = v
		case "path":
			r.Path = v
		case "dir":
			r.Dir = v
		case "old":
			if v != "" {
				r.Old = strings.Split(v, ",")
			}
		case "dev":
			r.Dev = v == "1"
		case "prefix":
			r.Prefix = v
		case "installed":
			r.Installed = v
		}
	}
	if len(r.SHA256) != 64 || strings.Trim(r.SHA256, "0123456789abcdef") != "" {
		return r, false
	}
	return r, true
}

func (s *session) statePath(k index.Kind, name string) string {
	return filepath.Join(s.cfg.StateDir, "installed", string(k), name)
}

// repair notes a broken piece of state that was found and what was done;
// it goes to the log, the summary and the status file.
func (s *session) repair(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	s.cfg.Logger.Warn("state repaired", "what", msg)
	s.mu.Lock()
	s.repairs = append(s.repairs, msg)
	s.mu.Unlock()
}

// readRecord returns the record of an entry; a corrupt record (or a
// directory in its place) is removed and reported, and counts as none.
func (s *session) readRecord(k index.Kind, name string) (record, bool) {
	p := s.statePath(k, name)
	fi, err := os.Lstat(p)
	if err != nil {
		return record{}, false
	}
	if !fi.Mode().IsRegular() {
		if s.cfg.DryRun {
			s.repair("install record %s is a %s, not a file: a boot would remove it and install %s %s again", p, kindOf(fi.Mode()), k, name)
			return record{}, false
		}
		if err := archive.RemoveTree(p); err != nil {
			s.repair("install record %s is a %s, not a file; removing it failed (%v); %s %s is installed again", p, kindOf(fi.Mode()), err, k, name)
		} else {
			s.repair("install record %s was a %s, not a file: removed; %s %s is installed again", p, kindOf(fi.Mode()), k, name)
		}
		return record{}, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		s.repair("install record %s cannot be read (%v); %s %s is installed again", p, err, k, name)
		return record{}, false
	}
	r, ok := parseRecord(data)
	if !ok {
		if s.cfg.DryRun {
			s.repair("install record %s is corrupt or truncated (%d bytes): a boot would remove it and install %s %s again", p, len(data), k, name)
			return record{}, false
		}
		os.Remove(p)
		s.repair("install record %s is corrupt or truncated (%d bytes): removed; %s %s is installed again", p, len(data), k, name)
		return record{}, false
	}
	return r, true
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

func (s *session) writeRecord(k index.Kind, name string, r record) error {
	return writeFileAtomic(s.statePath(k, name), []byte(r.line()), 0o644)
}

// writeFileAtomic writes a file durably: temp file, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, data, perm)
}

// checkState refuses a state directory (or one of its parts) that exists
// but is not a directory, and reports a status file that is not valid
// JSON; it creates the state directory.
func (s *session) checkState() error {
	cfg := s.cfg
	for _, d := range []string{cfg.StateDir, filepath.Join(cfg.StateDir, "installed"), filepath.Join(cfg.StateDir, "scripts")} {
		fi, err := os.Stat(d)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("%w: the state directory %s cannot be used: %s is a %s, not a directory; move it away (fec-boot keeps what it installed there)",
				ErrInstall, cfg.StateDir, d, kindOf(fi.Mode()))
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("%w: the state directory %s cannot be used: %v", ErrInstall, cfg.StateDir, err)
	}
	if fi, err := os.Lstat(cfg.StatusFile); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%w: the status file %s is a directory; move it away", ErrInstall, cfg.StatusFile)
		}
		data, err := os.ReadFile(cfg.StatusFile)
		if err == nil && !json.Valid(data) {
			s.repair("the status file %s of the last boot is not valid JSON (%d bytes, truncated?): replaced by this boot's", cfg.StatusFile, len(data))
		}
	}
	return nil
}

// versionDir is the version directory of software name whose archive's own
// directory is prefix: prefix cut after its last component equal to the
// version, when a component before that is the software's name
// (opt/fesa/Foo/1.2.0 of opt/fesa/Foo/1.2.0/bin for Foo 1.2.0), it lies
// below an allowed root and its name is plain. "" otherwise.
func versionDir(prefix, name, version string, allowed []string) string {
	if prefix == "" || version == "" {
		return ""
	}
	comps := strings.Split(prefix, "/")
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] == version {
			d := strings.Join(comps[:i+1], "/")
			if isVersionDir(d, name, allowed) {
				return d
			}
			return ""
		}
	}
	return ""
}

// isVersionDir: d lies below an allowed root, is plain, and has a
// component equal to the software's name before its last one.
func isVersionDir(d, name string, allowed []string) bool {
	if !below(d, allowed) || !plainPath(d) {
		return false
	}
	comps := strings.Split(d, "/")
	for _, c := range comps[:len(comps)-1] {
		if c == name {
			return true
		}
	}
	return false
}

// below: d lies strictly below one of the allowed roots.
func below(d string, allowed []string) bool {
	if d == "" || !filepath.IsLocal(d) || path.Clean(d) != d {
		return false
	}
	for _, a := range allowed {
		if strings.HasPrefix(d, a+"/") {
			return true
		}
	}
	return false
}

// plainPath: a path the record line can hold (no space, comma or '=').
func plainPath(d string) bool {
	for _, c := range []byte(d) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+-/@:", c) >= 0) {
			return false
		}
	}
	return true
}

// ownedBy reports whether dir is a version directory the client installed
// for this entry's record: its dir or one of its old ones, or (records of
// clients before dir=) the same version.
func (r record) owns(dir, version string, exists bool) bool {
	if r.SHA256 == "" || dir == "" {
		return false
	}
	if r.Dir == dir {
		return true
	}
	for _, o := range r.Old {
		if o == dir {
			return true
		}
	}
	return r.Dir == "" && exists && r.Version == version && path.Base(dir) == version
}

// next returns the record after installing e into dir (owned or not).
func (r record) next(e index.Entry, dir string) record {
	n := record{SHA256: e.SHA256, Version: e.Version, Path: e.Path, Dir: dir}
	var old []string
	if r.Dir != "" && r.Dir != dir {
		old = append(old, r.Dir)
	}
	for _, o := range r.Old {
		if o != dir && o != r.Dir {
			old = append(old, o)
		}
	}
	n.Old = old
	return n
}

// prune removes, after a boot whose archives all installed, the version
// directories of software that left the INDEX and of earlier versions
// (keeping the most recent earlier one unless DropPrevious). Only
// directories an install record names are touched, only below the allowed
// roots, never one a kept version lies in or below; parents left empty are
// removed up to the allowed root. It returns what it removed.
func (s *session) prune(ix *index.Index) []string {
	cfg := s.cfg
	dir := filepath.Join(cfg.StateDir, "installed", string(index.KindSoftware))
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	inIndex := map[string]bool{}
	for _, e := range ix.Entries {
		if e.Kind == index.KindSoftware {
			inIndex[e.Name] = true
		}
	}
	type plan struct {
		name   string
		rec    record
		drop   []string
		remove bool // the record too
	}
	var plans []plan
	keep := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") || index.CheckName("software name", name) != nil {
			continue
		}
		r, ok := s.readRecord(index.KindSoftware, name)
		if !ok || r.Dev {
			continue // a dev release the INDEX does not name is kept (keepDev)
		}
		p := plan{name: name, rec: r}
		if inIndex[name] {
			if r.Dir != "" {
				keep[r.Dir] = true
			}
			old := r.Old
			if !cfg.DropPrevious && len(old) > 0 {
				keep[old[0]] = true
				old = old[1:]
			}
			p.drop = old
		} else {
			p.drop = append(p.drop, r.Old...)
			if r.Dir != "" {
				p.drop = append([]string{r.Dir}, p.drop...)
			}
			p.remove = true
		}
		plans = append(plans, p)
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].name < plans[j].name })
	var removed []string
	for _, p := range plans {
		var left []string
		for _, d := range p.drop {
			if err := s.removeVersionDir(p.name, d, keep); err != nil {
				cfg.Logger.Warn("cannot remove an old version", "software", p.name, "dir", d, "error", err.Error())
				left = append(left, d)
				continue
			}
			cfg.Logger.Info("removed an old version", "software", p.name, "dir", d)
			removed = append(removed, d)
		}
		rp := s.statePath(index.KindSoftware, p.name)
		if p.remove {
			if len(left) == 0 {
				if err := durable.Remove(filepath.Dir(rp), filepath.Base(rp)); err != nil {
					cfg.Logger.Warn("cannot remove an install record", "path", rp, "error", err.Error())
				}
			} else {
				s.writeRecord(index.KindSoftware, p.name, record{SHA256: p.rec.SHA256, Version: p.rec.Version, Path: p.rec.Path, Old: left})
			}
			continue
		}
		r := p.rec
		r.Old = nil
		if !cfg.DropPrevious && len(p.rec.Old) > 0 {
			r.Old = append(r.Old, p.rec.Old[0])
		}
		r.Old = append(r.Old, left...)
		if strings.Join(r.Old, ",") != strings.Join(p.rec.Old, ",") {
			if err := s.writeRecord(index.KindSoftware, p.name, r); err != nil {
				cfg.Logger.Warn("cannot update an install record", "path", rp, "error", err.Error())
			}
		}
	}
	return removed
}

// removeVersionDir removes one owned version directory: it must lie below
// an allowed root, be a directory (not a symlink) and hold no kept version;
// it is first renamed into a staging name (so it disappears at once and a
// kill leaves a leftover that the next run removes), then deleted.
func (s *session) removeVersionDir(name, d string, keep map[string]bool) error {
	cfg := s.cfg
	if !isVersionDir(d, name, cfg.AllowedRoots) {
		return fmt.Errorf("%s is no version directory of %s below the allowed roots %v: left alone", d, name, cfg.AllowedRoots)
	}
	for k := range keep {
		if strings.HasPrefix(k+"/", d+"/") || strings.HasPrefix(d+"/", k+"/") {
			return fmt.Errorf("%s holds or lies in the kept version directory %s: left alone", d, k)
		}
	}
	full := filepath.Join(cfg.Root, filepath.FromSlash(d))
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone already
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is a %s, not a directory: left alone", d, kindOf(fi.Mode()))
	}
	var allowed string
	for _, a := range cfg.AllowedRoots {
		if strings.HasPrefix(d, a+"/") && len(a) > len(allowed) {
			allowed = a
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(cfg.Root, filepath.FromSlash(allowed), archive.StagingPrefix+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(full, tmp); err != nil {
		return err
	}
	if err := archive.RemoveTree(tmp); err != nil {
		return err
	}
	for p := path.Dir(d); p != allowed && below(p, cfg.AllowedRoots); p = path.Dir(p) {
		if os.Remove(filepath.Join(cfg.Root, filepath.FromSlash(p))) != nil {
			break // not empty
		}
	}
	return nil
}
