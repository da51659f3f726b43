package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fair-acc/fecdeploy/index"
)

// hashCache remembers sha256 sums (and formats) by base-relative path for
// the duration of one reindex, so that an archive linked by a thousand FECs
// is looked at once.
//
// It also caches lstat and readlink results by base-relative path for
// resolveWith; a nil *hashCache caches nothing.
type hashCache struct {
	mu    sync.Mutex
	m     map[string]cachedFile
	stats map[string]statResult
}

type statResult struct {
	fi   os.FileInfo
	link string
}

func (c *hashCache) lstat(s *Storage, rel string) (os.FileInfo, error) {
	if c == nil {
		return os.Lstat(s.abs(rel))
	}
	c.mu.Lock()
	r, ok := c.stats[rel]
	c.mu.Unlock()
	if ok && r.fi != nil {
		return r.fi, nil
	}
	fi, err := os.Lstat(s.abs(rel))
	if err != nil {
		return nil, err // errors are not cached
	}
	c.mu.Lock()
	r = c.stats[rel]
	r.fi = fi
	c.stats[rel] = r
	c.mu.Unlock()
	return fi, nil
}

// seedSymlink records that rel is a symlink, as a directory listing said,
// so that resolving it needs no lstat.
func (c *hashCache) seedSymlink(rel, name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	r := c.stats[rel]
	r.fi = symlinkInfo(name)
	c.stats[rel] = r
	c.mu.Unlock()
}

// symlinkInfo is the os.FileInfo of a symlink known from a directory listing.
type symlinkInfo string

func (n symlinkInfo) Name() string     { return string(n) }
func (symlinkInfo) Size() int64        { return 0 }
func (symlinkInfo) Mode() os.FileMode  { return os.ModeSymlink | 0o777 }
func (symlinkInfo) ModTime() time.Time { return time.Time{} }
func (symlinkInfo) IsDir() bool        { return false }
func (symlinkInfo) Sys() any           { return nil }

func (c *hashCache) readlink(s *Storage, rel string) (string, error) {
	if c == nil {
		return os.Readlink(s.abs(rel))
	}
	c.mu.Lock()
	r, ok := c.stats[rel]
	c.mu.Unlock()
	if ok && r.link != "" {
		return r.link, nil
	}
	t, err := os.Readlink(s.abs(rel))
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	r = c.stats[rel]
	r.link = t
	c.stats[rel] = r
	c.mu.Unlock()
	return t, nil
}

type cachedFile struct {
	sum    string
	format index.Format
}

func newHashCache() *hashCache {
	return &hashCache{m: map[string]cachedFile{}, stats: map[string]statResult{}}
}

func (c *hashCache) get(p string) (cachedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[p]
	return v, ok
}

func (c *hashCache) put(p string, v cachedFile) {
	c.mu.Lock()
	c.m[p] = v
	c.mu.Unlock()
}

// BuildIndex computes the INDEX a FEC should have now, from its folder: it
// resolves every entry by path, takes sizes from the files and sha256 sums
// from the .sha256 sidecars written at publish (hashing files that have
// none). It only reads. A broken link (ErrBrokenLink), an archive for
// another architecture (ErrArchMismatch) or in a format the FEC cannot
// decode (ErrNoDecoder) is an error: no INDEX is built for such a FEC.
func (s *Storage) BuildIndex(ctx context.Context, fec string) (*index.Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return nil, err
	}
	return s.buildIndexWith(fec, c, newHashCache())
}

func (s *Storage) buildIndexWith(fec string, c FECConfig, cache *hashCache) (*index.Index, error) {
	ix := &index.Index{FEC: fec, Arch: c.Arch}
	for _, kind := range index.Kinds {
		dirRel, err := pathFor(fecKindPathSpec{fec, kind})
		if err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(s.abs(dirRel))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("storage: FEC %s: %w", fec, err)
		}
		for _, de := range ents {
			file := de.Name()
			if strings.HasPrefix(file, ".") || (kind == index.KindData && isDataAux(file, de.IsDir())) {
				continue // temporary files, hidden files; the data declaration and generations
			}
			rel := path.Join(dirRel, file)
			if de.Type()&os.ModeSymlink != 0 {
				cache.seedSymlink(rel, file)
			}
			name := file
			if kind == index.KindData {
				stem, _, ok := index.SplitExtension(file)
				if !ok {
					return nil, fmt.Errorf("%w: FEC %s: %s is not named <name>.tar.<zst|gz|xz>; rename or remove it", ErrBadRequest, fec, rel)
				}
				name = stem
			}
			if err := index.CheckName(string(kind)+" name", name); err != nil {
				return nil, fmt.Errorf("storage: FEC %s: %s: %w", fec, rel, err)
			}
			e, err := s.entry(fec, c, kind, name, rel, cache)
			if err != nil {
				return nil, err
			}
			ix.Entries = append(ix.Entries, e)
		}
	}
	ix.Sort()
	if err := ix.Validate(); err != nil {
		return nil, fmt.Errorf("storage: FEC %s: %w", fec, err)
	}
	return ix, nil
}

// entry builds the INDEX entry of the base-relative rel in a FEC's folder.
func (s *Storage) entry(fec string, c FECConfig, kind index.Kind, name, rel string, cache *hashCache) (index.Entry, error) {
	target, fi, err := s.resolveWith(rel, cache)
	if err != nil {
		return index.Entry{}, fmt.Errorf("storage: FEC %s: %w (fix or remove the link, then reindex)", fec, err)
	}
	if !fi.Mode().IsRegular() {
		return index.Entry{}, fmt.Errorf("%w: FEC %s: %s resolves to %s, which is a %s, not a file", ErrBrokenLink, fec, rel, target, describeMode(fi.Mode()))
	}
	e := index.Entry{Kind: kind, Name: name, Path: target, Size: fi.Size()}
	loc, inTree := locateInTree(target)
	var an archiveName
	parsed := false
	if inTree && loc.version != "" {
		e.Version = loc.version
		e.Dev = loc.version == index.DevVersion
		an, parsed = parseArchiveFileName(loc.kind, loc.name, loc.version, loc.file)
	}
	cf, ok := cache.get(target)
	if !ok {
		if parsed {
			cf.format = an.format
		} else if kind.IsArchive() {
			if cf.format, err = detectFileFormat(s.abs(target)); err != nil {
				return index.Entry{}, fmt.Errorf("storage: FEC %s: %s -> %s: %w", fec, rel, target, err)
			}
		}
		if sum, ok := readChecksum(s.abs(target)); ok && parsed {
			cf.sum = sum // sidecars are trusted only for published archives
		} else if cf.sum, err = hashFile(s.abs(target)); err != nil {
			return index.Entry{}, fmt.Errorf("storage: FEC %s: hashing %s: %w", fec, target, err)
		}
		cache.put(target, cf)
	}
	e.SHA256 = cf.sum
	if kind.IsArchive() {
		e.Format = cf.format
		if parsed && loc.kind == index.KindSoftware && an.arch != index.NoArch && an.arch != c.Arch {
			return index.Entry{}, fmt.Errorf("%w: FEC %s is %s but %s links %s, built for %s: link a %s or %s build",
				ErrArchMismatch, fec, c.Arch, rel, target, an.arch, c.Arch, index.NoArch)
		}
		if !c.CanDecode(e.Format) {
			return index.Entry{}, fmt.Errorf("%w: FEC %s cannot decompress %s (%s; decoders=%s): republish it as gzip (or xz) and relink",
				ErrNoDecoder, fec, target, e.Format, strings.Join(c.Decoders, ","))
		}
	} else {
		e.Version, e.Dev = "", false
	}
	return e, nil
}

// Reindex regenerates the INDEX (and INDEX.sig when a signing key is set)
// of the given FECs, or of every FEC when none are given. It takes the
// storage lock. A FEC whose index cannot be built keeps its old INDEX; the
// errors of all such FECs are joined, the others are still reindexed.
func (s *Storage) Reindex(ctx context.Context, fecs ...string) error {
	return s.locked(ctx, func() error {
		if len(fecs) == 0 {
			all, err := s.FECs(ctx)
			if err != nil {
				return err
			}
			fecs = all
		}
		return s.reindexLocked(ctx, fecs)
	})
}

// reindexLocked is Reindex with the lock held. Files are only rewritten
// when their content changes, or, when signed, when less than half of the
// INDEX's lifetime is left.
func (s *Storage) reindexLocked(ctx context.Context, fecs []string) error {
	return s.reindexWith(ctx, fecs, false)
}

// reindexWith is reindexLocked; force gives every signed INDEX a new serial
// and expiry (Resign).
func (s *Storage) reindexWith(ctx context.Context, fecs []string, force bool) error {
	seen := make(map[string]bool, len(fecs))
	uniq := fecs[:0:0]
	for _, f := range fecs {
		if !seen[f] {
			seen[f] = true
			uniq = append(uniq, f)
		}
	}
	fecs = uniq
	if len(fecs) == 0 {
		return nil
	}
	cache := newHashCache()
	key := s.signingKey()
	issuer := &serialIssuer{s: s}
	var issueMu sync.Mutex
	nextSerial := func() (uint64, error) {
		issueMu.Lock()
		defer issueMu.Unlock()
		return issuer.next()
	}
	errs := make([]error, len(fecs))
	work := make(chan int)
	var wg sync.WaitGroup
	// I/O-bound (lstat, readlink, two fsyncs per written INDEX): more
	// workers than cores let the filesystem batch the fsyncs.
	workers := min(len(fecs), 32)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = s.writeIndex(fecs[i], cache, key, nextSerial, force)
			}
		}()
	}
	for i := range fecs {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Storage) writeIndex(fec string, cache *hashCache, key ed25519.PrivateKey, nextSerial func() (uint64, error), force bool) error {
	c, err := s.readFECConf(fec)
	if err != nil {
		return err
	}
	ix, err := s.buildIndexWith(fec, c, cache)
	if err != nil {
		return err
	}
	dir, _ := s.absFor(fecPathSpec{fec})
	old, err := os.ReadFile(filepath.Join(dir, index.FileName))
	// The content is compared with the freshness fields of the old INDEX:
	// a new serial alone is no change.
	if err == nil {
		if oix, perr := index.ParseBytes(old); perr == nil {
			ix.Serial, ix.Expires = oix.Serial, oix.Expires
		}
	}
	data, err := ix.Marshal()
	if err != nil {
		return fmt.Errorf("storage: FEC %s: %w", fec, err)
	}
	changed := old == nil || !bytes.Equal(old, data)
	if key != nil {
		now := s.now()
		stale := ix.Serial == 0 || ix.Expires.IsZero() || ix.Expires.Sub(now) < s.indexLifetime()/2
		if changed || stale || force {
			serial, err := nextSerial()
			if err != nil {
				return fmt.Errorf("storage: FEC %s: %w", fec, err)
			}
			ix.Serial, ix.Expires = serial, now.Add(s.indexLifetime()).Truncate(time.Second)
			if data, err = ix.Marshal(); err != nil {
				return fmt.Errorf("storage: FEC %s: %w", fec, err)
			}
			changed = true
		}
	}
	if key == nil {
		// A FEC that trusts a key refuses an unsigned INDEX: rewriting a
		// signed one without the key would stop it from booting. Refuse;
		// stopping to sign is a deliberate Unsign.
		if _, err := os.Stat(filepath.Join(dir, index.SigFileName)); err == nil && changed {
			return fmt.Errorf("%w: FEC %s: its INDEX is signed and would change; give the signing key "+
				"(-sign-key FILE, $FECDEPLOY_SIGNING_KEY or /etc/fecdeploy/signing.key), or stop signing deliberately with fecctl unsign",
				ErrSigningKey, fec)
		}
	}
	if changed {
		if err := writeFileAtomic(dir, index.FileName, 0o644, data); err != nil {
			return fmt.Errorf("storage: FEC %s: writing INDEX: %w", fec, err)
		}
		s.logger().Info("wrote INDEX", "fec", fec, "entries", len(ix.Entries))
	}
	if key == nil {
		return nil // unsigned, or signed and unchanged: the signature still matches
	}
	sig := index.Sign(key, data) // ed25519 signatures are deterministic
	if old, err := os.ReadFile(filepath.Join(dir, index.SigFileName)); err != nil || !bytes.Equal(old, sig) {
		if err := writeFileAtomic(dir, index.SigFileName, 0o644, sig); err != nil {
			return fmt.Errorf("storage: FEC %s: writing INDEX.sig: %w", fec, err)
		}
	}
	return nil
}

// Unsign removes INDEX.sig of the given FECs (or of all), deliberately: FECs
// configured with a public key refuse to boot from an unsigned INDEX, so
// remove their keys first. It returns the base-relative paths removed.
func (s *Storage) Unsign(ctx context.Context, fecs ...string) ([]string, error) {
	var removed []string
	err := s.locked(ctx, func() error {
		if len(fecs) == 0 {
			all, err := s.FECs(ctx)
			if err != nil {
				return err
			}
			fecs = all
		}
		for _, fec := range fecs {
			if _, err := s.readFECConf(fec); err != nil {
				return err
			}
			dir, _ := s.absFor(fecPathSpec{fec})
			if _, err := os.Stat(filepath.Join(dir, index.SigFileName)); err != nil {
				continue
			}
			if err := removeDurably(dir, index.SigFileName); err != nil {
				return fmt.Errorf("storage: FEC %s: removing INDEX.sig: %w", fec, err)
			}
			rel, _ := SignaturePath(fec)
			removed = append(removed, rel)
			s.logger().Warn("removed INDEX.sig", "fec", fec)
		}
		return nil
	})
	return removed, err
}
