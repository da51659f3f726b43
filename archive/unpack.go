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
	"strconv"
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
// inside each allowed root: .fecdeploy-staging-<pid>-<random>, where pid is
// the process that stages (both boot clients name them so).
// RemoveLeftovers removes those of processes that no longer run.
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
	ar.stRel = a + "/" + StagingPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
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

// Commit moves the staged archive into place. A directory of the archive
// that does not exist yet (a new version directory, with everything below
// it) moves with one rename of the whole staged tree, its modes already
// final: a reader sees all of it or none of it, and a kill leaves either
// nothing or the whole directory. Files and symlinks that go into existing
// directories move one rename each (atomic per file) and replace what is
// there; existing directories keep their modes. Before anything moves it
// checks the whole plan: a non-directory where a directory must go, or a
// directory where a file must go, fails the commit with nothing changed.
// The staging directories are removed in every case.
func (s *Staged) Commit() (Result, error) {
	return s.commit("")
}

// CommitReplacing is Commit, but replaces the directory dir (relative to the
// root, e.g. opt/fesa/Foo/dev) as a whole when it exists: every entry of the
// archive must lie in dir or be one of its parent directories, and the
// staged dir takes the place of the old one in one step (renameat2
// RENAME_EXCHANGE where the kernel has it, else two renames with dir absent
// for that moment); the old tree is removed with the staging directory.
// Files of the old tree that the archive does not have are gone. When dir
// does not exist it is Commit.
func (s *Staged) CommitReplacing(dir string) (Result, error) {
	return s.commit(path.Clean(dir))
}

// Prefix returns the archive's own directory below its allowed root: the
// deepest directory such that every entry is that directory, inside it, or
// one of its parent directories (opt/fesa/Foo/1.2.0 for a packed version
// tree). "" when that is an allowed root itself or above.
func (s *Staged) Prefix() string {
	cand, set := "", false
	shrink := func(n string) {
		if !set {
			cand, set = n, true
			return
		}
		for !within(n, cand) {
			cand = path.Dir(cand)
		}
	}
	for _, it := range s.items {
		shrink(path.Dir(it.name))
	}
	for _, d := range s.dirs {
		if set && within(cand, d.name) {
			continue // cand's parent (or cand)
		}
		shrink(d.name)
	}
	if !set {
		return ""
	}
	for _, ar := range s.areas {
		if within(cand, ar.allowed) && cand != ar.allowed {
			return cand
		}
	}
	return ""
}

func (s *Staged) commit(replace string) (Result, error) {
	if s.finished {
		return Result{}, errors.New("archive: Commit after Commit or Discard")
	}
	defer s.discard()
	if replace != "" && replace != "." {
		fi, err := s.root.Lstat(replace)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			replace = ""
		case err != nil:
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		case !fi.IsDir():
			return Result{}, fmt.Errorf("archive: commit: %s exists as a %s where the archive has a directory; nothing was changed (remove it if the archive is right): %w",
				filepath.Join(s.rootPath, replace), fileKind(fi.Mode()), fs.ErrExist)
		default:
			return s.replaceDir(replace)
		}
	}
	// Plan.
	create := map[string]bool{}
	var tops []*stagedDir // created directories whose parent exists: one rename each
	for _, d := range s.dirs {
		if create[path.Dir(d.name)] {
			create[d.name] = true
			continue
		}
		fi, err := s.root.Lstat(d.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			create[d.name] = true
			tops = append(tops, d)
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
	// Final modes inside the staged trees first (children before parents),
	// so that what appears has them from its first instant.
	if err := s.stageModes(func(d *stagedDir) bool { return create[d.name] }); err != nil {
		return Result{}, err
	}
	// Execute. From here on the allowed roots stay.
	for _, ar := range s.areas {
		ar.created = nil
	}
	for _, d := range tops {
		if err := s.moveDir(d, d.name); err != nil {
			return Result{}, err
		}
	}
	for _, it := range s.items {
		if create[path.Dir(it.name)] {
			continue // moved with its directory
		}
		from := filepath.Join(it.a.stPath, filepath.FromSlash(it.rel))
		to := filepath.Join(s.rootPath, filepath.FromSlash(it.name))
		// syscall.Rename, not os.Rename: os.Rename stats the target first,
		// which the plan above already did.
		if err := syscall.Rename(from, to); err != nil {
			return Result{}, fmt.Errorf("archive: commit (partially done): %w", &os.LinkError{Op: "rename", Old: from, New: to, Err: err})
		}
	}
	return s.res, nil
}

// stageModes gives the staged directories selected by sel their final mode,
// deepest first. A directory keeps owner write while it still has to be
// renamed to another parent (Linux needs it to update ".."): moveDir
// removes it afterwards.
func (s *Staged) stageModes(sel func(*stagedDir) bool) error {
	for i := len(s.dirs) - 1; i >= 0; i-- {
		d := s.dirs[i]
		if !sel(d) {
			continue
		}
		p, err := s.stagedPath(d.name)
		if err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode|0o200); err != nil {
			return fmt.Errorf("archive: commit: setting the mode of %s: %w", d.name, err)
		}
		if d.mode&0o200 == 0 {
			// Children are in place: the parent can lose write now, except
			// a directory about to be renamed (moveDir's job).
			if err := os.Chmod(p, d.mode); err != nil {
				return fmt.Errorf("archive: commit: setting the mode of %s: %w", d.name, err)
			}
		}
	}
	return nil
}

// stagedPath returns the staging location of name (relative to the root).
func (s *Staged) stagedPath(name string) (string, error) {
	for _, ar := range s.areas {
		if within(name, ar.allowed) && name != ar.allowed && ar.stPath != "" {
			return filepath.Join(ar.stPath, filepath.FromSlash(name[len(ar.allowed)+1:])), nil
		}
	}
	return "", fmt.Errorf("archive: commit: %s has no staging area", name)
}

// moveDir renames the staged directory d to to (relative to the root) in
// one step. Its mode gets owner write for the rename when it lacks it, and
// loses it right after.
func (s *Staged) moveDir(d *stagedDir, to string) error {
	from, err := s.stagedPath(d.name)
	if err != nil {
		return err
	}
	if d.mode&0o200 == 0 {
		if err := os.Chmod(from, d.mode|0o200); err != nil {
			return fmt.Errorf("archive: commit: %w", err)
		}
	}
	dst := filepath.Join(s.rootPath, filepath.FromSlash(to))
	if err := syscall.Rename(from, dst); err != nil {
		return fmt.Errorf("archive: commit (partially done): %w", &os.LinkError{Op: "rename", Old: from, New: dst, Err: err})
	}
	if d.mode&0o200 == 0 {
		if err := os.Chmod(dst, d.mode); err != nil {
			return fmt.Errorf("archive: commit: setting the mode of %s: %w", to, err)
		}
	}
	return nil
}

// replaceDir swaps the staged copy of dir with the existing one.
func (s *Staged) replaceDir(dir string) (Result, error) {
	var sd *stagedDir
	for _, d := range s.dirs {
		if d.name == dir {
			sd = d
		}
	}
	if sd == nil {
		return Result{}, fmt.Errorf("archive: commit: the archive has no directory %s to replace it with; nothing was changed", dir)
	}
	for _, it := range s.items {
		if !within(it.name, dir) {
			return Result{}, fmt.Errorf("archive: commit: %s lies outside %s, which the archive was to replace as a whole; nothing was changed", it.name, dir)
		}
	}
	for _, d := range s.dirs {
		if !within(d.name, dir) && !within(dir, d.name) {
			return Result{}, fmt.Errorf("archive: commit: %s lies outside %s, which the archive was to replace as a whole; nothing was changed", d.name, dir)
		}
	}
	if err := s.stageModes(func(d *stagedDir) bool { return within(d.name, dir) }); err != nil {
		return Result{}, err
	}
	for _, ar := range s.areas {
		ar.created = nil
	}
	from, err := s.stagedPath(dir)
	if err != nil {
		return Result{}, err
	}
	dst := filepath.Join(s.rootPath, filepath.FromSlash(dir))
	if sd.mode&0o200 == 0 {
		if err := os.Chmod(from, sd.mode|0o200); err != nil {
			return Result{}, fmt.Errorf("archive: commit: %w", err)
		}
	}
	// The old directory ends up in staging (where discard removes it); it
	// may lack owner write, which moving it needs.
	old, err := s.root.Open(dir)
	if err == nil {
		if fi, serr := old.Stat(); serr == nil && fi.Mode()&0o200 == 0 {
			old.Chmod(fi.Mode().Perm() | 0o200)
		}
		old.Close()
	}
	if err := exchange(from, dst); err != nil {
		// No RENAME_EXCHANGE: move the old one aside, the new one in.
		aside := from + ".old"
		if err := syscall.Rename(dst, aside); err != nil {
			return Result{}, fmt.Errorf("archive: commit: moving the old %s aside: %w", dir, err)
		}
		if err := syscall.Rename(from, dst); err != nil {
			syscall.Rename(aside, dst)
			return Result{}, fmt.Errorf("archive: commit: %w", &os.LinkError{Op: "rename", Old: from, New: dst, Err: err})
		}
	}
	if sd.mode&0o200 == 0 {
		if err := os.Chmod(dst, sd.mode); err != nil {
			return Result{}, fmt.Errorf("archive: commit: setting the mode of %s: %w", dir, err)
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
			if err := RemoveTree(ar.stPath); err != nil && first == nil {
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

// RemoveTree removes a directory tree like os.RemoveAll, also when some of
// its directories lack owner write or search permission (a replaced
// version directory with mode 0555, a staging tree whose modes were already
// final): those get 0700 first.
func RemoveTree(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		if err != nil && d != nil && d.IsDir() {
			os.Chmod(q, 0o700)
			return nil
		}
		return nil
	})
	return os.RemoveAll(p)
}
