package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// ProblemKind classifies what Verify found.
type ProblemKind string

// The problems Verify reports.
const (
	ProblemTempFile        ProblemKind = "temp-file"         // a killed writer's leftover
	ProblemUnknownFile     ProblemKind = "unknown-file"      // something the layout has no place for
	ProblemBadName         ProblemKind = "bad-name"          // a name outside the safe character set
	ProblemBadConfig       ProblemKind = "bad-config"        // fec.conf unreadable or invalid
	ProblemDanglingLink    ProblemKind = "dangling-link"     // a link that does not resolve (or leaves the storage, or loops)
	ProblemArchMismatch    ProblemKind = "arch-mismatch"     // an archive for another architecture linked to a FEC
	ProblemNoDecoder       ProblemKind = "no-decoder"        // an archive format the FEC cannot decompress
	ProblemBadArchive      ProblemKind = "bad-archive"       // not compressed as its name says
	ProblemMissingChecksum ProblemKind = "missing-checksum"  // a published archive without its .sha256 sidecar
	ProblemHashMismatch    ProblemKind = "hash-mismatch"     // bytes differ from the sidecar or the INDEX
	ProblemSizeMismatch    ProblemKind = "size-mismatch"     // size differs from the INDEX
	ProblemMissingArchive  ProblemKind = "missing-archive"   // an INDEX names a file that does not exist
	ProblemMissingIndex    ProblemKind = "missing-index"     // a FEC without INDEX
	ProblemStaleIndex      ProblemKind = "stale-index"       // INDEX differs from what the links say now
	ProblemBadIndex        ProblemKind = "bad-index"         // INDEX does not parse
	ProblemBadSignature    ProblemKind = "bad-signature"     // INDEX.sig missing or not matching the signing key
	ProblemUnsafeArchive   ProblemKind = "unsafe-archive"    // entries a FEC would refuse (archive.Check): "..", absolute, escaping links, devices, PAX records, limits
	ProblemExpiring        ProblemKind = "expiring-index"    // a signed INDEX expired or expires within a day: FECs will refuse it
	ProblemVersionCollide  ProblemKind = "version-collision" // two versions of one name that read as the same version (5.1.0-rc.1, 5.1.0-RC.1)
	ProblemEmptyVersion    ProblemKind = "empty-version"     // a version folder without an archive (a killed publish): no version
)

// Problem is one finding: where, what, and what to do about it.
type Problem struct {
	Kind    ProblemKind `json:"kind"`
	Path    string      `json:"path"` // base-relative
	FEC     string      `json:"fec,omitempty"`
	Message string      `json:"message"`
	Fix     string      `json:"fix"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s (fix: %s)", p.Kind, p.Path, p.Message, p.Fix)
}

// Report is the result of Verify.
type Report struct {
	Problems []Problem `json:"problems"`
	FECs     int       `json:"fecs"`     // FECs checked
	Archives int       `json:"archives"` // published archives re-hashed
	Entries  int       `json:"entries"`  // FEC folder entries checked
}

// OK reports whether nothing was found.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Count returns how many problems of a kind were found.
func (r Report) Count(k ProblemKind) int {
	n := 0
	for _, p := range r.Problems {
		if p.Kind == k {
			n++
		}
	}
	return n
}

type verifier struct {
	s      *Storage
	ctx    context.Context
	r      Report
	hashes map[string]string // real sha256 by base-relative path
	unsafe map[string]bool   // base-relative paths reported as unsafe archives
}

func (v *verifier) add(k ProblemKind, p, fec, msg, fix string) {
	v.r.Problems = append(v.r.Problems, Problem{Kind: k, Path: p, FEC: fec, Message: msg, Fix: fix})
}

// realHash hashes a file once per Verify.
func (v *verifier) realHash(rel string) (string, error) {
	if h, ok := v.hashes[rel]; ok {
		return h, nil
	}
	h, err := hashFile(v.s.abs(rel))
	if err != nil {
		return "", err
	}
	v.hashes[rel] = h
	return h, nil
}

// checkContent runs the clients' archive rules on an archive, once per
// sha256 (Storage.checkArchive caches), and reports each path that holds
// an unsafe archive once.
func (v *verifier) checkContent(rel, fec, sum string, format index.Format) error {
	if v.unsafe[rel] {
		return nil
	}
	err := v.s.checkArchive(v.ctx, rel, sum, format)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnsafeArchive):
		v.unsafe[rel] = true
		v.add(ProblemUnsafeArchive, rel, fec, err.Error(),
			"do not link it; republish a fixed build, switch the FECs that use it (fecctl who-uses), then remove it")
		return nil
	}
	return fmt.Errorf("storage: verify: %w", err)
}

// checkKeyring: a keyring that does not parse, expires within 30 days, or
// does not name the writer's signing key (FECs that follow the keyring
// would refuse every INDEX).
func (v *verifier) checkKeyring() error {
	data, _, err := v.s.ReadKeyring(v.ctx)
	if err != nil || data == nil {
		return err
	}
	p := index.KeyringURLPath()
	k, err := index.ParseKeyring(data)
	if err != nil {
		v.add(ProblemBadIndex, p, "", err.Error(), "restore it from a backup, or rewrite it with fecctl keyring resign -root-key ROOT.key")
		return nil
	}
	if k.Expires.Sub(v.s.now()) < 30*24*time.Hour {
		v.add(ProblemExpiring, p, "", "keyring expires at "+k.Expires.UTC().Format(time.RFC3339)+": FECs that follow it then refuse every INDEX",
			"fecctl keyring resign -root-key ROOT.key")
	}
	if key := v.s.signingKey(); key != nil && !k.HasKey(key.Public().(ed25519.PublicKey)) {
		v.add(ProblemBadSignature, p, "", "the signing key "+index.KeyID(key.Public().(ed25519.PublicKey))+" is not in the keyring: FECs that follow it refuse every INDEX",
			"fecctl keyring add -root-key ROOT.key SIGNING.pub")
	}
	return nil
}

// Verify checks the whole storage without changing it: leftover temporary
// files, names, unknown files, every published archive against its magic
// bytes and sidecar (re-hashing every byte), every FEC's fec.conf and
// entries (dangling links, architecture, decoders), every archive's entries
// with the clients' safety rules (once per sha256), and its INDEX (missing,
// unparseable, stale, naming missing files or wrong sizes or hashes,
// signature when a signing key is set). The error is only for failures to
// check (I/O, ctx); findings are in the Report, sorted by path.
func (s *Storage) Verify(ctx context.Context) (Report, error) {
	v := &verifier{s: s, ctx: ctx, hashes: map[string]string{}, unsafe: map[string]bool{}, r: Report{Problems: []Problem{}}}
	temps, err := s.temps()
	if err != nil {
		return v.r, err
	}
	for _, t := range temps {
		if t.stale {
			v.add(ProblemTempFile, t.path, "", "temporary file left by a writer that was killed or crashed",
				"run Clean (fecctl verify --clean); it removes only files no live writer holds")
		}
	}
	for _, a := range s.archiveless() {
		switch {
		case a.young || a.live:
			// A publish in progress.
		case a.others == 0:
			v.add(ProblemEmptyVersion, a.path, "", "version folder without an archive (a publish killed before its archive was in place): no version; FECs cannot use it and retention ignores it",
				"run Clean (fecctl verify -clean); it removes it")
		default:
			v.add(ProblemEmptyVersion, a.path, "", "version folder without an archive, holding other files: no version; retention ignores it",
				"publish the version again, or remove the folder by hand")
		}
	}
	if err := v.checkTrees(); err != nil {
		return v.r, err
	}
	if err := v.checkFECs(); err != nil {
		return v.r, err
	}
	if err := v.checkKeyring(); err != nil {
		return v.r, err
	}
	sort.SliceStable(v.r.Problems, func(i, j int) bool { return v.r.Problems[i].Path < v.r.Problems[j].Path })
	return v.r, nil
}

// readDir lists a base-relative directory, skipping temporary names (they
// are reported on their own).
func (v *verifier) readDir(rel string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(v.s.abs(rel))
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if !isTemp(e.Name()) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (v *verifier) checkTrees() error {
	for _, kind := range []index.Kind{index.KindSoftware, index.KindConfiguration} {
		top, _ := treeDir(kind)
		names, err := v.readDir(top)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("storage: verify: %w", err)
		}
		for _, n := range names {
			p := path.Join(top, n.Name())
			if !n.IsDir() {
				v.add(ProblemUnknownFile, p, "", "not a folder; "+top+"/ holds one folder per "+string(kind), "move or remove it")
				continue
			}
			if err := index.CheckName(string(kind)+" name", n.Name()); err != nil {
				v.add(ProblemBadName, p, "", err.Error(), "rename or remove it")
				continue
			}
			versions, err := v.readDir(p)
			if err != nil {
				return fmt.Errorf("storage: verify: %w", err)
			}
			v.checkCollisions(kind, n.Name(), p)
			for _, ver := range versions {
				vp := path.Join(p, ver.Name())
				if !ver.IsDir() {
					v.add(ProblemUnknownFile, vp, "", "not a folder; "+p+"/ holds one folder per version", "move or remove it")
					continue
				}
				if err := index.CheckName("version", ver.Name()); err != nil {
					v.add(ProblemBadName, vp, "", err.Error(), "rename or remove it")
					continue
				}
				if err := v.checkVersion(kind, n.Name(), ver.Name(), vp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkCollisions reports the published versions of <kind>/<name> (the
// folders holding an archive) that collide with another one
// (version.CheckCollision): FECs and operators would take them for the same
// version, and retention cannot order them.
func (v *verifier) checkCollisions(kind index.Kind, name, dir string) {
	published, err := v.s.publishedVersions(kind, name)
	if err != nil {
		return // the version loop reports what cannot be read
	}
	for _, ver := range published {
		var ce *version.CollisionError
		if errors.As(version.CheckCollision(ver, published), &ce) {
			v.add(ProblemVersionCollide, path.Join(dir, ver), "",
				fmt.Sprintf("version %s collides with %s: both read as the same version", ver, strings.Join(ce.Existing, ", ")),
				"keep one: switch the FECs that use the other (fecctl who-uses, fecctl switch), then remove its folder by hand")
		}
	}
}

func (v *verifier) checkVersion(kind index.Kind, name, version, dir string) error {
	files, err := v.readDir(dir)
	if err != nil {
		return fmt.Errorf("storage: verify: %w", err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[f.Name()] = true
	}
	for _, f := range files {
		if err := v.ctx.Err(); err != nil {
			return err
		}
		fp := path.Join(dir, f.Name())
		if archive, ok := strings.CutSuffix(f.Name(), ChecksumSuffix); ok {
			if !have[archive] {
				v.add(ProblemUnknownFile, fp, "", "checksum of an archive that does not exist", "remove it")
			}
			continue
		}
		an, ok := parseArchiveFileName(kind, name, version, f.Name())
		if !ok || !f.Type().IsRegular() {
			want, _ := ArchiveFileName(kind, name, version, map[index.Kind]string{index.KindSoftware: "<arch>"}[kind], index.FormatZstd)
			v.add(ProblemUnknownFile, fp, "", "not an archive named like "+strings.Replace(want, ".zst", ".<zst|gz|xz>", 1),
				"remove it, or publish it properly")
			continue
		}
		v.r.Archives++
		format, err := detectFileFormat(v.s.abs(fp))
		if err != nil || format != an.format {
			v.add(ProblemBadArchive, fp, "", fmt.Sprintf("its name says %s, its content is not (%v)", an.format, errOr(err, string(format))),
				"republish the archive")
		}
		real, err := v.realHash(fp)
		if err != nil {
			return fmt.Errorf("storage: verify: hashing %s: %w", fp, err)
		}
		side, ok := readChecksum(v.s.abs(fp))
		switch {
		case !ok:
			v.add(ProblemMissingChecksum, fp+ChecksumSuffix, "", "missing or unreadable checksum sidecar; reindex hashes the archive every time",
				"run Clean (fecctl verify --clean), or republish the same bytes")
		case side != real:
			v.add(ProblemHashMismatch, fp, "", fmt.Sprintf("content has sha256 %s, published as %s: the archive changed after publishing", real, side),
				"republish the version (FECs verify the hash and will refuse it)")
		}
		if err == nil && format == an.format {
			if err := v.checkContent(fp, "", real, format); err != nil {
				return err
			}
		}
	}
	return nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return "it is " + s
}

// knownInFEC are the names a FEC folder may hold.
var knownInFEC = map[string]bool{
	FECConfName: true, index.FileName: true, index.SigFileName: true,
	InitDir: true, SoftwareDir: true, ConfigDir: true, DataDir: true,
	"monitor": true, // stage 2: icinga monitoring definitions
}

func (v *verifier) checkFECs() error {
	ents, err := v.readDir(FECsDir)
	if err != nil {
		return fmt.Errorf("storage: verify: %w", err)
	}
	for _, e := range ents {
		p := path.Join(FECsDir, e.Name())
		if e.Name() == GlobalDir {
			if err := v.checkGlobal(p); err != nil {
				return err
			}
			continue
		}
		if !e.IsDir() {
			v.add(ProblemUnknownFile, p, "", "not a folder; fecs/ holds one folder per FEC", "move or remove it")
			continue
		}
		if err := index.CheckFECName(e.Name()); err != nil {
			v.add(ProblemBadName, p, "", err.Error(), "rename or remove it")
			continue
		}
		if err := v.checkFEC(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) checkGlobal(dir string) error {
	ents, err := v.readDir(dir)
	if err != nil {
		return fmt.Errorf("storage: verify: %w", err)
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if err := index.CheckName("script name", e.Name()); err != nil {
			v.add(ProblemBadName, p, "", err.Error(), "rename or remove it")
			continue
		}
		if _, _, err := v.s.resolve(p); err != nil {
			v.add(ProblemDanglingLink, p, "", err.Error(), "fix or remove the link")
		}
	}
	return nil
}

func (v *verifier) checkFEC(fec string) error {
	dir, _ := pathFor(fecPathSpec{fec})
	v.r.FECs++
	c, err := v.s.readFECConf(fec)
	if err != nil {
		if errors.Is(err, ErrUnknownFEC) {
			v.add(ProblemUnknownFile, dir, fec, "folder without "+FECConfName+": not a FEC", "add the FEC (fecctl add-fec) or remove the folder")
		} else {
			v.add(ProblemBadConfig, path.Join(dir, FECConfName), fec, err.Error(), "fix fec.conf (keys arch= and decoders=)")
		}
		return nil
	}
	ents, err := v.readDir(dir)
	if err != nil {
		return fmt.Errorf("storage: verify: %w", err)
	}
	for _, e := range ents {
		if !knownInFEC[e.Name()] {
			v.add(ProblemUnknownFile, path.Join(dir, e.Name()), fec, "the layout has no place for it in a FEC folder", "move or remove it")
		}
	}
	v.checkMonitor(fec)
	// Every entry on its own, so that all problems are reported.
	broken := false
	cache := newHashCache()
	for _, kind := range index.Kinds {
		kdir, _ := pathFor(fecKindPathSpec{fec, kind})
		files, err := v.readDir(kdir)
		if err != nil {
			continue
		}
		for _, f := range files {
			v.r.Entries++
			p := path.Join(kdir, f.Name())
			name := f.Name()
			if kind == index.KindData && isDataAux(name, f.IsDir()) {
				v.r.Entries--
				continue // the declaration and the generation folders (persistdata.go)
			}
			if kind == index.KindData {
				stem, _, ok := index.SplitExtension(name)
				if !ok {
					v.add(ProblemBadName, p, fec, "persistent data must be named <name>.tar.<zst|gz|xz>", "rename or remove it")
					broken = true
					continue
				}
				name = stem
			}
			if err := index.CheckName(string(kind)+" name", name); err != nil {
				v.add(ProblemBadName, p, fec, err.Error(), "rename or remove it")
				broken = true
				continue
			}
			if _, err := v.s.entry(fec, c, kind, name, p, cache); err != nil {
				broken = true
				switch {
				case errors.Is(err, ErrBrokenLink):
					v.add(ProblemDanglingLink, p, fec, err.Error(), "relink it (fecctl link) or unlink it, then reindex")
				case errors.Is(err, ErrArchMismatch):
					v.add(ProblemArchMismatch, p, fec, err.Error(), "link a build for the FEC's architecture")
				case errors.Is(err, ErrNoDecoder):
					v.add(ProblemNoDecoder, p, fec, err.Error(), "republish as gzip and relink, or add the decoder to fec.conf")
				case errors.Is(err, index.ErrUnknownFormat):
					v.add(ProblemBadArchive, p, fec, err.Error(), "replace it with a zstd, gzip or xz compressed tar")
				default:
					return fmt.Errorf("storage: verify: %w", err)
				}
			}
		}
	}
	return v.checkIndex(fec, c, broken, cache)
}

func (v *verifier) checkIndex(fec string, c FECConfig, broken bool, cache *hashCache) error {
	ipath, _ := pathFor(fecIndexPathSpec{fec})
	data, err := os.ReadFile(v.s.abs(ipath))
	if errors.Is(err, os.ErrNotExist) {
		v.add(ProblemMissingIndex, ipath, fec, "the FEC has no INDEX: it cannot boot", "reindex "+fec)
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: verify: %w", err)
	}
	ix, err := index.ParseBytes(data)
	if err != nil {
		v.add(ProblemBadIndex, ipath, fec, err.Error(), "reindex "+fec)
		return nil
	}
	current := ix.Entries // what the FEC boots; what its links say, when they can be resolved
	if !broken {
		want, err := v.s.buildIndexWith(fec, c, cache)
		if err == nil {
			want.Serial, want.Expires = ix.Serial, ix.Expires // freshness is no content
			current = want.Entries
			wb, err := want.Marshal()
			if err == nil && !bytes.Equal(wb, data) {
				v.add(ProblemStaleIndex, ipath, fec, "INDEX differs from what the FEC's folder says now (hand edit, or a writer killed before reindexing)",
					"reindex "+fec)
			}
		}
	}
	if !ix.Expires.IsZero() && ix.Expires.Sub(v.s.now()) < 24*time.Hour {
		v.add(ProblemExpiring, ipath, fec, fmt.Sprintf("INDEX expires at %s: FECs with a sane clock refuse it from then on",
			ix.Expires.UTC().Format(time.RFC3339)), "fecctl resign "+fec+" (and check that the fecdeploy-resign.timer runs)")
	}
	for _, p := range instanceProblems(fec, current) {
		v.add(p.Kind, p.Path, p.FEC, p.Message, p.Fix)
	}
	for _, e := range ix.Entries {
		target, fi, err := v.s.resolve(e.Path)
		switch {
		case err != nil:
			v.add(ProblemMissingArchive, ipath, fec, fmt.Sprintf("names %s, which does not exist", e.Path), "reindex "+fec+" (after relinking, if the version was removed)")
			continue
		case !fi.Mode().IsRegular():
			v.add(ProblemMissingArchive, ipath, fec, fmt.Sprintf("names %s, which is not a file", e.Path), "reindex "+fec)
			continue
		case fi.Size() != e.Size:
			v.add(ProblemSizeMismatch, ipath, fec, fmt.Sprintf("says %s has %d bytes, it has %d", e.Path, e.Size, fi.Size()), "reindex "+fec)
			continue
		}
		real, err := v.realHash(target)
		if err != nil {
			return fmt.Errorf("storage: verify: hashing %s: %w", target, err)
		}
		if real != e.SHA256 {
			v.add(ProblemHashMismatch, ipath, fec, fmt.Sprintf("says %s has sha256 %s, it has %s", e.Path, e.SHA256, real),
				"reindex "+fec+"; if the archive was changed after publishing, republish it")
		} else if e.Kind.IsArchive() {
			// Published archives were checked with their tree; this
			// catches the files placed in a FEC folder (configuration,
			// persistent data).
			if err := v.checkContent(target, fec, real, e.Format); err != nil {
				return err
			}
		}
	}
	if key := v.s.signingKey(); key != nil {
		spath, _ := pathFor(fecSigPathSpec{fec})
		sig, err := os.ReadFile(v.s.abs(spath))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage: verify: %w", err)
		}
		if err := index.VerifySignature(data, sig, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
			v.add(ProblemBadSignature, spath, fec, err.Error(), "reindex "+fec+" with the signing key")
		}
	}
	return nil
}
