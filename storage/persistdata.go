package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/fair-acc/fecdeploy/index"
)

// Persistent data of a FEC (docs/persistence.md):
//
//	fecs/<FEC>/persistent-data/                          opt-in: only FECs that persist data have it
//	fecs/<FEC>/persistent-data/datasets.conf             the declaration: NAME DIR... per line
//	fecs/<FEC>/persistent-data/<set>/000007.tar.<ext>    generations of a data set, numbered
//	fecs/<FEC>/persistent-data/<set>.tar.<ext>           symlink -> <set>/000007.tar.<ext>: the current one,
//	                                                     the `data` entry of the INDEX
//
// fec-persist writes generations with WriteSnapshot; the symlink is the
// current generation, switched atomically like any other link, so that a
// FEC's INDEX names one concrete generation (a stable URL).

// DataSetsFile is the declaration of a FEC's data sets.
const DataSetsFile = "datasets.conf"

// DefaultKeepGenerations is how many generations of a data set are kept.
const DefaultKeepGenerations = 5

// DefaultAllowedRoots are the directories data sets may lie below when the
// FEC's fec.conf has no allowed_roots= (the boot clients' default).
var DefaultAllowedRoots = []string{"/opt"}

// ErrNotPersistent: the FEC has no persistent-data/ folder.
var ErrNotPersistent = errors.New("storage: FEC does not persist data")

// DataSet is one declared data set: a name (the INDEX entry's name) and the
// absolute directories on the FEC it covers.
type DataSet struct {
	Name string   `json:"name"`
	Dirs []string `json:"dirs"`
}

// Snapshot is one stored generation of a data set.
type Snapshot struct {
	Set        string       `json:"set"`
	Generation int          `json:"generation"`
	Path       string       `json:"path"` // base-relative
	Format     index.Format `json:"format"`
	Size       int64        `json:"size"`
	Time       time.Time    `json:"time"` // when it was stored
	Current    bool         `json:"current"`
}

// isDataAux reports whether a name in a persistent-data/ folder is not a
// data entry of the INDEX: the declaration and the generation folders.
func isDataAux(name string, isDir bool) bool {
	return isDir || name == DataSetsFile
}

// ParseDataSets reads a declaration strictly: every line is empty, a
// comment, or NAME DIR..., names valid and unique, directories absolute,
// clean, without whitespace, below one of allowedRoots (absolute), and not
// overlapping another declared directory. Errors say file:line.
func ParseDataSets(r io.Reader, file string, allowedRoots []string) ([]DataSet, error) {
	var sets []DataSet
	seen := map[string]int{}
	dirLine := map[string]int{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: %s:%d: %q: want NAME DIR... (at least one directory)", ErrBadRequest, file, n, line)
		}
		ds := DataSet{Name: f[0], Dirs: f[1:]}
		if err := checkDataSet(ds, allowedRoots); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		if l, ok := seen[ds.Name]; ok {
			return nil, fmt.Errorf("%w: %s:%d: data set %s is declared twice (also on line %d)", ErrBadRequest, file, n, ds.Name, l)
		}
		seen[ds.Name] = n
		for _, d := range ds.Dirs {
			for o, l := range dirLine {
				if pathWithin(d, o) || pathWithin(o, d) {
					return nil, fmt.Errorf("%w: %s:%d: %s overlaps %s (line %d): a file would be in two snapshots", ErrBadRequest, file, n, d, o, l)
				}
			}
			dirLine[d] = n
		}
		sets = append(sets, ds)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("storage: reading %s: %w", file, err)
	}
	return sets, nil
}

// pathWithin reports whether the slash path p is base or below it,
// component-wise.
func pathWithin(p, base string) bool {
	if p == base {
		return true
	}
	rel, err := filepath.Rel(base, p)
	return err == nil && filepath.IsLocal(rel)
}

func checkDataSet(ds DataSet, allowedRoots []string) error {
	if err := index.CheckName("data set name", ds.Name); err != nil {
		return err
	}
	if len(ds.Dirs) == 0 {
		return fmt.Errorf("%w: data set %s names no directory", ErrBadRequest, ds.Name)
	}
	for i, d := range ds.Dirs {
		if strings.IndexFunc(d, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return fmt.Errorf("%w: data set %s: directory %q contains whitespace or a control character", ErrBadRequest, ds.Name, d)
		}
		if !path.IsAbs(d) {
			return fmt.Errorf("%w: data set %s: directory %q is not absolute (write it as on the FEC, e.g. /opt/fesa/data/%s)", ErrBadRequest, ds.Name, d, ds.Name)
		}
		for _, c := range strings.Split(d[1:], "/") {
			if c == ".." || c == "." || c == "" {
				return fmt.Errorf("%w: data set %s: directory %q is not clean (no '..', '.', '//' or trailing '/')", ErrBadRequest, ds.Name, d)
			}
		}
		inside := false
		for _, r := range allowedRoots {
			if d != r && pathWithin(d, r) {
				inside = true
			}
		}
		if !inside {
			return fmt.Errorf("%w: data set %s: directory %s is not below the FEC's allowed roots (%s); set allowed_roots= in its fec.conf if the boot client allows more",
				ErrBadRequest, ds.Name, d, strings.Join(allowedRoots, ","))
		}
		for _, o := range ds.Dirs[:i] {
			if pathWithin(d, o) || pathWithin(o, d) {
				return fmt.Errorf("%w: data set %s: %s overlaps %s", ErrBadRequest, ds.Name, d, o)
			}
		}
	}
	return nil
}

// AllowedRoots are the absolute directories a FEC's data sets may lie
// below: allowed_roots= of fec.conf (comma-separated, as the boot clients
// take it: "opt,srv" or "/opt,/srv"), DefaultAllowedRoots otherwise.
func (c FECConfig) AllowedRoots() []string {
	v := c.Other["allowed_roots"]
	if strings.TrimSpace(v) == "" {
		return DefaultAllowedRoots
	}
	var out []string
	for _, r := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, path.Clean("/"+strings.Trim(r, "/")))
	}
	return out
}

func (s *Storage) dataDir(fec string) (string, error) {
	p, err := s.absFor(fecKindPathSpec{fec, index.KindData})
	if err != nil {
		return "", err
	}
	st, err := os.Stat(p)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("%w: FEC %s has no %s/ folder (fecctl persist add creates it)", ErrNotPersistent, fec, DataDir)
	}
	return p, nil
}

// PersistentFECs lists the FECs that have a persistent-data/ folder, sorted.
func (s *Storage) PersistentFECs(ctx context.Context) ([]string, error) {
	all, err := s.FECs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		if _, err := s.dataDir(f); err == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// DataSets reads a FEC's declaration (none when it has no datasets.conf).
// ErrNotPersistent when the FEC has no persistent-data/ folder.
func (s *Storage) DataSets(ctx context.Context, fec string) ([]DataSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return nil, err
	}
	dir, err := s.dataDir(fec)
	if err != nil {
		return nil, err
	}
	return readDataSets(dir, c)
}

func readDataSets(dir string, c FECConfig) ([]DataSet, error) {
	p := filepath.Join(dir, DataSetsFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: reading %s: %w", p, err)
	}
	return ParseDataSets(bytes.NewReader(b), p, c.AllowedRoots())
}

func marshalDataSets(sets []DataSet) []byte {
	var b bytes.Buffer
	b.WriteString("# fecdeploy persistent data sets: NAME DIR... (absolute directories on the FEC), one set per line\n")
	for _, ds := range sets {
		fmt.Fprintf(&b, "%s %s\n", ds.Name, strings.Join(ds.Dirs, " "))
	}
	return b.Bytes()
}

// SetDataSet declares (or redeclares) a data set of a FEC, creating its
// persistent-data/ folder (which opts the FEC into persistence).
func (s *Storage) SetDataSet(ctx context.Context, fec string, ds DataSet) error {
	return s.locked(ctx, func() error {
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		if err := checkDataSet(ds, c.AllowedRoots()); err != nil {
			return fmt.Errorf("storage: FEC %s: %w", fec, err)
		}
		dir, _ := s.absFor(fecKindPathSpec{fec, index.KindData})
		var sets []DataSet
		if _, err := os.Stat(dir); err == nil {
			if sets, err = readDataSets(dir, c); err != nil {
				return err
			}
		}
		replaced := false
		for i := range sets {
			if sets[i].Name == ds.Name {
				sets[i], replaced = ds, true
			}
		}
		if !replaced {
			sets = append(sets, ds)
		}
		data := marshalDataSets(sets)
		// The whole new declaration must parse: no overlap with another set.
		if _, err := ParseDataSets(bytes.NewReader(data), filepath.Join(dir, DataSetsFile), c.AllowedRoots()); err != nil {
			return err
		}
		created, err := mkdirs(s.base, dir)
		if err != nil {
			removeEmpty(created)
			return fmt.Errorf("storage: FEC %s: %w", fec, err)
		}
		if err := writeFileAtomic(dir, DataSetsFile, 0o644, data); err != nil {
			removeEmpty(created)
			return fmt.Errorf("storage: FEC %s: writing %s: %w", fec, DataSetsFile, err)
		}
		s.logger().Info("declared data set", "fec", fec, "set", ds.Name, "dirs", strings.Join(ds.Dirs, " "))
		return nil
	})
}

// RemoveDataSet removes a data set from a FEC's declaration together with
// its snapshots (the current link and every generation) and regenerates the
// FEC's INDEX, so the FEC no longer restores it. ErrNotFound when the FEC
// declares no such set.
func (s *Storage) RemoveDataSet(ctx context.Context, fec, name string) error {
	if err := index.CheckName("data set name", name); err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		dir, err := s.dataDir(fec)
		if err != nil {
			return err
		}
		sets, err := readDataSets(dir, c)
		if err != nil {
			return err
		}
		var keep []DataSet
		for _, ds := range sets {
			if ds.Name != name {
				keep = append(keep, ds)
			}
		}
		if len(keep) == len(sets) {
			return fmt.Errorf("%w: FEC %s declares no data set %s (fecctl persist ls %s)", ErrNotFound, fec, name, fec)
		}
		if err := writeFileAtomic(dir, DataSetsFile, 0o644, marshalDataSets(keep)); err != nil {
			return fmt.Errorf("storage: FEC %s: writing %s: %w", fec, DataSetsFile, err)
		}
		for _, f := range currentLinks(dir, name) {
			if err := removeDurably(dir, f); err != nil {
				return fmt.Errorf("storage: FEC %s: %w", fec, err)
			}
		}
		if err := s.reindexLocked(ctx, []string{fec}); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("storage: FEC %s: removing the snapshots of %s: %w", fec, name, err)
		}
		s.logger().Info("removed data set", "fec", fec, "set", name)
		return syncDir(dir)
	})
}

// currentLinks are the <set>.tar.<ext> names in a persistent-data folder.
func currentLinks(dir, set string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if stem, _, ok := index.SplitExtension(e.Name()); ok && stem == set && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// generationFile is the file name of generation gen.
func generationFile(gen int, f index.Format) string {
	return fmt.Sprintf("%06d%s", gen, f.Extension())
}

// generations lists the generation files of a set folder, oldest first.
func generations(setDir string) ([]Snapshot, error) {
	ents, err := os.ReadDir(setDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, e := range ents {
		stem, f, ok := index.SplitExtension(e.Name())
		if !ok || !e.Type().IsRegular() || len(stem) != 6 {
			continue
		}
		g, err := strconv.Atoi(stem)
		if err != nil || g <= 0 {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Snapshot{Generation: g, Format: f, Size: fi.Size(), Time: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Generation < out[j].Generation })
	return out, nil
}

// currentGeneration is the generation the set's link points at (0: none).
func currentGeneration(dir, set string) int {
	for _, l := range currentLinks(dir, set) {
		t, err := os.Readlink(filepath.Join(dir, l))
		if err != nil {
			continue
		}
		d, f := path.Split(t)
		if path.Clean(d) != set {
			continue
		}
		if stem, _, ok := index.SplitExtension(f); ok {
			if g, err := strconv.Atoi(stem); err == nil {
				return g
			}
		}
	}
	return 0
}

// Snapshots lists the stored generations of every data set of a FEC, by
// set then generation; Current marks the one its INDEX names.
func (s *Storage) Snapshots(ctx context.Context, fec string) ([]Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := s.readFECConf(fec); err != nil {
		return nil, err
	}
	dir, err := s.dataDir(fec)
	if err != nil {
		return nil, err
	}
	rel, _ := pathFor(fecKindPathSpec{fec, index.KindData})
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: FEC %s: %w", fec, err)
	}
	var out []Snapshot
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || index.CheckName("data set name", e.Name()) != nil {
			continue
		}
		gens, err := generations(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("storage: FEC %s: %w", fec, err)
		}
		cur := currentGeneration(dir, e.Name())
		for _, g := range gens {
			g.Set = e.Name()
			g.Path = path.Join(rel, e.Name(), generationFile(g.Generation, g.Format))
			g.Current = g.Generation == cur
			out = append(out, g)
		}
	}
	return out, nil
}

// WriteSnapshot stores a new generation of a data set: fill writes the
// compressed archive (in format) into a temporary file in the set's folder;
// only when fill and the write succeed is it renamed into place as the next
// generation, made current and the FEC's INDEX regenerated, all under the
// storage lock; then generations beyond the newest keep (default
// DefaultKeepGenerations) are removed, never the current one. On any error
// the temporary file is removed and the previous snapshot stays current.
func (s *Storage) WriteSnapshot(ctx context.Context, fec, set string, format index.Format, keep int, fill func(io.Writer) error) (Snapshot, error) {
	if keep <= 0 {
		keep = DefaultKeepGenerations
	}
	if err := index.CheckName("data set name", set); err != nil {
		return Snapshot{}, err
	}
	if format.Extension() == "" {
		return Snapshot{}, fmt.Errorf("%w: %q", index.ErrUnknownFormat, format)
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return Snapshot{}, err
	}
	if !c.CanDecode(format) {
		return Snapshot{}, fmt.Errorf("%w: FEC %s cannot decompress %s (decoders=%s)", ErrNoDecoder, fec, format, strings.Join(c.Decoders, ","))
	}
	dir, err := s.dataDir(fec)
	if err != nil {
		return Snapshot{}, err
	}
	setDir := filepath.Join(dir, set)
	if err := os.Mkdir(setDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return Snapshot{}, fmt.Errorf("storage: FEC %s: %w", fec, err)
	}
	t, err := createTemp(setDir, "snapshot")
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage: FEC %s: data set %s: %w", fec, set, err)
	}
	defer t.Abort()
	bw := bufio.NewWriterSize(t, 256<<10)
	if err := fill(bw); err != nil {
		return Snapshot{}, err
	}
	if err := bw.Flush(); err != nil {
		return Snapshot{}, fmt.Errorf("storage: FEC %s: data set %s: writing the snapshot: %w", fec, set, err)
	}
	var snap Snapshot
	err = s.locked(ctx, func() error {
		gens, err := generations(setDir)
		if err != nil {
			return err
		}
		next := 1
		if len(gens) > 0 {
			next = gens[len(gens)-1].Generation + 1
		}
		file := generationFile(next, format)
		if err := t.Commit(file, 0o644); err != nil {
			return fmt.Errorf("storage: FEC %s: data set %s: %w", fec, set, err)
		}
		if err := s.makeCurrent(ctx, fec, dir, set, file, format); err != nil {
			return err
		}
		fi, err := os.Stat(filepath.Join(setDir, file))
		if err != nil {
			return err
		}
		rel, _ := pathFor(fecKindPathSpec{fec, index.KindData})
		snap = Snapshot{Set: set, Generation: next, Path: path.Join(rel, set, file), Format: format, Size: fi.Size(), Time: fi.ModTime(), Current: true}
		s.logger().Info("stored snapshot", "fec", fec, "set", set, "generation", next, "bytes", fi.Size())
		// Retention: the newest keep generations (the new one among them).
		gens = append(gens, Snapshot{Generation: next, Format: format})
		for i := 0; i < len(gens)-keep; i++ {
			if err := removeDurably(setDir, generationFile(gens[i].Generation, gens[i].Format)); err != nil {
				return fmt.Errorf("storage: FEC %s: data set %s: removing generation %d: %w", fec, set, gens[i].Generation, err)
			}
		}
		return nil
	})
	return snap, err
}

// makeCurrent points <set>.tar.<ext> at <set>/<file>, removes a link of
// the set in another format, and regenerates the FEC's INDEX; when that
// fails the previous links are put back. Lock held.
func (s *Storage) makeCurrent(ctx context.Context, fec, dir, set, file string, format index.Format) error {
	link := set + format.Extension()
	old := map[string]string{}
	for _, l := range currentLinks(dir, set) {
		if t, err := os.Readlink(filepath.Join(dir, l)); err == nil {
			old[l] = t
		}
	}
	putBack := func() {
		if _, ok := old[link]; !ok {
			_ = removeDurably(dir, link)
		}
		for l, t := range old {
			_ = symlinkAtomic(dir, l, t)
		}
	}
	if err := symlinkAtomic(dir, link, path.Join(set, file)); err != nil {
		return fmt.Errorf("storage: FEC %s: data set %s: %w", fec, set, err)
	}
	for l := range old {
		if l != link {
			if err := removeDurably(dir, l); err != nil {
				putBack()
				return fmt.Errorf("storage: FEC %s: data set %s: %w", fec, set, err)
			}
		}
	}
	if err := s.reindexLocked(ctx, []string{fec}); err != nil {
		putBack()
		return fmt.Errorf("storage: FEC %s: data set %s stored as %s/%s but not made current: %w", fec, set, set, file, err)
	}
	return nil
}

// RestoreGeneration makes a stored generation of a data set the current
// one (the FEC's INDEX names it from now on). ErrNotFound when there is no
// such generation.
func (s *Storage) RestoreGeneration(ctx context.Context, fec, set string, gen int) (Snapshot, error) {
	if err := index.CheckName("data set name", set); err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	err := s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		dir, err := s.dataDir(fec)
		if err != nil {
			return err
		}
		gens, err := generations(filepath.Join(dir, set))
		if err != nil {
			return err
		}
		var have []string
		for _, g := range gens {
			have = append(have, strconv.Itoa(g.Generation))
			if g.Generation != gen {
				continue
			}
			file := generationFile(g.Generation, g.Format)
			if err := s.makeCurrent(ctx, fec, dir, set, file, g.Format); err != nil {
				return err
			}
			rel, _ := pathFor(fecKindPathSpec{fec, index.KindData})
			snap = g
			snap.Set, snap.Path, snap.Current = set, path.Join(rel, set, file), true
			s.logger().Info("restored generation", "fec", fec, "set", set, "generation", gen)
			return nil
		}
		if len(have) == 0 {
			have = []string{"none"}
		}
		return fmt.Errorf("%w: FEC %s, data set %s has no generation %d (stored: %s)", ErrNotFound, fec, set, gen, strings.Join(have, ", "))
	})
	return snap, err
}

// FECConfig reads a FEC's fec.conf (ErrUnknownFEC when there is none),
// without resolving its entries.
func (s *Storage) FECConfig(ctx context.Context, fec string) (FECConfig, error) {
	if err := ctx.Err(); err != nil {
		return FECConfig{}, err
	}
	return s.readFECConf(fec)
}
