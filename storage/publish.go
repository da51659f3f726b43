package storage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/version"
)

// PublishRequest describes an archive to publish.
type PublishRequest struct {
	Kind index.Kind // index.KindSoftware or index.KindConfiguration
	Name string
	// Version is a strict semantic version or dev (version.Parse; the zero
	// Version is refused). dev is mutable; every other version is immutable
	// once published, and one that collides with a published version of the
	// same name (5.1.0-RC.1 next to 5.1.0-rc.1, a hand-made v1.2.3 next to
	// 1.2.3) is refused with version.ErrCollides.
	Version version.Version
	// Arch is the architecture the software was built for ("noarch" for
	// arch-independent content). Required for software; must be "" for
	// configuration.
	Arch string
	// Body is an already compressed tar (zstd, gzip or xz); the format is
	// detected from its magic bytes. It is streamed, never held in memory.
	Body io.Reader
	// Force replaces a published productive version with different bytes
	// (logged as a warning). FECs that installed the old bytes keep them
	// until their INDEX tells them the new sha256.
	Force bool
	// Logger overrides the storage's logger for this call (nil = use it).
	Logger *slog.Logger
}

// Published is the outcome of Publish.
type Published struct {
	Path      string // base-relative, slash-separated
	SHA256    string // lowercase hex
	Size      int64
	Format    index.Format // zstd, gzip or xz
	Unchanged bool         // the same bytes were already published: nothing was written
}

// detectFileFormat reads the magic bytes of a file.
func detectFileFormat(p string) (index.Format, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, index.MagicLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	format, ok := index.FormatOf(head[:n])
	if !ok {
		return "", fmt.Errorf("%w: %s starts with % x", index.ErrUnknownFormat, p, head[:n])
	}
	return format, nil
}

func (r *PublishRequest) check() error {
	if !r.Version.IsValid() {
		return fmt.Errorf("%w: %w: %s %s: no version given (parse it with version.Parse)", ErrBadRequest, version.ErrInvalid, r.Kind, r.Name)
	}
	switch r.Kind {
	case index.KindSoftware:
		if r.Arch == "" {
			return fmt.Errorf("%w: software %s %s: no architecture given (use %q for arch-independent content)", ErrBadRequest, r.Name, r.Version, index.NoArch)
		}
		if err := index.CheckName("architecture", r.Arch); err != nil {
			return err
		}
	case index.KindConfiguration:
		if r.Arch == index.NoArch {
			r.Arch = ""
		}
		if r.Arch != "" {
			return fmt.Errorf("%w: configuration %s %s: configuration archives have no architecture (got %q)", ErrBadRequest, r.Name, r.Version, r.Arch)
		}
	default:
		return fmt.Errorf("%w: kind %q cannot be published (want software or configuration)", ErrBadRequest, r.Kind)
	}
	if _, err := pathFor(versionPathSpec{r.Kind, r.Name, r.Version.String()}); err != nil {
		return err
	}
	if r.Body == nil {
		return fmt.Errorf("%w: no body", ErrBadRequest)
	}
	return nil
}

// Publish stores a compressed tar under
// <kind>/<name>/<version>/<name>-<version>[-<arch>].tar.<ext>, atomically and
// durably, with a <archive>.sha256 sidecar. The body is streamed into a
// temporary file next to the final name without holding the storage lock
// (a slow upload does not block other writers); the lock is taken for the
// final check and rename.
//
// A productive version is immutable: the same bytes again give
// Unchanged=true and write nothing; different bytes give ErrImmutable unless
// Force. Version "dev" is replaced. The same version may be published in
// several formats (e.g. zstd for Go clients, gzip for busybox FECs) and, for
// software, architectures: those are different files. FEC indexes that name
// a replaced file are regenerated.
func (s *Storage) Publish(ctx context.Context, req PublishRequest) (pub Published, err error) {
	log := req.Logger
	if log == nil {
		log = s.logger()
	}
	if err := req.check(); err != nil {
		return Published{}, err
	}
	ver := req.Version.String()
	what := fmt.Sprintf("%s %s %s", req.Kind, req.Name, ver)
	if req.Arch != "" {
		what += " (" + req.Arch + ")"
	}
	br := bufio.NewReaderSize(ctxReader{ctx, req.Body}, 256<<10)
	head, err := br.Peek(index.MagicLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return Published{}, fmt.Errorf("storage: publishing %s: reading the archive: %w", what, err)
	}
	format, ok := index.FormatOf(head)
	if !ok {
		return Published{}, fmt.Errorf("%w: publishing %s: the body starts with % x; publish a tar compressed with zstd, gzip or xz", index.ErrUnknownFormat, what, head)
	}
	rel, err := pathFor(archivePathSpec{kind: req.Kind, name: req.Name, version: ver, arch: req.Arch, format: format})
	if err != nil {
		return Published{}, err
	}
	final := s.abs(rel)
	dir, file := filepath.Dir(final), filepath.Base(final)
	pub = Published{Path: rel, Format: format}
	// Checked again under the lock; this early check only spares a
	// refused upload.
	if err := s.checkCollision(req.Kind, req.Name, ver); err != nil {
		return Published{}, fmt.Errorf("storage: publishing %s: %w", what, err)
	}

	created, err := mkdirs(s.base, dir)
	if err != nil {
		removeEmpty(created)
		return Published{}, fmt.Errorf("storage: publishing %s: creating %s: %w", what, dir, err)
	}
	tmp, err := createTemp(dir, file)
	if err != nil {
		removeEmpty(created)
		return Published{}, fmt.Errorf("storage: publishing %s: %w", what, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Abort()
			removeEmpty(created)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), br)
	if err != nil {
		return Published{}, fmt.Errorf("storage: publishing %s: writing %s (%d bytes written; nothing was published): %w", what, dir, n, err)
	}
	if err := tmp.Sync(); err != nil {
		return Published{}, fmt.Errorf("storage: publishing %s: syncing %s (nothing was published): %w", what, tmp.Name(), err)
	}
	pub.Size, pub.SHA256 = n, hex.EncodeToString(h.Sum(nil))

	err = s.locked(ctx, func() error {
		// Under the lock: two colliding versions published at the same
		// moment cannot both pass.
		if err := s.checkCollision(req.Kind, req.Name, ver); err != nil {
			return fmt.Errorf("storage: publishing %s: %w", what, err)
		}
		st, err := os.Lstat(final)
		replaced := false
		switch {
		case err == nil && !st.Mode().IsRegular():
			return fmt.Errorf("%w: publishing %s: %s exists and is not a regular file; remove it by hand", ErrExists, what, rel)
		case err == nil:
			same := st.Size() == pub.Size
			if same {
				sum, err := hashFile(final)
				if err != nil {
					return fmt.Errorf("storage: publishing %s: hashing the published %s: %w", what, rel, err)
				}
				same = sum == pub.SHA256
			}
			if same {
				pub.Unchanged = true
				// Repair a missing or wrong sidecar; the bytes stay.
				if sum, ok := readChecksum(final); !ok || sum != pub.SHA256 {
					if err := writeChecksum(final, pub.SHA256); err != nil {
						return fmt.Errorf("storage: publishing %s: writing the checksum: %w", what, err)
					}
				}
				log.Info("already published, unchanged", "path", rel, "sha256", pub.SHA256)
				return nil
			}
			if !req.Version.IsDev() && !req.Force {
				return fmt.Errorf("%w: %s is already published as %s with different content; publish a new version (or force, and FECs that installed it will not notice until they reinstall)",
					ErrImmutable, what, rel)
			}
			if !req.Version.IsDev() {
				log.Warn("forced: replacing a published productive version", "path", rel, "sha256", pub.SHA256)
			}
			replaced = true
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("storage: publishing %s: %w", what, err)
		}
		// The sidecar goes first so that a crash between the steps leaves
		// no sidecar (the next reindex hashes) rather than a wrong one.
		if err := removeDurably(dir, file+ChecksumSuffix); err != nil {
			return fmt.Errorf("storage: publishing %s: removing the old checksum: %w", what, err)
		}
		if err := tmp.Commit(file, 0o644); err != nil {
			return fmt.Errorf("storage: publishing %s: renaming into place: %w", what, err)
		}
		committed = true
		if err := writeChecksum(final, pub.SHA256); err != nil {
			return fmt.Errorf("storage: publishing %s: writing the checksum (the archive is published; reindex still works): %w", what, err)
		}
		log.Info("published", "path", rel, "sha256", pub.SHA256, "size", pub.Size, "format", format)
		if !replaced {
			return nil
		}
		users, err := s.fecsUsing(ctx, rel)
		if err != nil {
			return err
		}
		return s.reindexLocked(ctx, users)
	})
	if err != nil {
		return Published{}, err
	}
	return pub, nil
}

// checkCollision refuses version ver of <kind>/<name> when it collides
// (version.CheckCollision) with another published version of that name.
func (s *Storage) checkCollision(kind index.Kind, name, ver string) error {
	existing, err := s.publishedVersions(kind, name)
	if err != nil {
		return err
	}
	return version.CheckCollision(ver, existing)
}

// publishedVersions lists the version folders of <kind>/<name> that hold an
// archive. A folder holding none (a publish still streaming its body, one
// whose publisher was killed) is no version yet.
func (s *Storage) publishedVersions(kind index.Kind, name string) ([]string, error) {
	top, err := pathFor(treePathSpec{kind, name})
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.abs(top))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: listing versions of %s %s: %w", kind, name, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && s.holdsArchive(kind, name, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// holdsArchive reports whether <kind>/<name>/<ver>/ holds an archive of that
// version.
func (s *Storage) holdsArchive(kind index.Kind, name, ver string) bool {
	dir, err := pathFor(versionPathSpec{kind, name, ver})
	if err != nil {
		return false
	}
	files, err := os.ReadDir(s.abs(dir))
	if err != nil {
		return false
	}
	for _, f := range files {
		if _, ok := parseArchiveFileName(kind, name, ver, f.Name()); ok && f.Type().IsRegular() {
			return true
		}
	}
	return false
}

// fecsUsing lists the FECs with an entry resolving to the base-relative path
// rel (or into it, when rel is a directory).
func (s *Storage) fecsUsing(ctx context.Context, rel string) ([]string, error) {
	links, err := s.Links(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var fecs []string
	for _, l := range links {
		if l.Target != "" && l.FEC != GlobalDir && isWithin(l.Target, rel) && !seen[l.FEC] {
			seen[l.FEC] = true
			fecs = append(fecs, l.FEC)
		}
	}
	// FECs that use a global script through their init links.
	if strings.HasPrefix(rel, FECsDir+"/"+GlobalDir+"/") {
		for _, l := range links {
			if l.FEC == GlobalDir && l.Target != "" && isWithin(l.Target, rel) {
				more, err := s.fecsUsing(ctx, l.Path)
				if err != nil {
					return nil, err
				}
				for _, f := range more {
					if !seen[f] {
						seen[f] = true
						fecs = append(fecs, f)
					}
				}
			}
		}
	}
	return fecs, nil
}

// isWithin reports whether the slash path p is dir or lies below it.
func isWithin(p, dir string) bool {
	return p == dir || dir == "" || strings.HasPrefix(p, dir+"/")
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readChecksum reads the sidecar of an archive ("<hex>  <file>\n", the
// sha256sum format, so `sha256sum -c` checks it).
func readChecksum(archive string) (string, bool) {
	b, err := os.ReadFile(archive + ChecksumSuffix)
	if err != nil || len(b) > 1024 {
		return "", false
	}
	sum, rest, _ := strings.Cut(string(b), " ")
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return "", false
	}
	if strings.TrimSpace(strings.TrimPrefix(rest, " ")) != filepath.Base(archive) {
		return "", false
	}
	return sum, true
}

func writeChecksum(archive, sum string) error {
	return writeFileAtomic(filepath.Dir(archive), filepath.Base(archive)+ChecksumSuffix, 0o644,
		[]byte(sum+"  "+path.Base(filepath.ToSlash(archive))+"\n"))
}
