package archive

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fair-acc/fecdeploy/index"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/mikelolasagasti/xz"
)

// Defaults of UnpackOptions.
const (
	DefaultMaxBytes   int64 = 8 << 30
	DefaultMaxEntries       = 200_000
)

// StagingPrefix starts the name of the staging directories Stage creates
// inside each allowed root. Leftovers (after a power cut) can be removed.
const StagingPrefix = ".fecdeploy-staging-"

const (
	maxTrailer    = 1 << 20   // zero padding accepted after the tar end marker
	maxRawTail    = 1 << 20   // compressed bytes drained after the compressed stream
	maxZstdWindow = 128 << 20 // refuse zstd frames needing more memory than zstd --long=27
)

// UnpackOptions configures Stage and Unpack.
type UnpackOptions struct {
	// AllowedRoots are directories relative to root, e.g. {"opt"}; every
	// entry must lie below one of them. Directory entries for their
	// ancestors ("opt/" for "opt/fesa") are accepted and ignored. Default
	// {"opt"}.
	AllowedRoots []string
	MaxBytes     int64        // total file bytes after decompression; default 8 GiB
	MaxEntries   int          // default 200,000
	Format       index.Format // "" = detect from magic bytes
}

// Result counts what an archive contained (below the allowed roots).
type Result struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // file content bytes
}

// Staged is an extracted archive waiting in staging directories next to its
// destination. Call Commit or Discard exactly once.
type Staged struct {
	rootPath string
	root     *os.Root
	areas    []*area
	dirs     []*stagedDir // parents before children
	items    []stagedItem // files and symlinks
	res      Result
	finished bool
	explicit []string  // entries below the allowed roots, as named in the archive (cleaned)
	newest   time.Time // the latest modification time of a regular file in the archive
}

// Tops returns the entries of the archive (below the allowed roots) whose
// parent directory is not an entry of it: what the archive covers, e.g.
// {"opt/fesa/data/Foo_DU"} for a persistent-data snapshot of that folder.
func (s *Staged) Tops() []string {
	have := make(map[string]bool, len(s.explicit))
	for _, n := range s.explicit {
		have[n] = true
	}
	var out []string
	for _, n := range s.explicit {
		if !have[path.Dir(n)] {
			out = append(out, n)
		}
	}
	return out
}

// NewestModTime is the latest modification time of a regular file in the
// archive (the zero time when it has none).
func (s *Staged) NewestModTime() time.Time { return s.newest }

// area is the staging directory of one allowed root.
type area struct {
	allowed string   // e.g. "opt/fesa"
	created []string // allowed-root directories Stage created, parents first
	stRel   string   // staging dir relative to root
	stPath  string   // staging dir as an OS path
	st      *os.Root
	// The directory files were last created in: archives are sorted, so
	// keeping it open saves resolving every path component per file.
	lastDir     string
	lastDirRoot *os.Root
}

// dir returns an os.Root for a staging directory (relative to the area),
// reusing the last one.
func (ar *area) dir(rel string) (*os.Root, error) {
	if rel == "." {
		return ar.st, nil
	}
	if ar.lastDirRoot != nil && ar.lastDir == rel {
		return ar.lastDirRoot, nil
	}
	ar.closeDir()
	d, err := ar.st.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	ar.lastDir, ar.lastDirRoot = rel, d
	return d, nil
}

func (ar *area) closeDir() {
	if ar.lastDirRoot != nil {
		ar.lastDirRoot.Close()
		ar.lastDirRoot = nil
	}
}

type stagedDir struct {
	name string // cleaned, relative to root
	mode fs.FileMode
}

type stagedItem struct {
	name string // cleaned, relative to root
	a    *area
	rel  string // relative to the area's allowed root
}

type kind uint8

const (
	kAncestor    kind = iota + 1 // a directory entry at or above an allowed root
	kImplicitDir                 // created as the parent of an entry
	kDir
	kFile
	kLink
)

// Stage extracts r into a staging directory next to the destination (same
// filesystem), applying every safety rule. It reads r to EOF, so a
// verify.Reader's size/sha256 error fails the stage. Nothing under root
// changes until Commit. On error the staging directory is already removed.
func Stage(ctx context.Context, r io.Reader, root string, opts UnpackOptions) (*Staged, error) {
	allowed, err := normalizeRoots(opts.AllowedRoots)
	if err != nil {
		return nil, err
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Format != "" && !opts.Format.Valid() {
		return nil, fmt.Errorf("%w: %q (use zstd, gzip or xz)", index.ErrUnknownFormat, opts.Format)
	}
	rootPath, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("archive: destination root: %w", err)
	}
	rt, err := os.OpenRoot(rootPath)
	if err != nil {
		return nil, fmt.Errorf("archive: destination root: %w", err)
	}
	s := &Staged{rootPath: rootPath, root: rt}
	src := &srcReader{ctx: ctx, r: r}
	x := &extractor{s: s, ctx: ctx, opts: opts, allowed: allowed, seen: map[string]kind{},
		links: map[string]string{}, dirIdx: map[string]*stagedDir{}, buf: make([]byte, 1<<20)}
	if err := x.run(src); err != nil {
		s.discard()
		// The caller's reader failing (a verify.Reader's size or hash
		// check, a network error) and cancellation explain the other
		// errors they cause.
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("archive: stage cancelled: %w", cerr)
		}
		if serr := src.failure(); serr != nil {
			return nil, fmt.Errorf("archive: reading the archive: %w", serr)
		}
		return nil, err
	}
	return s, nil
}

// Unpack is Stage followed by Commit.
func Unpack(ctx context.Context, r io.Reader, root string, opts UnpackOptions) (Result, error) {
	s, err := Stage(ctx, r, root, opts)
	if err != nil {
		return Result{}, err
	}
	return s.Commit()
}

func normalizeRoots(in []string) ([]string, error) {
	if len(in) == 0 {
		in = []string{"opt"}
	}
	var out []string
	for _, a := range in {
		c := path.Clean(strings.TrimSuffix(a, "/"))
		if a == "" || strings.HasPrefix(a, "/") || !filepath.IsLocal(c) || c == "." {
			return nil, fmt.Errorf("archive: allowed root %q must be a relative directory below the FEC root, e.g. \"opt\"", a)
		}
		out = append(out, c)
	}
	sort.Strings(out)
	// Drop roots below other roots: each entry then has one area.
	var res []string
	for _, a := range out {
		if len(res) > 0 && within(a, res[len(res)-1]) {
			continue
		}
		res = append(res, a)
	}
	return res, nil
}

// srcReader passes the caller's reader through, remembers its first error
// and stops on cancellation.
type srcReader struct {
	ctx context.Context
	r   io.Reader
	mu  sync.Mutex // decompressors may read from their own goroutine
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *srcReader) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// eofTracker notes a read that returned no data and io.EOF: the tar reader
// treats such an end at a header boundary as a clean end, but a complete
// archive ends with its two zero blocks before the data runs out.
//
// It also caps the whole decompressed stream: data the tar reader skips
// (bodies of non-file entries, PAX headers) is never written, but a small
// archive could still make us decompress terabytes of it.
type eofTracker struct {
	r       io.Reader
	bareEOF bool
	n, max  int64
	over    bool
}

func (e *eofTracker) Read(p []byte) (int, error) {
	if e.over {
		return 0, errStreamCap
	}
	n, err := e.r.Read(p)
	if n == 0 && err == io.EOF {
		e.bareEOF = true
	}
	e.n += int64(n)
	if e.n > e.max {
		e.over = true
		return 0, errStreamCap
	}
	return n, err
}

var errStreamCap = errors.New("decompressed stream exceeds its limit")

// streamCap is the decompressed size an archive within the limits can
// reach: file content plus generous room for headers and padding.
func streamCap(o UnpackOptions) int64 {
	return o.MaxBytes + int64(o.MaxEntries)*16<<10 + maxTrailer + 1<<20
}

func openDecompressor(f index.Format, r io.Reader) (io.ReadCloser, error) {
	switch f {
	case index.FormatZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case index.FormatGzip:
		return pgzip.NewReader(r)
	case index.FormatXz:
		x, err := xz.NewReader(r, 0)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(x), nil
	}
	return nil, fmt.Errorf("%w: %q", index.ErrUnknownFormat, f)
}

type extractor struct {
	s       *Staged
	ctx     context.Context
	opts    UnpackOptions
	allowed []string
	areas   map[string]*area
	seen    map[string]kind
	links   map[string]string // symlink entries: name -> target
	dirIdx  map[string]*stagedDir
	order   []string // symlink names in archive order
	entries int
	bytes   int64
	buf     []byte
	format  index.Format
	dr      *eofTracker
}

func (x *extractor) corrupt(err error) error {
	if errors.Is(err, errStreamCap) || x.dr != nil && x.dr.over {
		return fmt.Errorf("%w: the decompressed stream exceeds %d bytes (MaxBytes plus room for headers); raise MaxBytes if the archive is right", ErrTooLarge, streamCap(x.opts))
	}
	return fmt.Errorf("%w: %s stream: %v (truncated or damaged download? fetch it again)", ErrCorrupt, x.format, err)
}

func (x *extractor) run(src *srcReader) error {
	f, rd, err := index.Detect(src)
	if err != nil {
		return err
	}
	if x.opts.Format != "" && f != x.opts.Format {
		return fmt.Errorf("%w: the stream is %s but %s was expected", index.ErrUnknownFormat, f, x.opts.Format)
	}
	x.format = f
	dec, err := openDecompressor(f, rd)
	if err != nil {
		return x.corrupt(err)
	}
	defer dec.Close()
	dr := &eofTracker{r: dec, max: streamCap(x.opts)}
	x.dr = dr
	tr := tar.NewReader(dr)
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if dr.bareEOF {
				return x.corrupt(errors.New("the tar stream ends without its end-of-archive marker"))
			}
			break
		}
		if err != nil {
			return x.corrupt(err)
		}
		x.entries++
		if x.entries > x.opts.MaxEntries {
			return fmt.Errorf("%w: more than %d entries (at %q); raise MaxEntries if the archive is right", ErrTooManyEntries, x.opts.MaxEntries, hdr.Name)
		}
		if err := x.entry(tr, hdr); err != nil {
			return err
		}
	}
	if err := x.drain(dr, src); err != nil {
		return err
	}
	return x.checkLinks()
}

// drain reads what follows the tar end marker: zero padding up to a bound in
// the decompressed stream, then the compressed stream to its EOF, so that a
// verifying reader below sees the whole download.
func (x *extractor) drain(dr io.Reader, src io.Reader) error {
	var total int64
	for {
		n, err := dr.Read(x.buf)
		for _, b := range x.buf[:n] {
			if b != 0 {
				return x.corrupt(errors.New("data after the tar end-of-archive marker"))
			}
		}
		total += int64(n)
		if total > maxTrailer {
			return x.corrupt(fmt.Errorf("more than %d bytes of padding after the tar end", maxTrailer))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.corrupt(err)
		}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(src, maxRawTail+1))
	if err != nil {
		return x.corrupt(err)
	}
	if n > maxRawTail {
		return x.corrupt(fmt.Errorf("more than %d bytes after the end of the compressed stream", maxRawTail))
	}
	return nil
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
	case tar.TypeLink:
		return unsafeEntry(name, "hardlink to %q; hardlinks are refused (pack a copy or a symlink instead)", hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return unsafeEntry(name, "device node; only regular files, directories and symlinks are allowed")
	case tar.TypeFifo:
		return unsafeEntry(name, "FIFO; only regular files, directories and symlinks are allowed")
	default:
		return unsafeEntry(name, "unsupported entry type %q; only regular files, directories and symlinks are allowed", hdr.Typeflag)
	}
	if name == "" {
		return unsafeEntry(name, "empty name")
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Size != 0 {
		return unsafeEntry(name, "a %s entry carrying %d bytes of data", map[byte]string{tar.TypeDir: "directory", tar.TypeSymlink: "symlink"}[hdr.Typeflag], hdr.Size)
	}
	if strings.HasPrefix(name, "/") {
		return unsafeEntry(name, "absolute name; entries must be relative to / (e.g. opt/fesa/...): repack with fec-pack")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return unsafeEntry(name, "name contains \"..\"")
		}
	}
	if hdr.Typeflag != tar.TypeDir && strings.HasSuffix(name, "/") {
		return unsafeEntry(name, "non-directory entry with a trailing slash")
	}
	clean := path.Clean(name)
	if clean != "." && !filepath.IsLocal(clean) {
		return unsafeEntry(name, "not a local path")
	}
	if prev, dup := x.seen[clean]; dup {
		if !(prev == kImplicitDir && hdr.Typeflag == tar.TypeDir) {
			return unsafeEntry(name, "appears twice in the archive (as %q after cleaning)", clean)
		}
	}

	// Directories at or above an allowed root ("opt/" for "opt") are no-ops.
	for _, a := range x.allowed {
		if clean == "." || within(a, clean) {
			if hdr.Typeflag != tar.TypeDir {
				return unsafeEntry(name, "is not a directory, but %q is an allowed root (or its parent)", clean)
			}
			x.seen[clean] = kAncestor
			return nil
		}
	}
	a := ""
	for _, r := range x.allowed {
		if within(clean, r) {
			a = r
			break
		}
	}
	if a == "" {
		return unsafeEntry(name, "lies outside the allowed roots %v; this FEC installs only below those (check the pack prefix or the FEC's allowed roots)", x.allowed)
	}
	ar, err := x.area(a)
	if err != nil {
		return err
	}
	rel := clean[len(a)+1:]

	// Parents: never through an earlier symlink or file; create missing
	// ones in staging.
	x.s.explicit = append(x.s.explicit, clean)
	if hdr.Typeflag == tar.TypeReg && hdr.ModTime.After(x.s.newest) {
		x.s.newest = hdr.ModTime
	}
	comps := strings.Split(rel, "/")
	for i := 1; i < len(comps); i++ {
		anc := a + "/" + strings.Join(comps[:i], "/")
		switch x.seen[anc] {
		case kFile, kLink:
			return unsafeEntry(name, "would be written through the earlier non-directory entry %q", anc)
		case 0:
			if err := ar.st.Mkdir(strings.Join(comps[:i], "/"), 0o700); err != nil {
				return fmt.Errorf("archive: staging %s: %w", anc, err)
			}
			x.seen[anc] = kImplicitDir
			d := &stagedDir{name: anc, mode: 0o755}
			x.dirIdx[anc] = d
			x.s.dirs = append(x.s.dirs, d)
		}
	}
	if prev := x.seen[clean]; prev == kImplicitDir {
		// An explicit entry for a directory created for earlier entries.
		x.dirIdx[clean].mode = fs.FileMode(hdr.Mode) & fs.ModePerm
		x.seen[clean] = kDir
		x.s.res.Dirs++
		return nil
	}

	mode := fs.FileMode(hdr.Mode) & fs.ModePerm // strips setuid, setgid, sticky
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := ar.st.Mkdir(rel, 0o700); err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, err)
		}
		x.seen[clean] = kDir
		x.s.dirs = append(x.s.dirs, &stagedDir{name: clean, mode: mode})
		x.s.res.Dirs++
	case tar.TypeSymlink:
		t := hdr.Linkname
		if t == "" {
			return unsafeEntry(name, "symlink with an empty target")
		}
		if strings.HasPrefix(t, "/") {
			return unsafeEntry(name, "symlink to the absolute path %q; use a relative target inside %s", t, a)
		}
		if err := os.Symlink(t, filepath.Join(ar.stPath, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("archive: staging %s: %w", clean, err)
		}
		x.seen[clean] = kLink
		x.links[clean] = t
		x.order = append(x.order, clean)
		x.s.items = append(x.s.items, stagedItem{name: clean, a: ar, rel: rel})
		x.s.res.Symlinks++
	case tar.TypeReg:
		if err := x.file(tr, hdr, ar, clean, rel, mode); err != nil {
			return err
		}
		x.seen[clean] = kFile
		x.s.items = append(x.s.items, stagedItem{name: clean, a: ar, rel: rel})
		x.s.res.Files++
	}
	return nil
}

func (x *extractor) tooLarge(name string) error {
	return fmt.Errorf("%w: more than %d bytes of file content (at %q); raise MaxBytes if the archive is right", ErrTooLarge, x.opts.MaxBytes, name)
}

func (x *extractor) file(tr *tar.Reader, hdr *tar.Header, ar *area, clean, rel string, mode fs.FileMode) error {
	if hdr.Size < 0 || hdr.Size > x.opts.MaxBytes-x.bytes {
		return x.tooLarge(hdr.Name)
	}
	d, err := ar.dir(path.Dir(rel))
	if err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, err)
	}
	f, err := d.OpenFile(path.Base(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, err)
	}
	defer f.Close()
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, rerr := tr.Read(x.buf)
		if n > 0 {
			// Count what is actually written, not what the header says.
			x.bytes += int64(n)
			if x.bytes > x.opts.MaxBytes {
				return x.tooLarge(hdr.Name)
			}
			if _, err := f.Write(x.buf[:n]); err != nil {
				return fmt.Errorf("archive: staging %s: %w", clean, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return x.corrupt(fmt.Errorf("entry %q: %w", hdr.Name, rerr))
		}
	}
	x.s.res.Bytes = x.bytes
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("archive: staging %s: %w", clean, err)
	}
	return nil
}

// area returns the staging area of an allowed root, creating the allowed
// root (if missing) and a fresh staging directory inside it.
func (x *extractor) area(a string) (*area, error) {
	if ar := x.areas[a]; ar != nil {
		return ar, nil
	}
	if x.areas == nil {
		x.areas = map[string]*area{}
	}
	ar := &area{allowed: a}
	x.s.areas = append(x.s.areas, ar) // so that discard cleans up partial work
	x.areas[a] = ar
	comps := strings.Split(a, "/")
	for i := 1; i <= len(comps); i++ {
		d := strings.Join(comps[:i], "/")
		err := x.s.root.Mkdir(d, 0o755)
		if err == nil {
			ar.created = append(ar.created, d)
			continue
		}
		fi, serr := x.s.root.Stat(d)
		if serr != nil || !fi.IsDir() {
			return nil, fmt.Errorf("archive: allowed root %s: cannot use %s as a directory: %w", a, d, err)
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	ar.stRel = a + "/" + StagingPrefix + hex.EncodeToString(rnd[:])
	if err := x.s.root.Mkdir(ar.stRel, 0o700); err != nil {
		return nil, fmt.Errorf("archive: creating the staging directory: %w", err)
	}
	ar.stPath = filepath.Join(x.s.rootPath, filepath.FromSlash(ar.stRel))
	st, err := x.s.root.OpenRoot(ar.stRel)
	if err != nil {
		os.Remove(ar.stPath)
		return nil, fmt.Errorf("archive: opening the staging directory: %w", err)
	}
	ar.st = st
	return ar, nil
}

// checkLinks resolves every symlink entry against the archive (whatever the
// entry order) and the destination, and refuses those leaving their
// allowed root.
func (x *extractor) checkLinks() error {
	lookup := func(p string) (string, bool, error) {
		if k, ok := x.seen[p]; ok {
			if k == kLink {
				return x.links[p], true, nil
			}
			return "", false, nil
		}
		fi, err := x.s.root.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return "", false, nil
		}
		t, err := os.Readlink(filepath.Join(x.s.rootPath, filepath.FromSlash(p)))
		if err != nil {
			return "", false, fmt.Errorf("archive: reading the symlink %s: %w", p, err)
		}
		return t, true, nil
	}
	for _, name := range x.order {
		var a string
		for _, r := range x.allowed {
			if within(name, r) {
				a = r
			}
		}
		err := resolveInside(splitPath(a), splitPath(path.Dir(name)), x.links[name], lookup)
		switch {
		case err == nil:
		case errors.Is(err, errLinkEscapes), errors.Is(err, errLinkAbs):
			return unsafeEntry(name, "symlink to %q resolves outside %s; use a relative target inside it", x.links[name], a)
		case errors.Is(err, errLinkLoop):
			return unsafeEntry(name, "symlink to %q: %v", x.links[name], err)
		default:
			return err
		}
	}
	return nil
}

// Commit moves every staged file and symlink into place, one rename each
// (atomic per file), creating missing directories and keeping existing
// ones; existing files and symlinks are replaced. Before anything moves it
// checks the whole plan: a non-directory where a directory must go, or a
// directory where a file must go, fails the commit with nothing changed.
// The staging directories are removed in every case.
func (s *Staged) Commit() (Result, error) {
	if s.finished {
		return Result{}, errors.New("archive: Commit after Commit or Discard")
	}
	defer s.discard()
	// Plan.
	create := map[string]bool{}
	for _, d := range s.dirs {
		if create[path.Dir(d.name)] {
			create[d.name] = true
			continue
		}
		fi, err := s.root.Lstat(d.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			create[d.name] = true
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case !fi.IsDir():
			return Result{}, fmt.Errorf("archive: commit: %s exists as a %s where the archive has a directory; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, d.name), fileKind(fi.Mode()), fs.ErrExist)
		}
	}
	for _, it := range s.items {
		if create[path.Dir(it.name)] {
			continue
		}
		fi, err := s.root.Lstat(it.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case fi.IsDir():
			return Result{}, fmt.Errorf("archive: commit: %s is a directory where the archive has a file or symlink; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, it.name), fs.ErrExist)
		}
	}
	// Execute. From here on the allowed roots stay.
	for _, ar := range s.areas {
		ar.created = nil
	}
	var made []*stagedDir
	for _, d := range s.dirs {
		if !create[d.name] {
			continue
		}
		if err := s.root.Mkdir(d.name, 0o700); err != nil {
			if fi, serr := s.root.Lstat(d.name); serr != nil || !fi.IsDir() {
				return Result{}, fmt.Errorf("archive: commit: %w", err)
			}
			continue // created concurrently: keep it as it is
		}
		made = append(made, d)
	}
	for _, it := range s.items {
		from := filepath.Join(it.a.stPath, filepath.FromSlash(it.rel))
		to := filepath.Join(s.rootPath, filepath.FromSlash(it.name))
		// syscall.Rename, not os.Rename: os.Rename stats the target first,
		// which the plan above already did.
		if err := syscall.Rename(from, to); err != nil {
			return Result{}, fmt.Errorf("archive: commit (partially done): %w", &os.LinkError{Op: "rename", Old: from, New: to, Err: err})
		}
	}
	for i := len(made) - 1; i >= 0; i-- {
		d := made[i]
		f, err := s.root.Open(d.name)
		if err == nil {
			err = f.Chmod(d.mode)
			f.Close()
		}
		if err != nil {
			return Result{}, fmt.Errorf("archive: commit: setting the mode of %s: %w", d.name, err)
		}
	}
	return s.res, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return typeName(m)
}

// Discard removes the staging directories (and allowed-root directories
// Stage created) without touching anything else.
func (s *Staged) Discard() error {
	if s.finished {
		return nil
	}
	return s.discard()
}

func (s *Staged) discard() error {
	if s.finished {
		return nil
	}
	s.finished = true
	var first error
	for _, ar := range s.areas {
		ar.closeDir()
		if ar.st != nil {
			ar.st.Close()
		}
		if ar.stPath != "" {
			if err := os.RemoveAll(ar.stPath); err != nil && first == nil {
				first = fmt.Errorf("archive: removing the staging directory: %w", err)
			}
		}
		for i := len(ar.created) - 1; i >= 0; i-- {
			s.root.Remove(ar.created[i]) // only if still empty
		}
	}
	s.root.Close()
	return first
}
